"""HTTP/1.1 for the Runtime API: an asyncio protocol over httptools' parser (llhttp).

The Runtime API is on every invoke's path twice (/next, /response) and speaks to one known
client, the runtime interface client, so it runs on a bare protocol instead of a web
framework: per request one parse and one write, no routing objects, no tasks. Each connection
belongs to one environment (one port per environment), so no lookup is needed either; when the
environment has a uid of its own, a connection from any other uid is refused as it is made.
Environments restored from one SnapStart snapshot share their template's port (the runtime
client read its address before the snapshot): there a `route` names the connection's
environment from the process that owns the peer socket, or refuses it.
Keep-alive, Content-Length and chunked bodies are handled by the parser.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from http import HTTPStatus

import httptools

from lambda_sandbox.runtime_api.channel import RuntimeChannel
from lambda_sandbox.runtime_api.endpoints import Request, dispatch, finish_stream, start_stream
from lambda_sandbox.runtime_api.peer import peer_uid
from lambda_sandbox.types import Invocation, ResponseStream

__all__ = ["Route", "RuntimeAPIProtocol"]

# a connection's environment, from its transport (None: it belongs to none of them)
Route = Callable[[asyncio.BaseTransport], RuntimeChannel | None]

_REASONS = {s.value: s.phrase for s in HTTPStatus}
_NOT_YOURS = (
    b'{"errorType":"AccessDenied","errorMessage":"This Runtime API belongs to another '
    b'execution environment."}'
)


class RuntimeAPIProtocol(asyncio.Protocol):
    def __init__(
        self,
        channel: RuntimeChannel,
        connections: set[RuntimeAPIProtocol],
        uid: int | None = None,
        route: Route | None = None,
    ) -> None:
        self.channel = channel
        self.uid = uid  # the environment's own: no other may connect
        self.route = route
        self.connections = connections
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._size = 0
        self._waiter: asyncio.Future[Invocation] | None = None
        self._headers_done = False
        self._stream: ResponseStream | None = None
        self._trailers: dict[str, str] = {}

    # asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.connections.add(self)
        if self.route is not None:
            channel = self.route(transport)
            if channel is None:
                self.send(403, _NOT_YOURS)
                self.close()
            else:
                self.channel = channel
        elif self.uid is not None:
            extra = transport.get_extra_info
            peer = peer_uid(extra("peername"), extra("sockname"))
            if peer != self.uid:
                self.send(403, _NOT_YOURS)
                self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        self.transport = None
        if self._waiter is not None and not self._waiter.done():
            self._waiter.cancel()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.send(400, b'{"errorType":"BadRequest","errorMessage":"malformed HTTP"}')
            self.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # httptools callbacks -------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._body = []
        self._size = 0
        self._headers_done = False
        self._stream = None
        self._trailers = {}

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        target = self._trailers if self._headers_done else self._headers
        target[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._headers_done = True
        if self._headers.get("lambda-runtime-function-response-mode", "").lower() == "streaming":
            path = self._url.decode("latin-1").split("?", 1)[0]
            self._stream = start_stream(self.channel, path, self._headers)

    def on_body(self, body: bytes) -> None:
        if self._stream is not None:
            self._stream.feed(body)
            return
        # kept up to one byte past the response limit (enough for the 413), the rest is read
        # and dropped: a 400 MB answer costs the sandbox 6 MB, not 400
        room = self.channel.max_response_bytes + 1 - self._size
        if room > 0:
            self._body.append(body[:room])
        self._size += len(body)

    def on_message_complete(self) -> None:
        if self._stream is not None:
            finish_stream(self._stream, self._trailers, self)
            return
        path = self._url.decode("latin-1").split("?", 1)[0]
        request = Request(
            method=self.parser.get_method().decode(),
            path=path,
            headers=self._headers,
            body=b"".join(self._body),
        )
        dispatch(self.channel, request, self)

    # Reply ---------------------------------------------------------------------------------
    def send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, '')}"]
        if headers:
            head += [f"{k}: {v}" for k, v in headers.items()]
        if not headers or "Content-Type" not in headers:
            head.append("Content-Type: application/json")
        head.append(f"Content-Length: {len(body)}")
        transport.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    def send_soon(self, status: int, body: bytes) -> None:
        asyncio.get_running_loop().call_soon(self.send, status, body)

    def on_invocation(
        self, waiter: asyncio.Future[Invocation], send: Callable[[Invocation], None]
    ) -> None:
        if waiter.done():
            send(waiter.result())
            return
        self._waiter = waiter

        def done(fut: asyncio.Future[Invocation]) -> None:
            self._waiter = None
            if not fut.cancelled():
                send(fut.result())

        waiter.add_done_callback(done)
