"""The web app side of SnapStart behind the Web Adapter (build/web_adapter/snapstart): what a
fork of the app must not share with the template and the other restores."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import socket
from typing import Any

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
        hook.fresh_loop(loop)
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
