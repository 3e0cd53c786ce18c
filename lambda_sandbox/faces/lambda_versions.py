"""The Lambda API's versions and aliases: PublishVersion, ListVersionsByFunction, CreateAlias,
GetAlias, UpdateAlias, DeleteAlias, ListAliases (the rules are the service's: versions.py)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from lambda_sandbox.exceptions import ResourceNotFoundException
from lambda_sandbox.faces.lambda_api import (
    function_configuration,
    json_body,
    json_response,
    page_response,
)
from lambda_sandbox.service import versions
from lambda_sandbox.service.function_state import Alias
from lambda_sandbox.service.lambda_service import LambdaService

__all__ = ["alias_configuration", "version_routes"]


def alias_configuration(arn: str, alias: Alias) -> dict[str, Any]:
    out: dict[str, Any] = {
        "AliasArn": f"{arn}:{alias.name}",
        "Name": alias.name,
        "FunctionVersion": alias.function_version,
        "Description": alias.description,
        "RevisionId": alias.revision_id,
    }
    if alias.weights:
        out["RoutingConfig"] = {"AdditionalVersionWeights": dict(alias.weights)}
    return out


def version_routes(service: LambdaService) -> list[web.RouteDef]:
    async def publish(request: web.Request) -> web.Response:
        body = await json_body(request)
        version = service.publish_version(
            request.match_info["name"],
            body.get("Description"),
            body.get("CodeSha256"),
            body.get("RevisionId"),
        )
        return json_response(function_configuration(version), 201)

    async def list_versions(request: web.Request) -> web.Response:
        latest = service.get(request.match_info["name"])
        items = [function_configuration(v, listing=True) for v in latest.all_versions()]
        return page_response(request, "Versions", items)

    async def create_alias(request: web.Request) -> web.Response:
        body = await json_body(request)
        try:
            latest = service.get(request.match_info["name"])
        except ResourceNotFoundException as exc:  # AWS names the version it was asked for
            raise ResourceNotFoundException(
                f"{exc.message}:{body.get('FunctionVersion')}"
            ) from None
        alias = versions.create_alias(
            latest,
            str(body.get("Name", "")),
            str(body.get("FunctionVersion", "")),
            str(body.get("Description", "")),
            body.get("RoutingConfig"),
        )
        return json_response(alias_configuration(latest.arn, alias), 201)

    async def get_alias(request: web.Request) -> web.Response:
        latest = service.get(request.match_info["name"])
        alias = versions.get_alias(latest, request.match_info["alias"])
        return json_response(alias_configuration(latest.arn, alias))

    async def update_alias(request: web.Request) -> web.Response:
        latest = service.get(request.match_info["name"])
        body = await json_body(request)
        alias = versions.update_alias(
            latest,
            request.match_info["alias"],
            body.get("FunctionVersion"),
            body.get("Description"),
            body.get("RoutingConfig"),
            body.get("RevisionId"),
        )
        return json_response(alias_configuration(latest.arn, alias))

    async def delete_alias(request: web.Request) -> web.Response:
        latest = service.get(request.match_info["name"])
        versions.delete_alias(latest, request.match_info["alias"])
        service.provisioned.forget_alias(latest, request.match_info["alias"])
        return web.Response(status=204)

    async def list_aliases(request: web.Request) -> web.Response:
        latest = service.get(request.match_info["name"])
        wanted = request.query.get("FunctionVersion")
        items = [
            alias_configuration(latest.arn, a)
            for a in sorted(latest.aliases.values(), key=lambda a: a.name)
            if wanted is None or a.function_version == wanted
        ]
        return page_response(request, "Aliases", items)

    base = "/2015-03-31/functions/{name}"
    return [
        web.post(f"{base}/versions", publish),
        web.get(f"{base}/versions", list_versions),
        web.post(f"{base}/aliases", create_alias),
        web.get(f"{base}/aliases", list_aliases),
        web.get(f"{base}/aliases/{{alias}}", get_alias),
        web.put(f"{base}/aliases/{{alias}}", update_alias),
        web.delete(f"{base}/aliases/{{alias}}", delete_alias),
    ]
