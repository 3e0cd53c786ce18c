"""The Runtime API server: one loopback port per execution environment.

The runtime client finds its API through AWS_LAMBDA_RUNTIME_API=host:port, so each environment
gets a listening socket of its own, bound to its `RuntimeChannel`. Loopback ports are open to
every process of the host: when the environment runs as a uid of its own, its port answers
only connections whose socket that uid owns (runtime_api/peer.py); anyone else, another
function polling for its events or posting a forged answer, gets a 403 and a closed socket.
"""

from __future__ import annotations

import asyncio
import socket

from lambda_sandbox.runtime_api.channel import RuntimeChannel
from lambda_sandbox.runtime_api.protocol import Route, RuntimeAPIProtocol

__all__ = ["RuntimeAPIServer"]


class RuntimeAPIServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._servers: dict[str, tuple[asyncio.Server, set[RuntimeAPIProtocol]]] = {}

    async def open(
        self, channel: RuntimeChannel, uid: int | None = None, route: Route | None = None
    ) -> str:
        """Listen for `channel`'s runtime on a fresh port; returns host:port. With `uid`, only
        connections from sockets that uid owns are served; with `route`, each connection is
        served by the channel it names (SnapStart: one port for a snapshot's environments)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        connections: set[RuntimeAPIProtocol] = set()
        server = await asyncio.get_running_loop().create_server(
            lambda: RuntimeAPIProtocol(channel, connections, uid, route), sock=sock
        )
        address = f"{self.host}:{sock.getsockname()[1]}"
        self._servers[address] = (server, connections)
        return address

    async def close(self, address: str) -> None:
        entry = self._servers.pop(address, None)
        if entry is None:
            return
        server, connections = entry
        server.close()
        for conn in list(connections):
            conn.close()
        await server.wait_closed()

    async def stop(self) -> None:
        for address in list(self._servers):
            await self.close(address)
