"""The Lambda Runtime API (2018-06-01) endpoints, one handler per endpoint.

Each handler gets the environment's `RuntimeChannel`, the request and a `Reply` to answer on.
Status codes and bodies follow the Runtime API documentation: 200 with the event and its
Lambda-Runtime-* headers for /next, 202 Accepted for the posts, 400 for an unknown request id,
413 for an oversize response.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from lambda_sandbox.exceptions import FunctionErrorType
from lambda_sandbox.runtime_api.channel import RuntimeChannel
from lambda_sandbox.types import Invocation, ResponseStream

__all__ = ["Reply", "Request", "dispatch", "finish_stream", "start_stream"]

PREFIX = "/2018-06-01/runtime"
NEXT_PATH = f"{PREFIX}/invocation/next"
INVOCATION_PREFIX = f"{PREFIX}/invocation/"
INIT_ERROR_PATH = f"{PREFIX}/init/error"
RESTORE_ERROR_PATH = f"{PREFIX}/restore/error"  # an after-restore hook failed (SnapStart)
ACCEPTED = b'{"status":"OK"}'


@dataclass(slots=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes


class Reply(Protocol):
    def send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None: ...

    def send_soon(self, status: int, body: bytes) -> None:
        """Answer in the next loop turn (after what the current one wakes up)."""

    def on_invocation(
        self, waiter: asyncio.Future[Invocation], send: Callable[[Invocation], None]
    ) -> None: ...


def _error(reply: Reply, status: int, error_type: str, message: str) -> None:
    reply.send(status, json.dumps({"errorMessage": message, "errorType": error_type}).encode())


def invocation_next(channel: RuntimeChannel, request: Request, reply: Reply) -> None:
    def send(invocation: Invocation) -> None:
        reply.send(200, invocation.payload, invocation.headers())

    reply.on_invocation(channel.next(), send)


def invocation_response(
    channel: RuntimeChannel, request: Request, reply: Reply, request_id: str
) -> None:
    if not channel.knows(request_id):
        return _error(reply, 400, "InvalidRequestID", f"Invalid request ID: {request_id}")
    limit = channel.max_response_bytes
    if len(request.body) > limit:
        message = f"Exceeded maximum allowed payload size ({limit} bytes)."
        body = {
            "errorMessage": "Response payload size exceeded maximum allowed payload size "
            f"({limit} bytes).",
            "errorType": FunctionErrorType.RESPONSE_TOO_LARGE,
        }
        # the runtime client gives up on a 413: the environment is replaced
        channel.fail(FunctionErrorType.RESPONSE_TOO_LARGE, json.dumps(body).encode(), fatal=True)
        return _error(reply, 413, "RequestEntityTooLarge", message)
    channel.respond(request.body)
    # The waiting invoke answers its caller before this 202 goes out: the caller is the one
    # measuring latency; the runtime only needs the 202 before its next poll.
    reply.send_soon(202, ACCEPTED)
    return None


def start_stream(
    channel: RuntimeChannel, path: str, headers: dict[str, str]
) -> ResponseStream | None:
    """POST .../response with Lambda-Runtime-Function-Response-Mode: streaming: the body is
    passed on chunk by chunk as it arrives (up to the streamed-response limit)."""
    request_id, _, action = path.removeprefix(INVOCATION_PREFIX).partition("/")
    if action != "response" or not channel.knows(request_id):
        return None  # answered as a plain request: 400 for the unknown request id
    content_type = headers.get("content-type", "application/octet-stream")
    return channel.stream(content_type, channel.max_stream_bytes)


def finish_stream(stream: ResponseStream, trailers: dict[str, str], reply: Reply) -> None:
    """The chunked body ended; an error, if any, came in the trailers."""
    error_type = trailers.get("lambda-runtime-function-error-type")
    body = b""
    if error_type:
        try:
            body = base64.b64decode(trailers.get("lambda-runtime-function-error-body", ""))
        except ValueError:
            body = b""
    stream.finish(error_type or None, body)
    reply.send_soon(202, ACCEPTED)


def invocation_error(
    channel: RuntimeChannel, request: Request, reply: Reply, request_id: str
) -> None:
    if not channel.knows(request_id):
        return _error(reply, 400, "InvalidRequestID", f"Invalid request ID: {request_id}")
    channel.fail(_error_type(request), request.body)
    reply.send_soon(202, ACCEPTED)
    return None


def init_error(channel: RuntimeChannel, request: Request, reply: Reply) -> None:
    channel.init_failed(_error_type(request), request.body)
    reply.send(202, ACCEPTED)


def dispatch(channel: RuntimeChannel, request: Request, reply: Reply) -> None:
    """Path and method -> endpoint."""
    method, path = request.method, request.path
    if method == "GET" and path == NEXT_PATH:
        return invocation_next(channel, request, reply)
    if method == "POST" and path.startswith(INVOCATION_PREFIX):
        request_id, _, action = path[len(INVOCATION_PREFIX) :].partition("/")
        if action == "response":
            return invocation_response(channel, request, reply, request_id)
        if action == "error":
            return invocation_error(channel, request, reply, request_id)
    if method == "POST" and path in (INIT_ERROR_PATH, RESTORE_ERROR_PATH):
        return init_error(channel, request, reply)
    return _error(reply, 404, "NotFound", f"{method} {path} is not a Runtime API endpoint")


def _error_type(request: Request) -> str:
    """The error type from Lambda-Runtime-Function-Error-Type, else the body's errorType."""
    header = request.headers.get("lambda-runtime-function-error-type")
    if header:
        return header
    try:
        parsed = json.loads(request.body or b"{}")
    except ValueError:
        return FunctionErrorType.UNKNOWN
    if isinstance(parsed, dict) and isinstance(parsed.get("errorType"), str):
        return parsed["errorType"]
    return FunctionErrorType.UNKNOWN
