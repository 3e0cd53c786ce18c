"""The Runtime API server: one aiohttp application, one loopback port per environment.

The runtime client finds its API through AWS_LAMBDA_RUNTIME_API=host:port, so each execution
environment gets a port of its own; a request is routed by the local port it arrived on.
"""

from __future__ import annotations

import asyncio
import socket

from aiohttp import web

from sandbox.runtime_api.channel import RuntimeChannel
from sandbox.runtime_api.endpoints import dispatcher

__all__ = ["RuntimeAPIServer"]


class RuntimeAPIServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._channels: dict[int, RuntimeChannel] = {}
        self._sites: dict[int, web.SockSite] = {}
        self._runner: web.ServerRunner | None = None

    def _lookup(self, request: web.BaseRequest) -> RuntimeChannel | None:
        # The runtime client sends Host: 127.0.0.1:<port>, the port we gave it; reading the
        # header is cheaper than asking the socket. The socket decides when the header is odd.
        _, _, port = request.host.rpartition(":")
        if port.isdigit():
            channel = self._channels.get(int(port))
            if channel is not None:
                return channel
        transport = request.transport
        if transport is None:
            return None
        return self._channels.get(transport.get_extra_info("sockname")[1])

    def _make_request(self, message, payload, protocol, writer, task):  # type: ignore[no-untyped-def]
        # the low-level server's default caps bodies at 1 MB; responses may be 6 MB and more
        return web.BaseRequest(
            message,
            payload,
            protocol,
            writer,
            task,
            asyncio.get_running_loop(),
            client_max_size=1 << 30,
        )

    async def start(self) -> None:
        server = web.Server(dispatcher(self._lookup), request_factory=self._make_request)
        self._runner = web.ServerRunner(server, access_log=None, handle_signals=False)
        await self._runner.setup()

    async def open(self, channel: RuntimeChannel) -> str:
        """Listen for `channel`'s runtime on a fresh port; returns host:port."""
        assert self._runner is not None, "start() first"
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock)
        await site.start()
        self._channels[port] = channel
        self._sites[port] = site
        return f"{self.host}:{port}"

    async def close(self, address: str) -> None:
        port = int(address.rsplit(":", 1)[1])
        self._channels.pop(port, None)
        site = self._sites.pop(port, None)
        if site is not None:
            await site.stop()

    async def stop(self) -> None:
        for address in [f"{self.host}:{p}" for p in list(self._sites)]:
            await self.close(address)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
