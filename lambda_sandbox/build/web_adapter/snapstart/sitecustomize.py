"""SnapStart for a web app behind the Web Adapter: the web app's own process is the snapshot.

Standard library only. The adapter (lambda_web_adapter.py) puts this folder first on the
web app's PYTHONPATH when its environment is a SnapStart template, so the app's Python
imports this module at start-up (as `sitecustomize`). Behind the Web Adapter the function's
code runs in the web app (uvicorn and FastAPI, say), a process of its own beside the runtime,
so a fork of the runtime would carry nothing of what INIT loaded. Here the app's INIT is
everything before it binds its port (PORT, or AWS_LWA_PORT): importing the app, loading the
model, the framework's start-up events. At that bind this process runs the before-snapshot
hooks and becomes the template (the runtime's snapshot_template, /var/runtime/
_sandbox_snapshot.py). In each restored environment the fork

- gets an event loop of its own: asyncio knows its running loop by process id, and a
  selector loop's epoll instance and self-pipe are kernel objects a fork shares with the
  template and every other restore (a loop of another kind, uvloop's, cannot be carried,
  and the version fails to publish saying so);
- runs the after-restore hooks and reports what the uniqueness checks look at;
- binds a socket of its own (the one INIT created is shared by every fork): the port INIT
  asked for, or a free one when another restored environment holds it (on Lambda each has a
  network of its own), never with SO_REUSEPORT, which would let two environments share it;
- starts its own adapter (the runtime of the restored environment), a fork of itself (the
  adapter's module is imported before the snapshot), which finds the app ready on that port,
  and exits with it.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
from typing import Any

__all__ = [
    "arm", "chain", "fresh_loop", "fresh_socket", "pid_bound", "running_loop",
    "spawned_workers", "unsupported", "wakeup_fd",
]  # fmt: skip

FD_VARIABLE = "_SANDBOX_SNAPSHOT_FD"  # the runtime's snapshot_template reads it
TOLD_VARIABLE = "_SANDBOX_SNAPSHOT_TOLD_FD"  # the adapter learns the app is the snapshot
ADAPTER_VARIABLE = "_SANDBOX_ADAPTER_ARGV"  # how to start a restored environment's adapter
APP_PORT_VARIABLE = "_SANDBOX_APP_PORT"  # to that adapter: the restored app's port
APP_PID_VARIABLE = "_SANDBOX_APP_PID"

_bind = socket.socket.bind


def _log(message: str) -> None:
    """To stderr's descriptor, not sys.stderr: safe in a signal handler and in a fork."""
    with contextlib.suppress(OSError):
        os.write(2, f"[lambda-web-adapter] SnapStart: {message}\n".encode(errors="replace"))


