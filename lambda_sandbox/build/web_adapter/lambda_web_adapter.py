"""A stand-in for the AWS Lambda Web Adapter (LWA), for the cases its users rely on.
Standard library only: it runs on the function's own Python, or the system's.

What it does, as LWA does (its documented settings, AWS_LWA_* and the older names):
- starts the handler script, `$LAMBDA_TASK_ROOT/$_HANDLER` (run.sh), the web app;
- waits for it to be ready: an HTTP GET of AWS_LWA_READINESS_CHECK_PATH (default /) on
  AWS_LWA_READINESS_CHECK_PORT (default the app's port) every 10 ms until the status is a
  healthy one (AWS_LWA_READINESS_CHECK_HEALTHY_STATUS, default 100-499), or a TCP connect when
  AWS_LWA_READINESS_CHECK_PROTOCOL is tcp; the function's INIT lasts until then;
- turns each invoke's API Gateway (REST v1, HTTP v2), function URL or ALB event into an HTTP
  request to the app on AWS_LWA_PORT / PORT (default 8080), the request context in the
  x-amzn-request-context header and the invoke's context in x-amzn-lambda-context, minus
  AWS_LWA_REMOVE_BASE_PATH; any other event is POSTed to AWS_LWA_PASS_THROUGH_PATH (/events);
- answers with the app's response in the event's own format (base64 for binary bodies), or,
  with AWS_LWA_INVOKE_MODE=response_stream, streams it through the Runtime API as it arrives
  (the HTTP-integration prelude, then the body's chunks).
Where the sandbox differs: its environments share the host's network, where Lambda gives each
its own, so an app whose port another environment holds gets a free one in PORT (own_port),
and INIT fails when the port answers from outside the app's process tree (served_by_app).
SnapStart: in a template environment the web app is the snapshot (snapstart/sitecustomize.py
makes its Python one at the bind of its port); in each restored environment that fork starts
an adapter of its own with the app's port in _SANDBOX_APP_PORT, whose app is its parent.
Not done: gzip compression (AWS_LWA_ENABLE_COMPRESSION), async init, Lambda Managed Instances.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from typing import Any, Union

__all__ = ["main"]

API = "/2018-06-01/runtime"
ERROR_TYPE = "Lambda-Runtime-Function-Error-Type"
ERROR_BODY = "Lambda-Runtime-Function-Error-Body"
PRELUDE_TYPE = "application/vnd.awslambda.http-integration-response"
FIXED_PORT_HINT = (
    "an app that listens on a fixed port cannot run beside it: read the port from $PORT (or "
    "AWS_LWA_PORT) instead of a fixed number"
)
SNAPSHOT_FD = "_SANDBOX_SNAPSHOT_FD"  # this environment is a SnapStart template
HOOK_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "snapstart")
TOLD_VARIABLE = "_SANDBOX_SNAPSHOT_TOLD_FD"  # names as in snapstart/sitecustomize.py
ADAPTER_VARIABLE = "_SANDBOX_ADAPTER_ARGV"
APP_PORT_VARIABLE = "_SANDBOX_APP_PORT"
APP_PID_VARIABLE = "_SANDBOX_APP_PID"
TEXT_TYPES = ("text/", "application/json", "application/javascript", "application/xml",
              "application/xhtml+xml", "application/x-javascript", "image/svg+xml",
              "application/ld+json", "application/x-www-form-urlencoded")  # fmt: skip


def setting(name: str, old: str | None, default: str) -> str:
    value = os.environ.get(f"AWS_LWA_{name}")
    if value is None and old is not None:
        value = os.environ.get(old)
    return default if value is None or value == "" else value


def status_codes(spec: str) -> set[int]:
    codes: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        if "-" in part:
            lo, hi = part.split("-", 1)
            codes.update(range(int(lo), int(hi) + 1))
        elif part:
            codes.add(int(part))
    return codes


class Settings:
    def __init__(self) -> None:
        self.port = int(setting("PORT", "PORT", "8080"))
        self.host = setting("HOST", "HOST", "127.0.0.1")
        self.ready_port = int(
            setting("READINESS_CHECK_PORT", "READINESS_CHECK_PORT", str(self.port))
        )
        self.ready_path = setting("READINESS_CHECK_PATH", "READINESS_CHECK_PATH", "/")
        self.ready_protocol = setting(
            "READINESS_CHECK_PROTOCOL", "READINESS_CHECK_PROTOCOL", "http"
        ).lower()
        unhealthy = os.environ.get("AWS_LWA_READINESS_CHECK_MIN_UNHEALTHY_STATUS")
        healthy = f"100-{int(unhealthy) - 1}" if unhealthy else "100-499"
        self.healthy = status_codes(setting("READINESS_CHECK_HEALTHY_STATUS", None, healthy))
        self.stream = setting("INVOKE_MODE", None, "buffered").lower() == "response_stream"
        self.base_path = setting("REMOVE_BASE_PATH", "REMOVE_BASE_PATH", "")
        self.pass_through = setting("PASS_THROUGH_PATH", None, "/events")
        self.taken: int | None = None  # the port another environment held (own_port)


def log(message: str) -> None:
    print(f"[lambda-web-adapter] {message}", file=sys.stderr, flush=True)


def listening(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.5).close()
    except OSError:
        return False
    return True


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def own_port(s: Settings) -> None:
    """Lambda gives every execution environment a network of its own; the sandbox's process
    backend runs them on one host, where a second environment's app could not bind the port
    and its adapter would forward its events to the first one's app (another environment's,
    or another function's). When the port already answers, this environment's app gets a free
    one, in PORT (and AWS_LWA_PORT when that was set), as the app reads it."""
    if not listening(s.host, s.port):
        return
    port = free_port(s.host)
    log(
        f"port {s.port} is in use on this host by another execution environment: this "
        f"environment's app gets PORT={port} (on Lambda each environment has its own network)"
    )
    for key in ("AWS_LWA_PORT", "PORT"):
        if key == "PORT" or key in os.environ:
            os.environ[key] = str(port)
    if s.ready_port == s.port:
        s.ready_port = port
    s.taken, s.port = s.port, port


def _listening_inodes(port: int) -> set[str] | None:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()  # sl local_address rem_address st ... inode (st 0A: LISTEN)
            if (
                len(fields) > 9
                and fields[3] == "0A"
                and int(fields[1].rsplit(":", 1)[1], 16) == port
            ):
                inodes.add(fields[9])
    return inodes or None


def _tree(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            parents[int(name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, ppid in parents.items() if ppid in tree} - tree
        tree |= more
        grew = bool(more)
    return tree


def served_by_app(app: App, port: int) -> bool | None:
    """Whether the socket listening on `port` is the app's (or its children's); None when
    this host does not say (no /proc/net)."""
    inodes = _listening_inodes(port)
    if inodes is None:
        return None
    for pid in _tree(app.pid):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return True
    return False


class RestoredApp:
    """A restored SnapStart environment's app: this adapter's parent, which started it."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and os.getppid() != self.pid:
            self.returncode = 1
        return self.returncode

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)


