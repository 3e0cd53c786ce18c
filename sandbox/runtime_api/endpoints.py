"""The Lambda Runtime API (2018-06-01) endpoints, one handler per endpoint.

Each request is routed to the `RuntimeChannel` of the environment whose port it arrived on.
Status codes and bodies follow the Runtime API documentation (202 Accepted for posts, 400
for an unknown request id, 413 for an oversize response). This API is on every invoke's path,
so `dispatch` maps the few fixed paths itself on aiohttp's low-level server (no router, no
middleware): every layer of Python here shows up in the invoke-overhead benchmark.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from aiohttp import web

from sandbox.runtime_api.channel import RuntimeChannel

__all__ = ["dispatcher"]

PREFIX = "/2018-06-01/runtime"

ChannelLookup = Callable[[web.BaseRequest], RuntimeChannel | None]
Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


def _error(status: int, error_type: str, message: str) -> web.Response:
    body = json.dumps({"errorMessage": message, "errorType": error_type})
    return web.Response(status=status, text=body, content_type="application/json")


def _accepted() -> web.Response:
    return web.Response(status=202, text='{"status":"OK"}', content_type="application/json")


def dispatcher(lookup: ChannelLookup) -> Handler:
    """The low-level handler: path -> endpoint, request -> the environment's channel."""

    async def invocation_next(request: web.BaseRequest, channel: RuntimeChannel) -> web.Response:
        invocation = await channel.next()
        return web.Response(body=invocation.payload, headers=invocation.headers())

    async def invocation_response(
        request: web.BaseRequest, channel: RuntimeChannel, request_id: str
    ) -> web.Response:
        if not channel.knows(request_id):
            return _error(400, "InvalidRequestID", f"Invalid request ID: {request_id}")
        size = request.content_length
        limit = channel.max_response_bytes
        if size is not None and size > limit:
            channel.fail(  # the runtime client gives up on a 413: the environment is replaced
                "Function.ResponseSizeTooLarge",
                json.dumps(
                    {
                        "errorMessage": "Response payload size exceeded maximum allowed "
                        f"payload size ({limit + 100} bytes).",
                        "errorType": "Function.ResponseSizeTooLarge",
                    }
                ).encode(),
                fatal=True,
            )
            return _error(
                413,
                "RequestEntityTooLarge",
                f"Exceeded maximum allowed payload size ({limit + 100} bytes).",
            )
        channel.respond(await request.read())
        # Let the waiting invoke answer its caller before this 202 goes out: the caller is
        # the one measuring latency; the runtime only needs the 202 before its next poll.
        await asyncio.sleep(0)
        return _accepted()

    async def invocation_error(
        request: web.BaseRequest, channel: RuntimeChannel, request_id: str
    ) -> web.Response:
        if not channel.knows(request_id):
            return _error(400, "InvalidRequestID", f"Invalid request ID: {request_id}")
        body = await request.read()
        channel.fail(_error_type(request, body), body)
        return _accepted()

    async def init_error(request: web.BaseRequest, channel: RuntimeChannel) -> web.Response:
        body = await request.read()
        channel.init_failed(_error_type(request, body), body)
        return _accepted()

    next_path = f"{PREFIX}/invocation/next"
    invocation_prefix = f"{PREFIX}/invocation/"
    init_error_path = f"{PREFIX}/init/error"

    async def dispatch(request: web.BaseRequest) -> web.StreamResponse:
        channel = lookup(request)
        if channel is None:
            return _error(404, "UnknownEnvironment", "No execution environment on this port")
        path, method = request.path, request.method
        if path == next_path and method == "GET":
            return await invocation_next(request, channel)
        if method == "POST" and path.startswith(invocation_prefix):
            request_id, _, action = path[len(invocation_prefix) :].partition("/")
            if action == "response":
                return await invocation_response(request, channel, request_id)
            if action == "error":
                return await invocation_error(request, channel, request_id)
        if path == init_error_path and method == "POST":
            return await init_error(request, channel)
        return _error(404, "NotFound", f"{method} {path} is not a Runtime API endpoint")

    return dispatch


def _error_type(request: web.BaseRequest, body: bytes) -> str:
    """The error type from Lambda-Runtime-Function-Error-Type, else the body's errorType."""
    header = request.headers.get("Lambda-Runtime-Function-Error-Type")
    if header:
        return header
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        return "Runtime.Unknown"
    if isinstance(parsed, dict) and isinstance(parsed.get("errorType"), str):
        return parsed["errorType"]
    return "Runtime.Unknown"
