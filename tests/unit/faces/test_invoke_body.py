"""Invoke bodies are refused at Lambda's limit as they stream in, never read whole."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

from aiohttp import web

from lambda_sandbox.environments.fake import FakeBackend, FakeFunction
from lambda_sandbox.faces.app import build_app
from lambda_sandbox.service.lambda_service import LambdaService
from tests.unit.service.test_lambda_service import config

LIMIT = 6 * 1024 * 1024


def _send(port: int, head: str, pieces: int, piece: bytes) -> tuple[bytes, int]:
    """Send the head, then up to `pieces` pieces (stopping when the server answers)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(head.encode())
        conn.settimeout(0.01)
        sent = 0
        answer = b""
        for _ in range(pieces):
            try:
                answer = conn.recv(65536)
                if answer:
                    break
            except TimeoutError:
                pass
            try:
                conn.sendall(piece)
            except OSError:
                break
            sent += len(piece)
        conn.settimeout(30)
        while b"\r\n\r\n" not in answer:
            more = conn.recv(65536)
            if not more:
                break
            answer += more
        return answer, sent


async def _serve(body: object) -> None:
    service = LambdaService(FakeBackend({"f": FakeFunction()}))
    service.register(config("f"), Path("."))
    runner = web.AppRunner(build_app(service))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        await body(port)  # type: ignore[operator]
    finally:
        await runner.cleanup()
        await service.close()


def test_a_declared_oversized_body_is_refused_before_it_is_read() -> None:
    async def body(port: int) -> None:
        head = (
            "POST /2015-03-31/functions/f/invocations HTTP/1.1\r\nHost: x\r\n"
            f"Content-Length: {60 << 20}\r\n\r\n"
        )
        answer, sent = await asyncio.to_thread(_send, port, head, 60, b"x" * (1 << 20))
        status, _, _rest = answer.partition(b"\r\n")
        assert status.startswith(b"HTTP/1.1 413"), answer[:300]
        assert sent < 8 << 20, f"{sent >> 20} MiB were sent before the 413"

    asyncio.run(_serve(body))


def test_a_chunked_oversized_body_is_refused_at_the_limit() -> None:
    async def body(port: int) -> None:
        head = (
            "POST /2015-03-31/functions/f/invocations HTTP/1.1\r\nHost: x\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"100000\r\n" + b"x" * (1 << 20) + b"\r\n"
        answer, sent = await asyncio.to_thread(_send, port, head, 60, chunk)
        head_part, _, payload = answer.partition(b"\r\n\r\n")
        assert head_part.startswith(b"HTTP/1.1 413"), answer[:300]
        assert sent < 10 << 20, f"{sent >> 20} MiB were read before the 413"
        if payload:
            assert "InvokeFunction" in json.loads(payload)["message"]

    asyncio.run(_serve(body))
