"""The Lambda Runtime API (2018-06-01) endpoints, one handler per endpoint.

Each request is routed to the `RuntimeChannel` of the environment whose port it arrived on.
Status codes and bodies follow the Runtime API documentation (202 Accepted for posts, 400
for an unknown request id, 413 for an oversize response).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from aiohttp import web

from sandbox.runtime_api.channel import RuntimeChannel

__all__ = ["routes"]

PREFIX = "/2018-06-01/runtime"

ChannelLookup = Callable[[web.Request], RuntimeChannel | None]


def _error(status: int, error_type: str, message: str) -> web.Response:
    body = json.dumps({"errorMessage": message, "errorType": error_type})
    return web.Response(status=status, text=body, content_type="application/json")


def _accepted() -> web.Response:
    return web.Response(status=202, text='{"status":"OK"}', content_type="application/json")


def routes(lookup: ChannelLookup) -> list[web.RouteDef]:
    def channel_of(request: web.Request) -> RuntimeChannel:
        channel = lookup(request)
        if channel is None:
            raise web.HTTPNotFound(text='{"errorType":"UnknownEnvironment"}')
        return channel

    async def invocation_next(request: web.Request) -> web.Response:
        channel = channel_of(request)
        invocation = await channel.next()
        return web.Response(body=invocation.payload, headers=invocation.headers())

    async def invocation_response(request: web.Request) -> web.Response:
        channel = channel_of(request)
        request_id = request.match_info["request_id"]
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
        return _accepted()

    async def invocation_error(request: web.Request) -> web.Response:
        channel = channel_of(request)
        request_id = request.match_info["request_id"]
        if not channel.knows(request_id):
            return _error(400, "InvalidRequestID", f"Invalid request ID: {request_id}")
        body = await request.read()
        channel.fail(_error_type(request, body), body)
        return _accepted()

    async def init_error(request: web.Request) -> web.Response:
        channel = channel_of(request)
        body = await request.read()
        channel.init_failed(_error_type(request, body), body)
        return _accepted()

    return [
        web.get(f"{PREFIX}/invocation/next", invocation_next),
        web.post(f"{PREFIX}/invocation/{{request_id}}/response", invocation_response),
        web.post(f"{PREFIX}/invocation/{{request_id}}/error", invocation_error),
        web.post(f"{PREFIX}/init/error", init_error),
    ]


def _error_type(request: web.Request, body: bytes) -> str:
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
