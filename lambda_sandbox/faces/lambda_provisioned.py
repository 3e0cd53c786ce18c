"""The Lambda API's provisioned concurrency: Put, Get, Delete and
ListProvisionedConcurrencyConfigs (the rules and the environments: service/provisioned.py)."""

from __future__ import annotations

from aiohttp import web

from lambda_sandbox.faces.lambda_api import (
    json_body,
    json_response,
    page_response,
    qualified_target,
)
from lambda_sandbox.service.lambda_service import LambdaService

__all__ = ["provisioned_routes"]

BASE = "/2019-09-30/functions/{name}/provisioned-concurrency"


def provisioned_routes(service: LambdaService) -> list[web.RouteDef]:
    pool = service.provisioned

    async def put_config(request: web.Request) -> web.Response:
        latest, qualifier, arn = qualified_target(request, service)
        body = await json_body(request)
        config = pool.put(latest, arn, qualifier, body.get("ProvisionedConcurrentExecutions"))
        return json_response(config.body(), status=202)

    async def get_or_list(request: web.Request) -> web.Response:
        latest, qualifier, arn = qualified_target(request, service)
        if request.query.get("List") == "ALL":  # ListProvisionedConcurrencyConfigs
            if latest is None:
                service.get(request.match_info["name"])  # AWS's not-found answer
            assert latest is not None
            items = [c.body(f"{arn}:{q}") for q, c in sorted(latest.provisioned.items())]
            return page_response(request, "ProvisionedConcurrencyConfigs", items)
        return json_response(pool.get(latest, arn, qualifier).body())

    async def delete_config(request: web.Request) -> web.Response:
        latest, qualifier, arn = qualified_target(request, service)
        pool.delete(latest, arn, qualifier)
        return web.Response(status=204)

    return [
        web.put(BASE, put_config),
        web.get(BASE, get_or_list),
        web.delete(BASE, delete_config),
    ]
