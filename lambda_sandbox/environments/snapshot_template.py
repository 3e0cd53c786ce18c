"""The SnapStart template, inside the runtime (standard library only: the sandbox copies it to
/var/runtime/_sandbox_snapshot.py, where nothing else of the sandbox can be imported).

A SnapStart environment runs INIT and the before-snapshot hooks as on Lambda; where
awslambdaric (or the sandbox's streaming runtime) would ask the Runtime API for `restore/next`,
this process becomes the snapshot: it waits on a socket the sandbox passed it
(`_SANDBOX_SNAPSHOT_FD`) and forks one restored environment per request. A fork is a
copy-on-write copy of the initialized process, so memory, imported modules, loaded models and
Python's `random` state are the snapshot's, as after a Firecracker restore (Python re-seeds
`random` in a forked child on its own; that is undone here, or the bug SnapStart
users must fix would be hidden). The child takes the stdout/stderr pipe of its new environment,
waits until the sandbox has moved it into that environment's cgroup, then returns to the runtime,
which runs the after-restore hooks and polls for events. What it checks for the uniqueness
warnings (random states, connections opened at INIT) goes to the sandbox on a pipe of its own.

A fork keeps only the calling thread. Python threads running at the end of INIT make the
template refuse, naming them: the version fails to publish with that reason, as a fork would
leave code waiting on threads that are gone. Native libraries' pools are counted after a first
fork (those that stop and restart their pools around a fork, as OpenBLAS does, are not left)
and reported, for the sandbox to warn about at publish.
"""

from __future__ import annotations

import array
import contextlib
import gc
import hashlib
import json
import os
import signal
import socket
import sys
import threading
import time
from typing import Any

__all__ = ["install", "refuse", "report", "serve"]

FD_VARIABLE = "_SANDBOX_SNAPSHOT_FD"
_MAX_MESSAGE = 65536
_state: dict[str, Any] = {}


def _python_threads() -> list[str]:
    """Threads started with `threading` (besides this one): a fork does not carry them."""
    me = threading.get_ident()
    return [t.name for t in threading.enumerate() if t.ident != me and t.is_alive()]


def _native_threads() -> int:
    """Threads of native libraries that a fork would leave behind. Libraries that know about
    fork stop their pools in a pthread_atfork handler and start them again when next used
    (OpenBLAS, under numpy): a first fork, whose child exits at once, lets them; what is left
    is counted."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return max(0, len(os.listdir("/proc/self/task")) - 1 - len(_python_threads()))


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    try:
        sock.send(json.dumps(message).encode())
    except OSError:
        os._exit(0)  # the sandbox has gone: so has the snapshot


def _reap(sock: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send(sock, {"exit": pid, "status": os.waitstatus_to_exitcode(status)})


def _tmp_files() -> list[str]:
    found = []
    for folder, _, files in os.walk("/tmp"):
        found += [os.path.join(folder, name) for name in files]
        if len(found) > 20:
            break
    return sorted(found)[:20]


def _connections() -> int:
    """Connected inet sockets this process holds (none belong to the Runtime API yet): from its
    file descriptors, without reading /proc/net/tcp (which costs milliseconds)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if not os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                continue
            probe = socket.socket(fileno=os.dup(int(fd)))
        except OSError:
            continue
        with probe:
            if probe.family in (socket.AF_INET, socket.AF_INET6):
                with contextlib.suppress(OSError):
                    probe.getpeername()
                    count += 1
    return count


def _fingerprint() -> dict[str, Any]:
    import random

    def digest(value: object) -> str:
        return hashlib.sha256(repr(value).encode()).hexdigest()[:16]

    out: dict[str, Any] = {"random": digest(random.getstate()), "connections": _connections()}
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        with contextlib.suppress(Exception):  # a numpy without the legacy global state
            out["numpy"] = digest(numpy.random.get_state()[1].tobytes())
    return out


_CLONE_NEWUSER, _CLONE_NEWNS = 0x10000000, 0x00020000
_MS_NOSUID, _MS_NODEV = 2, 4


def _drop_capabilities(libc: Any) -> None:
    """The capabilities unshare gave in the new user namespace, all dropped: kept, the
    environment could unmount its /tmp and reach the snapshot's, which every restore shares
    (and processes it starts, which have none, could not read its /proc entries)."""
    import ctypes

    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable: twice 32 bits, none
    if libc.capset(header, data):
        raise OSError(ctypes.get_errno(), "capset")


