"""Function URLs and API Gateway: HTTP in, Lambda events through the service, HTTP out.

- Function URLs: each function with `FunctionUrlConfig` gets a port of its own, so the path the
  client asks for is the event's rawPath unchanged (payload 2.0, routeKey "$default").
- API Gateway: one port for the routes declared as SAM `Events` (`Api`: a REST API, payload 1.0,
  stage "Prod"; `HttpApi`: an HTTP API, payload 2.0 by default), with path parameters and greedy
  `{proxy+}`, the integration timeout (29 s, or the event's TimeoutInMillis) answering 504, a
  function error or a malformed answer 502, a body over 10 MB 413, a throttle 429.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from sandbox.definitions import FunctionConfig
from sandbox.exceptions import LambdaAPIError, TooManyRequestsException
from sandbox.faces.http_events import (
    HttpAnswer,
    HttpRequest,
    MalformedResponse,
    answer_v1,
    answer_v2,
    event_v1,
    event_v2,
)
from sandbox.service.lambda_service import InvokeOutcome, LambdaService
from sandbox.types import ResponseStream

__all__ = ["ApiRoute", "api_gateway_app", "api_routes", "function_url_app", "url_id"]

_PARAM = re.compile(r"\{([A-Za-z0-9_.\-]+)(\+?)\}")


def url_id(function: str) -> str:
    """A stable 32-character id, like the one in https://<id>.lambda-url.<region>.on.aws/."""
    return hashlib.sha256(function.encode()).hexdigest()[:32]


def _json_answer(status: int, message: str) -> web.Response:
    return web.Response(
        status=status, text=json.dumps({"message": message}), content_type="application/json"
    )


async def _request(request: web.BaseRequest) -> HttpRequest:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    path, _, query = request.raw_path.partition("?")
    return HttpRequest(
        method=request.method,
        path=path,
        query=query,
        headers=list(request.headers.items()),
        body=await request.read(),
        source_ip=peer[0] if peer else "127.0.0.1",
        protocol=f"HTTP/{request.version.major}.{request.version.minor}",
    )


def _respond(answer: HttpAnswer) -> web.Response:
    response = web.Response(status=answer.status, body=answer.body)
    for key, value in answer.headers:
        if key.lower() == "content-length":
            continue
        response.headers.add(key, value)
    return response


# ----------------------------------------------------------------------------- function URLs
PRELUDE_CONTENT_TYPE = "application/vnd.awslambda.http-integration-response"
_PRELUDE_END = b"\0" * 8


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
    if outcome.function_error:
        return web.Response(status=502, text="Internal Server Error")
    try:
        return _respond(answer_v2(outcome.payload))
    except MalformedResponse:
        return web.Response(status=502, text="Internal Server Error")


def function_url_app(
    service: LambdaService, function: str, max_body: int, streaming: bool = False
) -> web.Application:
    domain = f"{url_id(function)}.lambda-url.{service.aws.region}.on.aws"

    async def handle(request: web.Request) -> web.StreamResponse:
        if (request.content_length or 0) > max_body:
            return _json_answer(413, "Request Entity Too Large")
        req = await _request(request)
        event = event_v2(
            req,
            route_key="$default",
            path_parameters=None,
            api_id=url_id(function),
            domain_name=domain,
            account_id=service.aws.account_id,
        )
        body = json.dumps(event).encode()
        if streaming:
            return await _invoke_streaming(request, body)
        task = asyncio.ensure_future(service.invoke(function, body))
        await asyncio.wait([task])
        return _url_answer(task)

    async def _invoke_streaming(request: web.Request, body: bytes) -> web.StreamResponse:
        started: asyncio.Future[ResponseStream] = asyncio.get_running_loop().create_future()

        def on_stream(stream: ResponseStream) -> None:
            if not started.done():
                started.set_result(stream)

        task = asyncio.ensure_future(service.invoke(function, body, on_stream=on_stream))
        await asyncio.wait([started, task], return_when=asyncio.FIRST_COMPLETED)
        if started.done():
            response = await _stream_answer(request, started.result())
            await task
            return response
        started.cancel()
        return _url_answer(task)

    app = web.Application(client_max_size=max_body)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


# ----------------------------------------------------------------------------- API Gateway
@dataclass(frozen=True)
class ApiRoute:
    function: str
    kind: str  # "rest" (Api, payload 1.0) or "http" (HttpApi)
    method: str  # upper case, or "ANY"
    path: str  # the template, e.g. /items/{id} or /{proxy+}; "$default" for a catch-all
    payload_version: str
    timeout_s: float
    pattern: re.Pattern[str]

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"

    def specificity(self) -> tuple[int, int, int]:
        greedy = "+}" in self.path or self.path == "$default"
        return (int(greedy), self.path.count("{"), -len(self.path))


