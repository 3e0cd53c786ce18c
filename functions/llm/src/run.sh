#!/bin/bash
# The Web Adapter's handler: the FastAPI app (web.py) on $PORT. LAMBDA_RUNTIME_DIR holds
# boto3, as the managed runtime's path does for app.handler.
PYTHONPATH=$PYTHONPATH:$LAMBDA_RUNTIME_DIR exec python -m uvicorn --port="$PORT" web:web
