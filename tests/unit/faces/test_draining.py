"""While the sandbox stops: a new request gets AWS's 503 ServiceException, and no connection
is kept alive for another request the closing port would drop."""

from __future__ import annotations

import asyncio
import http.client
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from aiohttp import web

from lambda_sandbox.environments.fake import FakeBackend, FakeFunction
from lambda_sandbox.faces.app import build_app
from lambda_sandbox.service.lambda_service import LambdaService
from tests.unit.service.test_lambda_service import config


def _call(port: int) -> list[tuple[int, str | None, dict[str, Any]]]:
    """Two requests on one keep-alive connection: (status, Connection header, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    out = []
    for _ in range(2):
        conn.request("POST", "/2015-03-31/functions/f/invocations", b"{}")
        resp = conn.getresponse()
        out.append((resp.status, resp.getheader("Connection"), json.loads(resp.read())))
    conn.close()
    return out


def test_requests_while_draining_get_503_and_close_the_connection() -> None:
    async def main() -> None:
        service = LambdaService(FakeBackend({"f": FakeFunction()}))
        service.register(config("f"), Path("."))
        gateway: Any = SimpleNamespace(draining=False)
        runner = web.AppRunner(build_app(service, gateway))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            before = await asyncio.to_thread(_call, port)
            assert [status for status, _, _ in before] == [200, 200]
            assert before[0][1] != "close"  # kept alive while serving
            gateway.draining = True
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            await asyncio.to_thread(conn.request, "POST", "/2015-03-31/functions/f/invocations",
                                    b"{}")  # fmt: skip
            resp = await asyncio.to_thread(conn.getresponse)
            body = json.loads(resp.read())
            assert resp.status == 503 and resp.getheader("Connection") == "close"
            assert body["Type"] == "Service" and "shutting down" in body["Message"]
            assert resp.getheader("x-amzn-ErrorType") == "ServiceException"
            conn.close()
        finally:
            await runner.cleanup()
            await service.close()

    asyncio.run(main())