def _compile(path: str) -> re.Pattern[str]:
    if path == "$default":
        return re.compile(r"^/.*$")
    out, pos = "", 0
    for m in _PARAM.finditer(path):
        out += re.escape(path[pos : m.start()])
        name = m.group(1).replace("-", "_").replace(".", "_")
        out += f"(?P<{name}>.+)" if m.group(2) else f"(?P<{name}>[^/]+)"
        pos = m.end()
    out += re.escape(path[pos:])
    return re.compile(f"^{out}/?$")


def api_routes(configs: list[FunctionConfig], default_timeout_s: float) -> list[ApiRoute]:
    """Routes from the functions' SAM-style `Events` (Api and HttpApi)."""
    routes = []
    for cfg in configs:
        for event in cfg.events.values():
            if not isinstance(event, dict) or event.get("Type") not in ("Api", "HttpApi"):
                continue
            props = event.get("Properties") or {}
            kind = "rest" if event["Type"] == "Api" else "http"
            path = str(props.get("Path", "$default" if kind == "http" else "/"))
            method = str(props.get("Method", "ANY")).upper()
            method = "ANY" if method in ("ANY", "X-AMAZON-APIGATEWAY-ANY-METHOD") else method
            version = "1.0" if kind == "rest" else str(props.get("PayloadFormatVersion", "2.0"))
            timeout = props.get("TimeoutInMillis")
            routes.append(
                ApiRoute(
                    function=cfg.name,
                    kind=kind,
                    method=method,
                    path=path,
                    payload_version=version,
                    timeout_s=min(float(timeout) / 1000, default_timeout_s)
                    if timeout
                    else default_timeout_s,
                    pattern=_compile(path),
                )
            )
    return sorted(routes, key=ApiRoute.specificity)


def _match(
    routes: list[ApiRoute], method: str, path: str
) -> tuple[ApiRoute, dict[str, str]] | None:
    for route in routes:
        if route.method not in ("ANY", method):
            continue
        m = route.pattern.match(path)
        if m:
            names = [n.group(1) for n in _PARAM.finditer(route.path)]
            return route, dict(zip(names, m.groups(), strict=False))
    return None


def api_gateway_app(
    service: LambdaService, routes: list[ApiRoute], max_body: int, stage: str = "Prod"
) -> web.Application:
    api_id = url_id("api")[:10]
    domain = f"{api_id}.execute-api.{service.aws.region}.amazonaws.com"

    async def handle(request: web.Request) -> web.StreamResponse:
        if (request.content_length or 0) > max_body:
            return _json_answer(413, "Request Entity Too Large")
        req = await _request(request)
        found = _match(routes, req.method, req.path)
        if found is None:
            return _json_answer(
                404 if not any(r.pattern.match(req.path) for r in routes) else 403,
                "Not Found" if not routes else "Missing Authentication Token",
            )
        route, params = found
        event: dict[str, Any]
        if route.payload_version == "1.0":
            event = event_v1(
                req,
                resource=route.path,
                path_parameters=params,
                api_id=api_id,
                domain_name=domain,
                account_id=service.aws.account_id,
                stage=stage,
            )
        else:
            event = event_v2(
                req,
                route_key=route.route_key,
                path_parameters=params,
                api_id=api_id,
                domain_name=domain,
                account_id=service.aws.account_id,
            )
        # The integration timeout: the gateway stops waiting; the function runs on (shielded).
        task = asyncio.ensure_future(service.invoke(route.function, json.dumps(event).encode()))
        try:
            outcome = await asyncio.wait_for(asyncio.shield(task), route.timeout_s)
        except TimeoutError:
            return _json_answer(504, "Endpoint request timed out")
        except TooManyRequestsException:
            return _json_answer(429, "Too Many Requests")
        except LambdaAPIError:
            return _json_answer(500, "Internal server error")
        if outcome.function_error:
            return _json_answer(502, "Internal server error")
        try:
            answer = (
                answer_v1(outcome.payload)
                if route.payload_version == "1.0"
                else answer_v2(outcome.payload)
            )
        except MalformedResponse:
            return _json_answer(502, "Internal server error")
        return _respond(answer)

    app = web.Application(client_max_size=max_body)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app