App = Union["subprocess.Popen[bytes]", RestoredApp]


def restored_app(s: Settings, port: int) -> RestoredApp:
    """In a restored environment: the app (this process's parent) listens on `port`; this
    adapter dies with it (PR_SET_PDEATHSIG)."""
    import ctypes

    pid = int(os.environ.pop(APP_PID_VARIABLE, "") or os.getppid())
    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != pid:
        sys.exit(1)
    if s.ready_port == s.port:
        s.ready_port = port
    s.port = port
    return RestoredApp(pid)


def start_app() -> tuple[subprocess.Popen[bytes], int | None]:
    """The handler script, and in a SnapStart template the pipe on which its app says it has
    become the snapshot."""
    task = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    handler = os.environ.get("_HANDLER", "")
    script = handler if handler.startswith("/") else os.path.join(task, handler)
    env: dict[str, str] | None = None
    told_r: int | None = None
    passed: tuple[int, ...] = ()
    if SNAPSHOT_FD in os.environ:
        told_r, told_w = os.pipe()
        path = [HOOK_DIR, *filter(None, [os.environ.get("PYTHONPATH")])]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(path))
        env[TOLD_VARIABLE] = str(told_w)
        env[ADAPTER_VARIABLE] = json.dumps([sys.executable, "-S", os.path.abspath(__file__)])
        passed = (int(os.environ[SNAPSHOT_FD]), told_w)
    try:
        app = subprocess.Popen([script], cwd=task, env=env, pass_fds=passed)
    except OSError as exc:
        log(f"cannot start the handler {script}: {exc}")
        sys.exit(127)
    for fd in passed:  # the app's now: the sandbox sees the snapshot end when the app does
        os.close(fd)
    return app, told_r


def snapshotted(app: subprocess.Popen[bytes], s: Settings, told: int) -> bool:
    """Whether the app became the snapshot (rather than getting ready by itself)."""
    with os.fdopen(told, "rb", 0) as pipe:
        while app.poll() is None:
            if select.select([pipe], [], [], 0.01)[0]:
                return pipe.read(1) == b"s"
            if listening(s.host, s.ready_port):
                log(
                    "SnapStart: the web app listens without having become the snapshot: the "
                    "sandbox snapshots a Python web app whose PYTHONPATH keeps the adapter's "
                    f"hook ({HOOK_DIR}) first"
                )
                return False
    return False


