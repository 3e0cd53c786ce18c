"""A probe handler for the sandbox's own tests: each event asks for one behaviour."""

import os
import time

if float(os.environ.get("INIT_SLEEP", "0")) > 0:
    time.sleep(float(os.environ["INIT_SLEEP"]))

if os.environ.get("INIT_FAIL"):
    raise RuntimeError("init failed on purpose")

_KEEP = []


def _burn(iterations: int) -> int:
    total = 0
    for i in range(iterations):
        total += i * i % 7
    return total


def handler(event, context):
    action = event.get("action", "echo")
    if action == "echo":
        return {"event": event, "pid": os.getpid(), "uid": os.getuid()}
    if action == "alloc":
        block = b"x" * (int(event["mb"]) << 20)  # touches every page: charged to the cgroup
        _KEEP.append(block)
        held = sum(len(b) for b in _KEEP) >> 20
        _KEEP.clear()
        return {"allocated_mb": held}
    if action == "burn":
        t0 = time.perf_counter()
        _burn(int(event["iterations"]))
        return {"seconds": time.perf_counter() - t0}
    if action == "sleep":
        time.sleep(float(event["seconds"]))
        return {"slept": event["seconds"]}
    if action == "write_tmp":
        path = os.path.join("/tmp", event.get("name", "blob"))
        chunk = b"\0" * (1 << 20)
        written = 0
        try:
            with open(path, "wb") as f:
                for _ in range(int(event["mb"])):
                    f.write(chunk)
                    written += 1
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            os.remove(path)
            return {"error": type(exc).__name__, "errno": exc.errno, "written_mb": written}
        os.remove(path) if event.get("remove", True) else None
        return {"written_mb": written}
    if action == "touch":
        with open("/tmp/" + event["name"], "w") as f:
            f.write(event.get("content", "x"))
        return {"touched": event["name"]}
    if action == "exists":
        return {"exists": os.path.exists("/tmp/" + event["name"])}
    if action == "big_response":
        return "x" * int(event["bytes"])
    if action == "raise":
        raise ValueError(event.get("message", "bad value"))
    if action == "exit":
        os._exit(int(event.get("code", 3)))
    if action == "getenv":
        return {event["name"]: os.environ.get(event["name"])}
    if action == "context":
        return {
            "aws_request_id": context.aws_request_id,
            "function_name": context.function_name,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "invoked_function_arn": context.invoked_function_arn,
            "client_context": None
            if context.client_context is None
            else {
                "custom": context.client_context.custom,
                "env": context.client_context.env,
                "client": None
                if context.client_context.client is None
                else context.client_context.client.app_title,
            },
        }
    if action == "write_file":
        try:
            with open(event["path"], "w") as f:
                f.write("x")
        except OSError as exc:
            return {"error": type(exc).__name__, "errno": exc.errno}
        return {"written": event["path"]}
    if action == "env":
        return {
            k: v for k, v in os.environ.items() if k.startswith(("AWS_", "LAMBDA_", "_H", "TZ"))
        }
    raise KeyError(f"unknown action {action!r}")
