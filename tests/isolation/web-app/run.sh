#!/bin/sh
exec python "$LAMBDA_TASK_ROOT/app.py"
