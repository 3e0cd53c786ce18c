"""A Lambda runtime for Python handlers that stream their response. Standard library only.

AWS's Python runtime (awslambdaric) cannot stream a response. This module is a small runtime
that speaks the Lambda Runtime API itself, including its streaming mode
(`Lambda-Runtime-Function-Response-Mode: streaming`, a chunked body, errors as trailers), and
runs ordinary handlers unchanged. A handler streams by returning a generator (or any iterator)
of `bytes`/`str` chunks; it may yield first a dict `{"statusCode": ..., "headers": {...}}` to set
the HTTP status and headers of a function URL (Lambda's HTTP-integration prelude). Any other
return value is answered as the usual JSON response.

It is switched on by Lambda's own mechanism, so the same bundle streams locally and on AWS:
the bundle holds this file and `lambda-stream-wrapper`, and the function sets
`AWS_LAMBDA_EXEC_WRAPPER=/var/task/lambda-stream-wrapper` (the sandbox does both for functions
whose FunctionUrlConfig has `InvokeMode: RESPONSE_STREAM`).
"""

from __future__ import annotations

import base64
import http.client
import importlib
import json
import os
import sys
import time
import traceback
from collections.abc import Iterator
from typing import Any

PRELUDE_CONTENT_TYPE = "application/vnd.awslambda.http-integration-response"
API = "/2018-06-01/runtime"


class Context:
    """The parts of Lambda's context object handlers use."""

    def __init__(self, headers: http.client.HTTPMessage) -> None:
        self.aws_request_id = headers.get("Lambda-Runtime-Aws-Request-Id", "")
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn", "")
        self._deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms", "0"))
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.client_context = None
        self.identity = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _error_body(exc: BaseException) -> dict[str, Any]:
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def _post(
    conn: http.client.HTTPConnection, path: str, body: bytes, headers: dict[str, str]
) -> None:
    conn.request("POST", path, body, {"Content-Type": "application/json", **headers})
    conn.getresponse().read()


def _chunks(first: Any, rest: Iterator[Any]) -> Iterator[bytes]:
    for item in (first, *()) if first is not None else ():
        yield item if isinstance(item, bytes) else str(item).encode()
    for item in rest:
        yield item if isinstance(item, bytes) else str(item).encode()


def _stream(conn: http.client.HTTPConnection, request_id: str, result: Iterator[Any]) -> None:
    iterator = iter(result)
    first = next(iterator, None)
    content_type = "application/octet-stream"
    prelude = b""
    if isinstance(first, dict):
        content_type = PRELUDE_CONTENT_TYPE
        prelude = json.dumps(first).encode() + b"\0" * 8
        first = None
    conn.putrequest("POST", f"{API}/invocation/{request_id}/response")
    conn.putheader("Lambda-Runtime-Function-Response-Mode", "streaming")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.putheader("Content-Type", content_type)
    conn.putheader(
        "Trailer", "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body"
    )
    conn.endheaders()
    sock = conn.sock
    assert sock is not None

    def send(data: bytes) -> None:
        if data:
            sock.sendall(b"%x\r\n%s\r\n" % (len(data), data))

    send(prelude)
    try:
        for chunk in _chunks(first, iterator):
            send(chunk)
    except Exception as exc:  # the handler failed mid-stream: report it in the trailers
        body = base64.b64encode(json.dumps(_error_body(exc)).encode()).decode()
        sock.sendall(
            b"0\r\nLambda-Runtime-Function-Error-Type: %s\r\n"
            b"Lambda-Runtime-Function-Error-Body: %s\r\n\r\n"
            % (type(exc).__name__.encode(), body.encode())
        )
        print(f"[ERROR] {type(exc).__name__}: {exc}", flush=True)
    else:
        sock.sendall(b"0\r\n\r\n")
    conn.getresponse().read()


def _hooks() -> tuple[list[Any], list[Any]]:
    try:
        from snapshot_restore_py import (  # type: ignore[import-untyped]
            get_after_restore,
            get_before_snapshot,
        )
    except ImportError:  # no hooks registered without the package
        return [], []
    return get_before_snapshot(), get_after_restore()


