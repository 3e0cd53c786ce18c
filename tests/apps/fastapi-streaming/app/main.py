import asyncio
import json
import os
import sys
import time

from fastapi import FastAPI
from fastapi.responses import StreamingResponse

app = FastAPI()


@app.get("/healthz")
async def healthz():
    return {"ok": True}


@app.get("/where")
async def where(request_context: str | None = None):
    import boto3  # from LAMBDA_RUNTIME_DIR, which run.sh put back on PYTHONPATH

    return {
        "cwd": os.getcwd(),
        "python": list(sys.version_info[:2]),
        "executable": sys.executable,
        "boto3": boto3.__file__,
        "task_root": os.environ["LAMBDA_TASK_ROOT"],
        "runtime_dir": os.environ["LAMBDA_RUNTIME_DIR"],
    }


async def events(count: int, gap_s: float):
    for i in range(count):
        yield f"data: {json.dumps({'n': i, 'generated_at': time.time()})}\n\n"
        await asyncio.sleep(gap_s)


@app.get("/stream")
async def stream(count: int = 5, gap: float = 0.4):
    return StreamingResponse(events(count, gap), media_type="text/event-stream")
