"""The Lambda API's event invoke configurations: Put, Get, Update, Delete and
ListFunctionEventInvokeConfigs (the rules: service/event_invoke_configs.py; the queue that
applies them: service/async_events.py)."""

from __future__ import annotations

from aiohttp import web

from lambda_sandbox.faces.lambda_api import (
    json_body,
    json_response,
    page_response,
    qualified_target,
)
from lambda_sandbox.service import event_invoke_configs as configs
from lambda_sandbox.service.function_state import FunctionState
from lambda_sandbox.service.lambda_service import LambdaService

__all__ = ["event_config_routes"]


def event_config_routes(service: LambdaService) -> list[web.RouteDef]:
    def target(request: web.Request) -> tuple[FunctionState | None, str | None, str]:
        return qualified_target(request, service)

    def exists(name: str) -> bool:
        return name in service.functions

    async def put(request: web.Request, *, replace: bool) -> web.Response:
        latest, qualifier, arn = target(request)
        body = await json_body(request)
        config = configs.put_config(latest, qualifier, body, exists, replace=replace)
        return json_response(config.describe(arn))

    async def put_config(request: web.Request) -> web.Response:
        return await put(request, replace=True)

    async def update_config(request: web.Request) -> web.Response:
        return await put(request, replace=False)

    async def get_config(request: web.Request) -> web.Response:
        latest, qualifier, arn = target(request)
        return json_response(configs.get_config(latest, qualifier, arn).describe(arn))

    async def delete_config(request: web.Request) -> web.Response:
        latest, qualifier, arn = target(request)
        configs.delete_config(latest, qualifier, arn)
        return web.Response(status=204)

    async def list_configs(request: web.Request) -> web.Response:
        latest, _, _ = target(request)
        items = configs.list_configs(latest)
        return page_response(request, "FunctionEventInvokeConfigs", items)

    base = "/2019-09-25/functions/{name}/event-invoke-config"
    return [
        web.put(base, put_config),
        web.post(base, update_config),
        web.get(base, get_config),
        web.delete(base, delete_config),
        web.get(f"{base}/list", list_configs),
    ]
