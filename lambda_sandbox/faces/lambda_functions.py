"""The Lambda API's function management: CreateFunction, UpdateFunctionCode, DeleteFunction,
GetAccountSettings and the resource policy (AddPermission, GetPolicy, RemovePermission: kept,
not enforced) (the state machine and the store are the service's:
function_lifecycle.py). A function created here lives beside those of the function folders and
templates, and is kept in the project's state folder for the next `sandbox up`."""

from __future__ import annotations

import json

from aiohttp import web

from lambda_sandbox.faces.lambda_api import function_configuration, json_body, json_response
from lambda_sandbox.service import permissions
from lambda_sandbox.service.lambda_service import LambdaService

__all__ = ["function_routes"]


def function_routes(service: LambdaService) -> list[web.RouteDef]:
    async def create(request: web.Request) -> web.Response:
        state = await service.create_function(await json_body(request))
        # with Publish, the answer is version 1's, under the function's unqualified ARN
        return json_response(function_configuration(state, state.arn), 201)

    async def update_code(request: web.Request) -> web.Response:
        body = await json_body(request)
        state = await service.update_function_code(request.match_info["name"], body)
        return json_response(function_configuration(state))

    async def delete(request: web.Request) -> web.Response:
        await service.delete_function(request.match_info["name"], request.query.get("Qualifier"))
        return web.Response(status=204)

    async def account_settings(request: web.Request) -> web.Response:
        limits = service.limits
        functions = list(service.functions.values())
        return json_response(
            {
                "AccountLimit": {
                    "TotalCodeSize": 80530636800,
                    "CodeSizeUnzipped": limits.q("package", "unzipped_mb") << 20,
                    "CodeSizeZipped": limits.q("package", "zipped_direct_upload_mb") << 20,
                    "ConcurrentExecutions": service.account_concurrency,
                    "UnreservedConcurrentExecutions": service.account_concurrency
                    - service.concurrency.reserved_total,
                },
                "AccountUsage": {
                    "TotalCodeSize": sum(v.code_size for f in functions for v in f.all_versions()),
                    "FunctionCount": len(functions),
                },
            }
        )

    async def add_permission(request: web.Request) -> web.Response:
        body = await json_body(request)
        if "Qualifier" in request.query:
            body["Qualifier"] = request.query["Qualifier"]
        statement = permissions.add_permission(service.registry, request.match_info["name"], body)
        return json_response({"Statement": json.dumps(statement, separators=(",", ":"))}, 201)

    async def get_policy(request: web.Request) -> web.Response:
        return json_response(
            permissions.get_policy(
                service.registry, request.match_info["name"], request.query.get("Qualifier")
            )
        )

    async def remove_permission(request: web.Request) -> web.Response:
        permissions.remove_permission(
            service.registry,
            request.match_info["name"],
            request.match_info["sid"],
            request.query.get("Qualifier"),
        )
        return web.Response(status=204)

    return [
        web.post("/2015-03-31/functions/{name}/policy", add_permission),
        web.get("/2015-03-31/functions/{name}/policy", get_policy),
        web.delete("/2015-03-31/functions/{name}/policy/{sid}", remove_permission),
        web.post("/2015-03-31/functions", create),
        web.post("/2015-03-31/functions/", create),
        web.put("/2015-03-31/functions/{name}/code", update_code),
        web.delete("/2015-03-31/functions/{name}", delete),
        web.get("/2016-08-19/account-settings", account_settings),
        web.get("/2016-08-19/account-settings/", account_settings),
    ]
