"""The Runtime API over a real socket: who may connect, and what an oversized answer costs."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import tracemalloc

from lambda_sandbox.runtime_api.channel import RuntimeChannel
from lambda_sandbox.runtime_api.server import RuntimeAPIServer
from tests.unit.runtime_api.test_endpoints import invocation


def _post(address: str, path: str, body_size: int) -> bytes:
    """POST `body_size` bytes in 1 MiB pieces; the status line and the answer."""
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {body_size}\r\n\r\n"
        conn.sendall(head.encode())
        piece = b"x" * (1 << 20)
        sent = 0
        while sent < body_size:
            conn.sendall(piece[: body_size - sent])
            sent += min(len(piece), body_size - sent)
        return conn.recv(65536)


async def test_a_400_mb_answer_costs_the_sandbox_the_limit_not_the_answer() -> None:
    server = RuntimeAPIServer()
    channel = RuntimeChannel("env", max_response_bytes=1 << 20, max_stream_bytes=1 << 20)
    address = await server.open(channel)
    try:
        result = channel.submit(invocation())
        tracemalloc.start()
        answer = await asyncio.to_thread(
            _post, address, "/2018-06-01/runtime/invocation/rid-1/response", 64 << 20
        )
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert answer.startswith(b"HTTP/1.1 413")
        assert (await result).error_type == "Function.ResponseSizeTooLarge"
        assert peak < 8 << 20, f"the sandbox held {peak >> 20} MiB of a 64 MiB answer"
    finally:
        await server.stop()


async def test_a_port_with_an_owner_refuses_anyone_else() -> None:
    server = RuntimeAPIServer()
    channel = RuntimeChannel("env", max_response_bytes=100, max_stream_bytes=100)
    mine = await server.open(channel, uid=os.geteuid())
    theirs = await server.open(channel, uid=os.geteuid() + 12345)
    try:
        channel.submit(invocation())

        def next_from(address: str) -> bytes:
            host, port = address.rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=10) as conn:
                conn.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
                return conn.recv(65536)

        refused = await asyncio.to_thread(next_from, theirs)
        assert refused.startswith(b"HTTP/1.1 403")
        assert json.loads(refused.split(b"\r\n\r\n", 1)[1])["errorType"] == "AccessDenied"
        served = await asyncio.to_thread(next_from, mine)
        assert served.startswith(b"HTTP/1.1 200") and b"rid-1" in served
    finally:
        await server.stop()
