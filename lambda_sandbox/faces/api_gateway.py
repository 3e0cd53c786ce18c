"""API Gateway: one port for the routes declared as SAM `Events` (lambda_sandbox.config.api_routes).

`Api` events are a REST API (payload 1.0, stage "Prod"), `HttpApi` events an HTTP API (payload
2.0 by default); path parameters and greedy `{proxy+}`; the integration timeout (29 s, or the
event's TimeoutInMillis) answers 504, a function error or a malformed answer 502, a body over
10 MB 413, a throttle 429.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from lambda_sandbox.config.api_routes import PATH_PARAMETER, ApiRoute
from lambda_sandbox.exceptions import LambdaAPIError, TooManyRequestsException
from lambda_sandbox.faces.http_events import (
    MalformedResponse,
    answer_v1,
    answer_v2,
    event_v1,
    event_v2,
)
from lambda_sandbox.faces.http_io import json_answer, read_request, respond, url_id
from lambda_sandbox.service.lambda_service import LambdaService

__all__ = ["api_gateway_app"]


def _match(
    routes: list[ApiRoute], method: str, path: str
) -> tuple[ApiRoute, dict[str, str]] | None:
    for route in routes:
        if route.method not in ("ANY", method):
            continue
        m = route.pattern.match(path)
        if m:
            names = [n.group(1) for n in PATH_PARAMETER.finditer(route.path)]
            return route, dict(zip(names, m.groups(), strict=False))
    return None


def api_gateway_app(
    service: LambdaService, routes: list[ApiRoute], max_body: int, stage: str = "Prod"
) -> web.Application:
    api_id = url_id("api")[:10]
    domain = f"{api_id}.execute-api.{service.aws.region}.amazonaws.com"

    async def handle(request: web.Request) -> web.StreamResponse:
        if (request.content_length or 0) > max_body:
            return json_answer(413, "Request Entity Too Large")
        req = await read_request(request)
        found = _match(routes, req.method, req.path)
        if found is None:
            return json_answer(
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
            return json_answer(504, "Endpoint request timed out")
        except TooManyRequestsException:
            return json_answer(429, "Too Many Requests")
        except LambdaAPIError:
            return json_answer(500, "Internal server error")
        if outcome.function_error:
            return json_answer(502, "Internal server error")
        try:
            answer = (
                answer_v1(outcome.payload)
                if route.payload_version == "1.0"
                else answer_v2(outcome.payload)
            )
        except MalformedResponse:
            return json_answer(502, "Internal server error")
        return respond(answer)

    app = web.Application(client_max_size=max_body)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app
