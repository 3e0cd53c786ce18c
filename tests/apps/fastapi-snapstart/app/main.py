import asyncio
import os
import random
import time

from fastapi import FastAPI
from snapshot_restore_py import register_after_restore, register_before_snapshot

INIT_PID = os.getpid()
started = time.monotonic()
time.sleep(float(os.environ.get("INIT_SLEEP", "1.5")))  # loading a model
MODEL = {"weights": random.random(), "loaded_in_s": time.monotonic() - started}
HOOKS = []


@register_before_snapshot
def before():
    HOOKS.append("before")


@register_after_restore
def after():
    HOOKS.append("after")
    random.seed()  # each restored environment draws its own numbers


app = FastAPI()


@app.get("/healthz")
async def healthz():
    return {"ok": True}


def _cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().decode(errors="replace")


def _children():
    with open(f"/proc/{os.getpid()}/task/{os.getpid()}/children") as f:
        return [int(pid) for pid in f.read().split()]


@app.get("/whoami")
async def whoami(sleep: float = 0.0):
    await asyncio.sleep(sleep)
    return {
        "pid": os.getpid(),
        "init_pid": INIT_PID,
        "weights": MODEL["weights"],
        "draw": random.random(),
        "hooks": HOOKS,
        "type": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"),
        "cmdline": _cmdline(os.getpid()),
        "children": [_cmdline(pid) for pid in _children()],  # its adapter
    }
