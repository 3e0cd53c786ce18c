"""Function URLs: each function with `FunctionUrlConfig` gets a port of its own, so the path the
client asks for is the event's rawPath unchanged (payload format 2.0, routeKey "$default").
BUFFERED answers are mapped as Lambda maps them; RESPONSE_STREAM ones go out chunk by chunk,
with Lambda's HTTP-integration prelude setting status and headers.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from lambda_sandbox.exceptions import LambdaAPIError
from lambda_sandbox.faces.http_events import MalformedResponse, answer_v2, event_v2
from lambda_sandbox.faces.http_io import json_answer, read_request, respond, url_id
from lambda_sandbox.service.function_state import UrlConfig
from lambda_sandbox.service.lambda_service import InvokeOutcome, LambdaService
from lambda_sandbox.types import ResponseStream

__all__ = ["PRELUDE_CONTENT_TYPE", "function_url_app"]

PRELUDE_CONTENT_TYPE = "application/vnd.awslambda.http-integration-response"
_PRELUDE_END = b"\0" * 8


_FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})


async def _stream_answer(request: web.Request, stream: ResponseStream) -> web.StreamResponse:
    """A RESPONSE_STREAM function URL: chunks go out as they arrive. A stream that starts with
    Lambda's HTTP-integration prelude (JSON, then 8 NUL bytes) sets status and headers."""
    chunks = stream.chunks()
    status, headers, first = 200, [("content-type", stream.content_type)], b""
    if stream.content_type == PRELUDE_CONTENT_TYPE:
        buffered = b""
        async for chunk in chunks:
            buffered += chunk
            if _PRELUDE_END in buffered:
                break
        prelude, _, first = buffered.partition(_PRELUDE_END)
        try:
            meta = json.loads(prelude or b"{}")
            status = int(meta.get("statusCode", 200))
            headers = [(str(k), str(v)) for k, v in (meta.get("headers") or {}).items()]
            headers += [("set-cookie", str(c)) for c in meta.get("cookies") or []]
        except (ValueError, TypeError, AttributeError):
            status, headers = 502, []
    response = web.StreamResponse(status=status)
    for key, value in headers:
        if key.lower() not in _FRAMING:  # the stream is chunked here, whatever it claimed
            response.headers.add(key, value)
    response.enable_chunked_encoding()
    await response.prepare(request)
    if first:
        await response.write(first)
    async for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response


def _url_answer(task: asyncio.Future[InvokeOutcome]) -> web.Response:
    """A finished function URL invocation as HTTP: the mapped answer, 502 for a function error
    or an answer that cannot be mapped, the Lambda API's own error otherwise (429, 413)."""
    try:
        outcome = task.result()
    except LambdaAPIError as exc:
        return web.Response(
            status=exc.status, text=json.dumps(exc.body()), content_type="application/json"
        )
    response: web.Response
    if outcome.function_error:
        response = web.Response(status=502, text="Internal Server Error")
    else:
        try:
            response = respond(answer_v2(outcome.payload))
        except MalformedResponse:
            response = web.Response(status=502, text="Internal Server Error")
    response.headers["x-amzn-RequestId"] = outcome.request_id  # as AWS's URLs answer
    return response


def function_url_app(
    service: LambdaService, function: str, max_body: int, url: UrlConfig
) -> web.Application:
    """The app of one URL configuration (a function's, or an alias's): its auth type and
    invoke mode are read per request, so UpdateFunctionUrlConfig applies at once."""
    domain = f"{url_id(function)}.lambda-url.{service.aws.region}.on.aws"

    async def handle(request: web.Request) -> web.StreamResponse:
        if (request.content_length or 0) > max_body:
            return json_answer(413, "Request Entity Too Large")
        req = await read_request(request)
        # AuthType NONE: no caller account (LocalStack's snapshot test_lambda_url_echo_http...)
        account = "anonymous" if url.auth_type == "NONE" else service.aws.account_id
        event = event_v2(
            req,
            route_key="$default",
            path_parameters=None,
            api_id=url_id(function),
            domain_name=domain,
            account_id=account,
        )
        body = json.dumps(event).encode()
        if url.invoke_mode == "RESPONSE_STREAM":
            return await _invoke_streaming(request, body)
        task = asyncio.ensure_future(service.invoke(function, body, qualifier=url.qualifier))
        await asyncio.wait([task])
        return _url_answer(task)

    async def _invoke_streaming(request: web.Request, body: bytes) -> web.StreamResponse:
        started: asyncio.Future[ResponseStream] = asyncio.get_running_loop().create_future()

        def on_stream(stream: ResponseStream) -> None:
            if not started.done():
                started.set_result(stream)

        task = asyncio.ensure_future(
            service.invoke(function, body, on_stream=on_stream, qualifier=url.qualifier)
        )
        waiting: list[asyncio.Future[Any]] = [started, task]
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if started.done():
            response = await _stream_answer(request, started.result())
            await task
            return response
        started.cancel()
        return _url_answer(task)

    app = web.Application(client_max_size=max_body)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app