def _own_tmp(size_mb: int) -> str | None:
    """Give this restored environment a /tmp of its own: the snapshot's /tmp (what INIT wrote)
    as the lower layer of an overlay whose writes go to a tmpfs of this environment's
    (EphemeralStorage in size, counted in its memory cgroup), in a user and mount namespace
    of its own (its uid mapped to itself: no new privilege outside it). None when done, else
    why not (then /tmp is shared with the other restores of the snapshot)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]

    def mount(source: str, target: str, fstype: str, flags: int, data: str) -> None:
        if libc.mount(source.encode(), target.encode(), fstype.encode(), flags, data.encode()):
            raise OSError(ctypes.get_errno(), f"mount {fstype} on {target}")

    uid, gid = os.getuid(), os.getgid()
    covered = unshared = False
    try:
        if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNS):
            raise OSError(ctypes.get_errno(), "unshare")
        unshared = True
        for name, text in (("uid_map", f"{uid} {uid} 1"), ("setgroups", "deny"),
                           ("gid_map", f"{gid} {gid} 1")):  # fmt: skip
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
        # opened in the new mount namespace: overlayfs takes no lower layer from another one
        lower = os.open("/tmp", os.O_RDONLY | os.O_DIRECTORY)
        mount("tmpfs", "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV, f"size={size_mb}m,mode=700")
        covered = True
        os.makedirs("/tmp/.restore/upper")
        os.makedirs("/tmp/.restore/work")
        layers = (
            f"lowerdir=/proc/self/fd/{lower},upperdir=/tmp/.restore/upper,"
            "workdir=/tmp/.restore/work"
        )
        mount("overlay", "/tmp", "overlay", _MS_NOSUID | _MS_NODEV, layers)
        os.close(lower)
    except OSError as exc:
        if covered:  # the snapshot's /tmp back in sight
            libc.umount2(b"/tmp", 2)
        return f"{exc.strerror or os.strerror(exc.errno or 0)}: {exc.filename or exc}"
    finally:  # whatever came of /tmp: none of the new namespace's capabilities are kept
        if unshared:
            try:
                _drop_capabilities(libc)
            except OSError as exc:
                print(f"SANDBOX SnapStart: this restored environment cannot drop its "
                      f"capabilities ({exc}): it stops", file=sys.stderr, flush=True)  # fmt: skip
                os._exit(1)
    return None


def _child(sock: socket.socket, fds: list[int], request: dict[str, Any]) -> None:
    """In the restored environment: its output, its cgroup, its /tmp, then back to
    awslambdaric."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    sock.close()
    out, go, report = fds
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    if os.read(go, 1) != b"g":  # the sandbox gave up on this restore
        os._exit(0)
    os.close(go)
    why = _own_tmp(int(request.get("tmp_mb") or 512))
    if why is not None:
        print(f"SANDBOX SnapStart: this restored environment shares /tmp with the others "
              f"restored from its snapshot: {why}", file=sys.stderr, flush=True)  # fmt: skip
    import random

    random.setstate(_state["random"])  # as the snapshot had it (fork re-seeded it)
    _state["report"] = report
    _state["restored_at"] = time.monotonic()


def serve() -> None:
    """Where a runtime would call `restore/next`: in the template, fork environments until the
    sandbox closes the socket; in each child, return (the environment is restored)."""
    import random

    sock = socket.socket(fileno=int(os.environ.pop(FD_VARIABLE)))
    threads = _python_threads()
    if threads:
        _send(sock, {"refused": "threads", "threads": threads})
        raise RuntimeError(
            f"SnapStart: {len(threads)} Python threads besides the main one are running at the "
            f"end of INIT ({', '.join(threads)}); a snapshot keeps only the thread that calls "
            "the handler. Start them in an after-restore hook (snapshot_restore_py."
            "register_after_restore) or stop them in a before-snapshot hook."
        )
    native = _native_threads()
    _state["random"] = random.getstate()
    _fingerprint()  # once here: numpy's first state read costs ~15 ms, kept in the snapshot
    gc.collect()
    gc.freeze()  # INIT's objects out of the collector's reach: a restore's collections would
    # touch them all, copying every page of the snapshot they sit on
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signal.SIGCHLD, lambda *_: _reap(sock))
    _send(sock, {"ready": True, "tmp_files": _tmp_files(), "native_threads": native,
                 "pid": os.getpid()})  # fmt: skip
    while True:
        fds = array.array("i")
        try:
            message, ancillary, _, _ = sock.recvmsg(_MAX_MESSAGE, socket.CMSG_LEN(3 * fds.itemsize))
        except OSError:
            os._exit(0)
        if not message:
            os._exit(0)  # the sandbox closed the snapshot
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
        request = json.loads(message)
        if len(fds) != 3:
            for fd in fds:
                os.close(fd)
            _send(sock, {"id": request.get("id"), "error": "three file descriptors expected"})
            continue
        pid = os.fork()
        if pid == 0:
            _child(sock, list(fds), request)
            return
        for fd in fds:
            os.close(fd)
        _send(sock, {"id": request.get("id"), "pid": pid})


def refuse(why: str) -> None:
    """Tell the sandbox this INIT cannot be snapshotted, and why (the version fails to
    publish with that reason)."""
    sock = socket.socket(fileno=int(os.environ.pop(FD_VARIABLE)))
    _send(sock, {"refused": "why", "why": why})
    sock.close()


def report() -> None:
    """In a restored environment, once the after-restore hooks have run: what the uniqueness
    checks look at, to the sandbox."""
    fd = _state.pop("report", None)
    if fd is None:
        return
    facts = _fingerprint()
    facts["hooks_ms"] = (time.monotonic() - _state["restored_at"]) * 1000
    try:
        os.write(fd, (json.dumps(facts) + "\n").encode())
    finally:
        os.close(fd)


def _after_restore(original: Any) -> Any:
    def run() -> None:
        original()
        report()

    return run


def install() -> None:
    """Make awslambdaric's snap-start path serve restores (called by bootstrap.py; the
    sandbox's streaming runtime calls serve and report itself)."""
    from awslambdaric import lambda_runtime_client, lambda_runtime_hooks_runner

    lambda_runtime_client.LambdaRuntimeClient.restore_next = lambda self: serve()
    hooks = lambda_runtime_hooks_runner
    hooks.run_after_restore = _after_restore(hooks.run_after_restore)