def _snap_start(conn: http.client.HTTPConnection) -> None:
    """SnapStart, as awslambdaric does it: the before-snapshot hooks (in reverse order of
    registration), `restore/next` (in the sandbox: its snapshot template), the after-restore
    hooks; a failing hook is reported as Runtime.BeforeSnapshotError / AfterRestoreError."""
    before, after = _hooks()
    sandbox = "_SANDBOX_SNAPSHOT_FD" in os.environ
    try:
        while before:
            func, args, kwargs = before.pop()
            func(*args, **kwargs)
        if sandbox:
            import _sandbox_snapshot  # type: ignore[import-not-found]  # in /var/runtime

            _sandbox_snapshot.serve()
        else:
            conn.request("GET", f"{API}/restore/next")
            conn.getresponse().read()
    except Exception as exc:
        _hook_failed(conn, "init/error", "Runtime.BeforeSnapshotError", exc, 64)
    try:
        for func, args, kwargs in after:
            func(*args, **kwargs)
    except Exception as exc:
        _hook_failed(conn, "restore/error", "Runtime.AfterRestoreError", exc, 65)
    if sandbox:
        _sandbox_snapshot.report()


def _hook_failed(
    conn: http.client.HTTPConnection, path: str, error_type: str, exc: Exception, code: int
) -> None:
    failure = {**_error_body(exc), "errorType": error_type}
    print(f"[ERROR] {error_type}: {failure['errorMessage']}", flush=True)
    _post(conn, f"{API}/{path}", json.dumps(failure).encode(),
          {"Lambda-Runtime-Function-Error-Type": error_type})  # fmt: skip
    sys.exit(code)


def main() -> None:
    for stream in (sys.stdout, sys.stderr):  # a line is in the log when printed, as with
        if hasattr(stream, "reconfigure"):  # awslambdaric (its Unbuffered stdout)
            stream.reconfigure(line_buffering=True)
    api = os.environ["AWS_LAMBDA_RUNTIME_API"]
    handler_name = os.environ.get("_HANDLER") or sys.argv[-1]
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    opt = os.environ.pop("_SANDBOX_OPT_DIR", "/opt")  # the sandbox's, where /opt is elsewhere
    version = "python{}.{}".format(*sys.version_info[:2])
    front = [task_root, f"{opt}/python/lib/{version}/site-packages", f"{opt}/python"]
    sys.path[:] = front + [p for p in sys.path if p not in front]  # Lambda's order
    conn = http.client.HTTPConnection(api)
    try:
        module_name, function_name = handler_name.rsplit(".", 1)
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as exc:
        # the function-side runtime imports nothing of the sandbox: these are
        # lambda_sandbox.exceptions.FunctionErrorType's IMPORT_MODULE and HANDLER_NOT_FOUND
        error_type = (
            "Runtime.ImportModuleError"
            if isinstance(exc, ImportError)
            else (
                "Runtime.HandlerNotFound" if isinstance(exc, AttributeError) else type(exc).__name__
            )
        )
        failure = {**_error_body(exc), "errorType": error_type}
        _post(
            conn,
            f"{API}/init/error",
            json.dumps(failure).encode(),
            {"Lambda-Runtime-Function-Error-Type": error_type},
        )
        sys.exit(1)
    if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":
        _snap_start(conn)
    while True:
        conn.request("GET", f"{API}/invocation/next")
        resp = conn.getresponse()
        event = json.loads(resp.read() or b"null")
        context = Context(resp.headers)
        request_id = context.aws_request_id
        try:
            result = handler(event, context)
            if (
                result is not None
                and not isinstance(result, (dict, list, str, bytes, int, float, bool))
                and hasattr(result, "__iter__")
            ):
                _stream(conn, request_id, result)
                continue
            body = json.dumps(result).encode()
        except Exception as exc:
            failure = _error_body(exc)
            print(f"[ERROR] {failure['errorType']}: {failure['errorMessage']}", flush=True)
            _post(
                conn,
                f"{API}/invocation/{request_id}/error",
                json.dumps(failure).encode(),
                {"Lambda-Runtime-Function-Error-Type": failure["errorType"]},
            )
            continue
        _post(conn, f"{API}/invocation/{request_id}/response", body, {})


if __name__ == "__main__":
    main()
