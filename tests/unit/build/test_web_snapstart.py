"""The web app side of SnapStart behind the Web Adapter (build/web_adapter/snapstart): what a
fork of the app must not share with the template and the other restores."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import socket
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from lambda_sandbox.build.runtimes import find_python
from lambda_sandbox.paths import web_adapter_dir


def _hook() -> Any:
    spec = importlib.util.spec_from_file_location(
        "web_snapstart_hook", web_adapter_dir() / "snapstart" / "sitecustomize.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # without the template's variables it arms nothing
    return module


def test_only_asyncios_selector_loops_can_be_carried() -> None:
    hook = _hook()
    assert socket.socket.bind is hook._bind  # not armed outside a template
    assert hook.unsupported(None) is None
    loop = asyncio.new_event_loop()
    try:
        assert hook.unsupported(loop) is None
    finally:
        loop.close()
    why = hook.unsupported(object())
    assert why is not None and "--loop asyncio" in why


def test_a_fresh_socket_is_another_file_under_the_same_descriptor() -> None:
    hook = _hook()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setblocking(False)
    fd, inode = sock.fileno(), os.fstat(sock.fileno()).st_ino
    hook.fresh_socket(sock)
    try:
        assert sock.fileno() == fd and os.fstat(fd).st_ino != inode
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 1
        # never shared with another environment's app by the kernel's port balancing
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 0
        assert sock.getblocking() is False
    finally:
        sock.close()


def test_a_fresh_loop_has_its_own_epoll_and_self_pipe_and_still_runs() -> None:
    hook = _hook()

    async def main() -> tuple[int, int, bytes]:
        loop: Any = asyncio.get_running_loop()
        epoll, ssock = loop._selector._selector.fileno(), loop._ssock
        ssock_inode = os.fstat(ssock.fileno()).st_ino
        a, b = socket.socketpair()
        got: asyncio.Future[bytes] = loop.create_future()
        loop.add_reader(a.fileno(), lambda: got.set_result(a.recv(10)))
        hook.fresh_loop(loop, hook.wakeup_fd())
        assert os.fstat(loop._ssock.fileno()).st_ino != ssock_inode
        b.send(b"after")  # a reader registered before the fork still wakes the loop
        loop.call_soon_threadsafe(lambda: None)  # and so does the new self-pipe
        data = await asyncio.wait_for(got, 5)
        a.close()
        b.close()
        return epoll, loop._selector._selector.fileno(), data

    epoll_before, epoll_after, data = asyncio.run(main())
    assert data == b"after"
    assert epoll_before != epoll_after  # made while the shared one was open: another fd


FORKED_LOOP = textwrap.dedent("""
    import asyncio, importlib.util, os, signal, sys

    spec = importlib.util.spec_from_file_location("hook", sys.argv[1])
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)

    async def main():
        loop = asyncio.get_running_loop()
        got = loop.create_future()
        loop.add_signal_handler(signal.SIGUSR1, lambda: got.done() or got.set_result("signal"))
        wakeup = hook.wakeup_fd()  # in the template, before it forks
        if os.fork() == 0:  # a restored environment
            try:
                hook.fresh_loop(loop, wakeup)
                os.kill(os.getpid(), signal.SIGUSR1)
                print(await asyncio.wait_for(got, 5), flush=True)
            finally:
                os._exit(0)
        os.wait()

    asyncio.run(main())
""")


@pytest.mark.parametrize("version", ["3.11", "3.12"])
def test_a_restored_apps_loop_still_runs_its_signal_handlers(version: str) -> None:
    """Python 3.12 and later reset the wakeup fd in a fork's child: the fresh loop sets it to
    its own self-pipe again, or loop.add_signal_handler's callbacks never run."""
    python = find_python(version)
    assert python is not None, f"python{version} is needed (the functions' runtime)"
    hook = str(web_adapter_dir() / "snapstart" / "sitecustomize.py")
    done = subprocess.run([python, "-c", FORKED_LOOP, hook], capture_output=True, text=True,
                          timeout=30)  # fmt: skip
    assert done.stdout.strip() == "signal", done.stderr


def test_the_adapter_is_imported_in_the_template_or_started_when_it_does_not_import(
    tmp_path: Any,
) -> None:
    hook = _hook()
    adapter = web_adapter_dir() / "lambda_web_adapter.py"
    module = hook._adapter_module(["python", "-S", str(adapter)])
    assert callable(module.main)  # imported, not run: a restore forks and calls it
    broken = tmp_path / "adapter.py"
    broken.write_text("import a_module_this_python_lacks\n")
    assert hook._adapter_module(["python", "-S", str(broken)]) is None


def test_gunicorn_is_named_as_a_server_a_fork_with_its_own_pid_cannot_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hook = _hook()
    monkeypatch.delitem(sys.modules, "gunicorn.arbiter", raising=False)
    assert hook.pid_bound() is None
    monkeypatch.setitem(sys.modules, "gunicorn.arbiter", object())
    why = hook.pid_bound()
    assert why is not None and "Parent changed" in why and "uvicorn" in why


def test_uvicorns_worker_processes_are_counted_from_its_config() -> None:
    hook = _hook()
    config_class = type("Config", (), {"__module__": "uvicorn.config"})

    def run(workers: int) -> int:
        config = config_class()
        config.workers = workers
        return bind_socket()

    def bind_socket() -> int:  # where uvicorn binds: its caller holds the config
        return int(hook.spawned_workers())

    assert run(4) == 4
    assert run(1) == 0
    assert bind_socket() == 0


def test_two_restores_binding_one_port_get_two() -> None:
    """With SO_REUSEADDR (uvicorn's) a second bind succeeds on a port bound but not yet
    listened on, and that app's listen then fails: the first restore listens at its bind."""
    hook = _hook()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    first, second = socket.socket(), socket.socket()
    try:
        for sock in (first, second):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        assert hook._own_port(first, ("127.0.0.1", port)) == port
        other = hook._own_port(second, ("127.0.0.1", port))
        assert other != port
        for sock in (first, second):
            sock.listen(100)  # the apps' own listen: both serve
        assert second.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 1
    finally:
        first.close()
        second.close()