def wait_ready(app: App, s: Settings) -> None:
    while True:
        if app.poll() is not None:
            log(f"the app exited ({app.returncode}) before it was ready")
            if s.taken is not None:
                log(f"port {s.taken} is held by another execution environment on this host; "
                    f"{FIXED_PORT_HINT}")  # fmt: skip
            sys.exit(app.returncode or 1)
        try:
            if s.ready_protocol == "tcp":
                socket.create_connection((s.host, s.ready_port), timeout=1).close()
                return
            conn = http.client.HTTPConnection(s.host, s.ready_port, timeout=2)
            conn.request("GET", s.ready_path)
            status = conn.getresponse().status  # the headers are enough: the body may stream
            conn.close()
            if status in s.healthy:
                return
        except OSError:
            pass
        time.sleep(0.01)


def request_of(event: Any, s: Settings) -> tuple[str, str, list[tuple[str, str]], bytes, bool]:
    """(method, path with query, headers, body, is an HTTP event) for the app."""
    if not isinstance(event, dict) or not (
        "httpMethod" in event or (event.get("requestContext") or {}).get("http")
    ):
        return (
            "POST",
            s.pass_through,
            [("content-type", "application/json")],
            json.dumps(event).encode(),
            False,
        )
    context = event.get("requestContext") or {}
    headers: list[tuple[str, str]] = []
    if "httpMethod" in event:  # REST API (v1) or ALB
        method = event["httpMethod"]
        path = event.get("path") or "/"
        multi = event.get("multiValueQueryStringParameters")
        if multi:
            query = urllib.parse.urlencode([(k, v) for k, vs in multi.items() for v in vs or []])
        else:
            query = urllib.parse.urlencode(event.get("queryStringParameters") or {})
        multi_headers = event.get("multiValueHeaders")
        if multi_headers:
            headers = [(k, v) for k, vs in multi_headers.items() for v in vs or []]
        else:
            headers = list((event.get("headers") or {}).items())
    else:  # HTTP API (v2) and function URLs
        method = context["http"]["method"]
        path = event.get("rawPath") or "/"
        query = event.get("rawQueryString") or ""
        headers = list((event.get("headers") or {}).items())
        if event.get("cookies"):
            headers.append(("cookie", "; ".join(event["cookies"])))
    if s.base_path and path.startswith(s.base_path):
        path = path[len(s.base_path) :] or "/"
    body = event.get("body") or ""
    data = base64.b64decode(body) if event.get("isBase64Encoded") else str(body).encode()
    headers = [(k, v) for k, v in headers if k.lower() not in ("content-length", "host")]
    headers.append(("x-amzn-request-context", json.dumps(context)))
    return method, path + ("?" + query if query else ""), headers, data, True


def is_text(headers: http.client.HTTPMessage) -> bool:
    if headers.get("content-encoding"):
        return False
    kind = (headers.get("content-type") or "").lower()
    return not kind or kind.startswith(TEXT_TYPES) or "charset=" in kind


def buffered_answer(event: Any, resp: http.client.HTTPResponse, http_event: bool) -> Any:
    data = resp.read()
    if not http_event:
        try:
            return json.loads(data)
        except ValueError:
            return data.decode("utf-8", "replace")
    text = is_text(resp.headers)
    body = data.decode("utf-8", "replace") if text else base64.b64encode(data).decode()
    answer: dict[str, Any] = {"statusCode": resp.status, "body": body, "isBase64Encoded": not text}
    pairs = [(k.lower(), v) for k, v in resp.headers.items()]
    if event.get("version") == "2.0":
        answer["cookies"] = [v for k, v in pairs if k == "set-cookie"]
        merged: dict[str, str] = {}
        for k, v in pairs:
            if k != "set-cookie":
                merged[k] = f"{merged[k]},{v}" if k in merged else v
        answer["headers"] = merged
    else:
        multi: dict[str, list[str]] = {}
        for k, v in pairs:
            multi.setdefault(k, []).append(v)
        answer["multiValueHeaders"] = multi
        answer["headers"] = {k: vs[-1] for k, vs in multi.items()}
    return answer


def post(
    api: http.client.HTTPConnection, path: str, body: bytes, headers: dict[str, str] | None = None
) -> None:
    api.request("POST", path, body, {"Content-Type": "application/json", **(headers or {})})
    api.getresponse().read()


