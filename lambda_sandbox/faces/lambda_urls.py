"""The Lambda API's function URL configurations: Create, Get, Update, Delete and
ListFunctionUrlConfigs (the rules: service/url_configs.py). A URL made here is served at once,
on a port of its own; its FunctionUrl is where (http://127.0.0.1:PORT/)."""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from lambda_sandbox.exceptions import ResourceNotFoundException
from lambda_sandbox.faces.lambda_api import json_body, json_response, page_response
from lambda_sandbox.service import url_configs
from lambda_sandbox.service.function_state import FunctionState, UrlConfig
from lambda_sandbox.service.lambda_service import LambdaService
from lambda_sandbox.service.registry import parse_name

__all__ = ["UrlServer", "url_config_routes"]


class UrlServer(Protocol):
    """What serves function URLs (the Gateway)."""

    async def serve_url(self, function: str, url: UrlConfig) -> str: ...

    async def stop_url(self, function: str, qualifier: str | None) -> None: ...


def url_config_routes(service: LambdaService, server: UrlServer) -> list[web.RouteDef]:
    def target(request: web.Request) -> tuple[FunctionState | None, str | None]:
        name, qualifier = parse_name(
            request.match_info["name"], request.query.get("Qualifier"), service.aws.region
        )
        return service.functions.get(name), qualifier

    async def create(request: web.Request) -> web.Response:
        latest, qualifier = target(request)
        body = await json_body(request)
        url = url_configs.create_url_config(latest, qualifier, body)
        assert latest is not None
        await server.serve_url(latest.name, url)
        return json_response(
            url.describe(latest.arn, invoke_mode="InvokeMode" in body, modified=False), 201
        )

    async def get(request: web.Request) -> web.Response:
        latest, qualifier = target(request)
        url = url_configs.url_config_of(latest, qualifier)
        assert latest is not None
        return json_response(url.describe(latest.arn))

    async def update(request: web.Request) -> web.Response:
        latest, qualifier = target(request)
        url = url_configs.url_config_of(latest, qualifier, missing_function=url_configs.NO_FUNCTION)
        body = await json_body(request)
        url.apply(body)
        assert latest is not None
        return json_response(url.describe(latest.arn, invoke_mode="InvokeMode" in body))

    async def delete(request: web.Request) -> web.Response:
        latest, qualifier = target(request)
        url_configs.url_config_of(latest, qualifier)
        assert latest is not None
        del latest.url_configs[qualifier]
        await server.stop_url(latest.name, qualifier)
        return web.Response(status=204)

    async def list_configs(request: web.Request) -> web.Response:
        latest, _ = target(request)
        if latest is None:
            raise ResourceNotFoundException(url_configs.NO_FUNCTION)
        items = [url.describe(latest.arn) for url in latest.url_configs.values()]
        return page_response(request, "FunctionUrlConfigs", items)

    base = "/2021-10-31/functions/{name}"
    return [
        web.post(f"{base}/url", create),
        web.get(f"{base}/url", get),
        web.put(f"{base}/url", update),
        web.delete(f"{base}/url", delete),
        web.get(f"{base}/urls", list_configs),
    ]