def _template() -> Any:
    """The runtime's snapshot template, /var/runtime/_sandbox_snapshot.py."""
    runtime = os.environ.get("LAMBDA_RUNTIME_DIR") or "/var/runtime"
    spec = importlib.util.spec_from_file_location(
        "_sandbox_snapshot", os.path.join(runtime, "_sandbox_snapshot.py")
    )
    if spec is None or spec.loader is None:
        raise RuntimeError(f"SnapStart: no snapshot template in {runtime}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["_sandbox_snapshot"] = module
    spec.loader.exec_module(module)
    return module


def _hooks() -> Any:
    """awslambdaric's hook runner (snapshot_restore_py's registries), when the app can import it."""
    try:
        from awslambdaric import lambda_runtime_hooks_runner
    except ImportError:
        return None
    return lambda_runtime_hooks_runner


def running_loop() -> Any:
    asyncio = sys.modules.get("asyncio")
    return asyncio._get_running_loop() if asyncio is not None else None


def unsupported(loop: Any) -> str | None:
    """Why a fork cannot carry the app's event loop; None when it can."""
    if loop is None:
        return None
    import asyncio.selector_events
    import selectors

    kind = f"{type(loop).__module__}.{type(loop).__name__}"
    if not isinstance(loop, asyncio.selector_events.BaseSelectorEventLoop):
        return (
            f"the web app's event loop ({kind}) keeps its state where a fork would share it "
            "between restored environments: run the app on asyncio's own loop (uvicorn: "
            "--loop asyncio)"
        )
    selector = getattr(loop, "_selector", None)
    known = (selectors.EpollSelector, selectors.PollSelector, selectors.SelectSelector)
    if not isinstance(selector, known) or not hasattr(loop, "_make_self_pipe"):
        return f"the web app's event loop ({kind}) waits on {type(selector).__name__}, unknown here"
    return None


def wakeup_fd() -> int:
    """The descriptor signals write to (signal.set_wakeup_fd), -1 for none, left as it is."""
    fd = signal.set_wakeup_fd(-1)
    if fd != -1:
        signal.set_wakeup_fd(fd)
    return fd


def pid_bound() -> str | None:
    """Why a server in this process cannot run from a fork with a pid of its own; None when
    none is known to. On Lambda a restore keeps the snapshot's pids; here each restored
    environment is a fork, whose pid is new."""
    if "gunicorn.arbiter" in sys.modules:
        return (
            "gunicorn's master keeps the pid it had at INIT, and its workers stop when their "
            "parent's pid is not that one ('Parent changed, shutting down'): a restored "
            "environment here is a fork with a pid of its own (Lambda's restore keeps the "
            "snapshot's). Serve the app from the process that binds the port (uvicorn for an "
            "ASGI app), or turn SnapStart off to run it under gunicorn here"
        )
    return None


def spawned_workers() -> int:
    """How many worker processes the server binding the port starts after the bind (uvicorn
    --workers N: each a new Python that imports the app), 0 when it serves from this one."""
    with contextlib.suppress(Exception):  # a hint only: never a reason for INIT to fail
        frame = sys._getframe(1)
        while frame is not None:
            config = frame.f_locals.get("config")
            kind = type(config)
            if (kind.__module__, kind.__name__) == ("uvicorn.config", "Config"):
                workers = int(getattr(config, "workers", 1) or 1)
                return workers if workers > 1 else 0
            frame = frame.f_back  # type: ignore[assignment]
    return 0


def fresh_loop(loop: Any, wakeup: int) -> None:
    """Give the running asyncio loop its own epoll instance and self-pipe (a fork shares the
    template's: one restored environment's events would wake another). `wakeup` is the
    template's wakeup fd before the fork (Python 3.12 and later reset it in a fork's child)."""
    if loop is None:
        return
    import asyncio
    import select
    import selectors

    asyncio.events._set_running_loop(loop)  # asyncio keeps it per process id: not a fork's

    selector: Any = loop._selector
    if isinstance(selector, selectors.EpollSelector):
        shared, own = selector._selector, select.epoll()  # type: ignore[attr-defined]
        for key in list(selector.get_map().values()):
            mask = (select.EPOLLIN if key.events & selectors.EVENT_READ else 0) | (
                select.EPOLLOUT if key.events & selectors.EVENT_WRITE else 0
            )
            own.register(key.fd, mask)
        selector._selector = own  # type: ignore[attr-defined]
        shared.close()
    signal.set_wakeup_fd(-1)
    was_ours = wakeup == loop._csock.fileno()  # the loop's signal handlers (add_signal_handler)
    loop._close_self_pipe()
    loop._make_self_pipe()
    if was_ours:
        signal.set_wakeup_fd(loop._csock.fileno())
    elif wakeup != -1:
        signal.set_wakeup_fd(wakeup)


def fresh_socket(sock: socket.socket) -> None:
    """Replace the socket INIT created (one file every fork shares) with one of this process,
    under the same descriptor and options, SO_REUSEPORT off."""
    timeout = sock.gettimeout()
    fresh = socket.socket(sock.family, sock.type, sock.proto)
    options = [(socket.SOL_SOCKET, socket.SO_REUSEADDR), (socket.IPPROTO_TCP, socket.TCP_NODELAY)]
    if sock.family == socket.AF_INET6:
        options.append((socket.IPPROTO_IPV6, socket.IPV6_V6ONLY))
    for level, name in options:
        with contextlib.suppress(OSError):
            fresh.setsockopt(level, name, sock.getsockopt(level, name))
    os.dup2(fresh.fileno(), sock.fileno())
    fresh.close()
    sock.settimeout(timeout)


def _own_port(sock: socket.socket, address: Any) -> int:
    """Bind `sock` to the port INIT asked for, or to a free one when another environment
    holds it, and listen at once (the app's own listen later is harmless): with SO_REUSEADDR
    a second restore's bind succeeds on a port bound but not yet listened on, and then that
    app's listen fails (likely what a CI run saw: a restore ending in Runtime.ExitError)."""
    try:
        _bind(sock, address)
        sock.listen(socket.SOMAXCONN)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        fresh_socket(sock)  # a bound socket is not bound again
        _bind(sock, (address[0], 0, *address[2:]))
        _log(
            f"port {address[1]} is in use on this host by another execution environment: this "
            f"restored environment's app listens on {sock.getsockname()[1]} (on Lambda each "
            "environment has its own network)"
        )
    return int(sock.getsockname()[1])


def _adapter_module(argv: list[str]) -> Any:
    """The adapter's module, imported in the template: a restore forks its adapter from the
    app instead of starting a Python, whose imports alone took 0.04 s here (http.client's the
    most). None when it does not import here (then a restore starts it)."""
    spec = importlib.util.spec_from_file_location("_sandbox_web_adapter", argv[-1])
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # an app's Python the adapter does not run on
        _log(f"the adapter does not import in the app's Python ({exc!r}): restores start it")
        return None
    return module


def _run_forked_adapter(module: Any, env: dict[str, str], mask: set[Any]) -> None:
    """In a fork of the restored app: be its adapter, never returning into the app's code."""
    import gc

    code = 1
    try:
        gc.freeze()  # the app's objects: never collected (and finalized) here
        for signum in signal.valid_signals():  # the app's handlers are not the adapter's
            with contextlib.suppress(OSError, ValueError):
                if callable(signal.getsignal(signum)):
                    signal.signal(signum, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # the app's, from before the fork
        os.environ.update(env)
        module.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    except BaseException as exc:
        _log(f"the adapter failed: {exc!r}")
    finally:
        try:
            with contextlib.suppress(BaseException):
                sys.stdout.flush()
                sys.stderr.flush()
        finally:
            os._exit(code)


def _start_adapter(port: int, argv: list[str], module: Any) -> None:
    """This environment's runtime: an adapter for the app on `port`, a fork of this process
    (or a new Python, `argv`, when `module` is None). The app exits with it."""
    import threading

    env = {APP_PORT_VARIABLE: str(port), APP_PID_VARIABLE: str(os.getpid())}
    before = signal.getsignal(signal.SIGCHLD)
    started: list[int] = []

    def check() -> None:
        if not started:
            return
        try:
            pid, status = os.waitpid(started[0], os.WNOHANG)
        except ChildProcessError:  # reaped by the app's own child watcher
            pid, status = started[0], 0
        if pid:
            try:
                code = os.waitstatus_to_exitcode(status)
                _log(f"the adapter exited ({code}): so does this environment's app")
            finally:
                os._exit(1)

    def on_child(signum: int, frame: Any) -> None:
        check()
        if callable(before):
            before(signum, frame)

    signal.signal(signal.SIGCHLD, on_child)  # before it starts: it may end at once
    if module is not None and threading.active_count() == 1:  # a fork keeps no lock held
        with contextlib.suppress(Exception):  # or the fork writes the app's buffer again
            sys.stdout.flush()
            sys.stderr.flush()
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        try:
            pid = os.fork()  # signals wait until the child has the adapter's handlers
            if pid == 0:
                _run_forked_adapter(module, env, mask)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        started.append(pid)
    else:  # a thread started by an after-restore hook may hold a lock a fork would keep
        started.append(subprocess.Popen(argv, env=dict(os.environ, **env)).pid)
    check()


def _snapshot_then_bind(sock: socket.socket, address: Any) -> None:
    loop = running_loop()
    why = unsupported(loop) or pid_bound()
    template = _template()
    if why is not None:
        template.refuse(why)
        raise RuntimeError(f"SnapStart: {why}")
    workers = spawned_workers()
    if workers:
        _log(
            f"uvicorn starts {workers} worker processes after it binds the port: they are not "
            "in the snapshot, so every restore runs the app's INIT in them again (on Lambda "
            "the snapshot holds them). An environment serves one request at a time: run one "
            "worker (drop --workers or WEB_CONCURRENCY)"
        )
    told = os.environ.pop(TOLD_VARIABLE, None)
    if told is not None:
        os.write(int(told), b"s")
        os.close(int(told))
    hooks = _hooks()
    if hooks is not None:
        hooks.run_before_snapshot()
    argv = json.loads(os.environ.pop(ADAPTER_VARIABLE))
    adapter = _adapter_module(argv)
    wakeup = wakeup_fd()
    template.serve()  # returns in a restored environment
    fresh_loop(loop, wakeup)
    if hooks is not None:
        try:
            hooks.run_after_restore()
        except BaseException as exc:  # as awslambdaric does: the restore fails
            _log(f"an after-restore hook failed: {exc!r}")
            os._exit(1)
    template.report()
    fresh_socket(sock)
    _start_adapter(_own_port(sock, address), argv, adapter)


def arm() -> None:
    """In a SnapStart template's web app: snapshot at the bind of its port."""
    if FD_VARIABLE not in os.environ or ADAPTER_VARIABLE not in os.environ:
        return
    port = int(os.environ.get("AWS_LWA_PORT") or os.environ.get("PORT") or "8080")

    def bind(self: socket.socket, address: Any) -> None:
        if (
            self.family in (socket.AF_INET, socket.AF_INET6)
            and self.type == socket.SOCK_STREAM
            and isinstance(address, tuple)
            and len(address) >= 2
            and address[1] == port
        ):
            socket.socket.bind = _bind  # type: ignore[method-assign]
            _snapshot_then_bind(self, address)
            return
        _bind(self, address)

    socket.socket.bind = bind  # type: ignore[method-assign,assignment]


def chain() -> None:
    """Run the sitecustomize this one hides, further on the path (the host's, the app's), as
    Python would have."""
    import importlib.machinery

    here = os.path.dirname(os.path.abspath(__file__))
    path = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None:
        return
    spec.loader.exec_module(importlib.util.module_from_spec(spec))


arm()
chain()