def stream_answer(
    api: http.client.HTTPConnection, rid: str, resp: http.client.HTTPResponse
) -> None:
    """The app's response, passed on as it arrives: prelude, 8 NULs, then the body."""
    framing = ("transfer-encoding", "content-length", "connection")  # the stream is reframed
    pairs = [(k.lower(), v) for k, v in resp.headers.items() if k.lower() not in framing]
    prelude = {
        "statusCode": resp.status,
        "headers": {k: v for k, v in pairs if k != "set-cookie"},
        "cookies": [v for k, v in pairs if k == "set-cookie"],
    }
    api.putrequest("POST", f"{API}/invocation/{rid}/response")
    api.putheader("Lambda-Runtime-Function-Response-Mode", "streaming")
    api.putheader("Transfer-Encoding", "chunked")
    api.putheader("Content-Type", PRELUDE_TYPE)
    api.putheader("Trailer", f"{ERROR_TYPE}, {ERROR_BODY}")
    api.endheaders()
    sock = api.sock
    assert sock is not None

    def send(data: bytes) -> None:
        if data:
            sock.sendall(b"%x\r\n%s\r\n" % (len(data), data))

    send(json.dumps(prelude).encode() + b"\0" * 8)
    try:
        while True:
            chunk = resp.read1(65536)
            if not chunk:
                break
            send(chunk)
    except (OSError, http.client.HTTPException) as exc:
        body = base64.b64encode(
            json.dumps({"errorMessage": str(exc), "errorType": type(exc).__name__}).encode()
        )
        trailers = f"0\r\n{ERROR_TYPE}: {type(exc).__name__}\r\n{ERROR_BODY}: {body.decode()}\r\n"
        sock.sendall(trailers.encode() + b"\r\n")
    else:
        sock.sendall(b"0\r\n\r\n")
    api.getresponse().read()


def main() -> None:
    s = Settings()
    restored = os.environ.pop(APP_PORT_VARIABLE, None)
    app: App
    if restored is not None:
        app = restored_app(s, int(restored))
    else:
        own_port(s)
        app, told = start_app()
        if told is not None and snapshotted(app, s, told):
            sys.exit(app.wait())  # the app is the snapshot: this adapter ends with it
    wait_ready(app, s)
    if served_by_app(app, s.port) is False:
        log(
            f"port {s.port} answers, but not from this environment's app: another execution "
            f"environment on this host holds it, and this one's events would reach it; "
            f"{FIXED_PORT_HINT}"
        )
        app.kill()
        sys.exit(1)
    api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
    while True:
        api.request("GET", f"{API}/invocation/next")
        nxt = api.getresponse()
        event = json.loads(nxt.read() or b"null")
        rid = nxt.headers.get("Lambda-Runtime-Aws-Request-Id", "")
        lambda_context = {
            "request_id": rid,
            "deadline": int(nxt.headers.get("Lambda-Runtime-Deadline-Ms", "0")),
            "invoked_function_arn": nxt.headers.get("Lambda-Runtime-Invoked-Function-Arn", ""),
            "xray_trace_id": nxt.headers.get("Lambda-Runtime-Trace-Id"),
            "env_config": {
                "function_name": os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""),
                "memory": int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "0") or 0),
                "version": os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
                "log_stream": os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", ""),
                "log_group": os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", ""),
            },
        }
        try:
            method, target, headers, data, http_event = request_of(event, s)
            conn = http.client.HTTPConnection(s.host, s.port, timeout=None)
            conn.putrequest(method, target, skip_accept_encoding=True)
            for name, value in [*headers, ("x-amzn-lambda-context", json.dumps(lambda_context)),
                                ("content-length", str(len(data)))]:  # fmt: skip
                conn.putheader(name, value)
            conn.endheaders(data)
            resp = conn.getresponse()
            if s.stream and http_event:
                stream_answer(api, rid, resp)
            else:
                post(
                    api,
                    f"{API}/invocation/{rid}/response",
                    json.dumps(buffered_answer(event, resp, http_event)).encode(),
                )
            conn.close()
        except (OSError, http.client.HTTPException, KeyError, ValueError) as exc:
            log(f"the app did not answer: {exc}")
            error = {
                "errorMessage": f"the app did not answer: {exc}",
                "errorType": type(exc).__name__,
            }
            post(api, f"{API}/invocation/{rid}/error", json.dumps(error).encode(),
                 {"Lambda-Runtime-Function-Error-Type": type(exc).__name__})  # fmt: skip
            if app.poll() is not None:
                sys.exit(app.returncode or 1)


if __name__ == "__main__":
    main()
