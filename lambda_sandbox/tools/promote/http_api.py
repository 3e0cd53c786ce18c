"""The function's HTTP API on API Gateway (v2), from its SAM `Events` of `Type: HttpApi`.

One HTTP API per function, found again by its tag `lambda-sandbox:function = <name>` (so a
second promote updates it and never makes a second one): a Lambda proxy integration per payload
format and timeout, a route per event (`GET /items/{id}`, `ANY /files/{proxy+}`, `$default`),
the `$default` stage with auto-deploy, and the one statement in the function's policy that lets
apigateway.amazonaws.com invoke it from this API. When the function has an AutoPublishAlias, the
integrations call the alias, as SAM's do.

`desired_http_api` and `diff_http_api` are pure; `read_http_api` and `apply_http_api` call AWS.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from lambda_sandbox.config import FunctionConfig
from lambda_sandbox.limits import Limits, load_limits
from lambda_sandbox.tools.promote.deploy import AwsTarget
from lambda_sandbox.tools.promote.errors import PromoteError, aws_step, error_code
from lambda_sandbox.tools.promote.plan import ABSENT, Change
from lambda_sandbox.tools.promote.progress import Reporter

__all__ = [
    "HTTP_API",
    "HttpApiState",
    "Route",
    "apply_http_api",
    "desired_http_api",
    "diff_http_api",
    "http_api_routes",
    "read_http_api",
]

HTTP_API = "http_api"  # the plan's group: apigatewayv2 calls and one lambda:AddPermission
TAG = "lambda-sandbox:function"
STAGE = "$default"
PRINCIPAL = "apigateway.amazonaws.com"
_ANY = ("ANY", "X-AMAZON-APIGATEWAY-ANY-METHOD")


@dataclass(frozen=True, order=True)
class Route:
    key: str  # "GET /items/{id}", "ANY /files/{proxy+}" or "$default"
    payload_version: str = "2.0"
    timeout_ms: int = 29000

    def describe(self) -> str:
        return f"Lambda proxy, payload {self.payload_version}, timeout {self.timeout_ms} ms"


@dataclass(frozen=True)
class HttpApiState:
    """An HTTP API as it is (read from AWS) or should be (from function.yaml)."""

    name: str
    routes: tuple[Route, ...]
    target: str  # the function (or alias) ARN the integrations call; "" when mixed / none
    stage_auto_deploy: bool | None = True  # None: no $default stage
    permitted: bool = True  # the function's policy lets this API invoke it
    api_id: str | None = None
    endpoint: str | None = None
    # what AWS has, by id, so that applying reuses it
    route_ids: Mapping[str, str] = field(default_factory=dict)  # route key -> RouteId
    route_targets: Mapping[str, str] = field(default_factory=dict)  # route key -> integration
    integrations: Mapping[str, tuple[str, str, int]] = field(default_factory=dict)
    # IntegrationId -> (IntegrationUri, PayloadFormatVersion, TimeoutInMillis)


# ------------------------------------------------------------------------------- desired
def http_api_routes(config: FunctionConfig, limits: Limits | None = None) -> tuple[Route, ...]:
    """The routes of the function's `Type: HttpApi` events (SAM's defaults: no Path and no
    Method is the `$default` route; Method `any` is ANY; payload format 2.0; the integration
    timeout is TimeoutInMillis, at most API Gateway's 29 s)."""
    lim = limits or load_limits()
    cap_ms = int(lim.q("api_gateway", "integration_timeout_s") * 1000)
    routes: dict[str, Route] = {}
    for name, event in config.events.items():
        if not isinstance(event, Mapping) or event.get("Type") != "HttpApi":
            continue
        props = event.get("Properties") or {}
        if not isinstance(props, Mapping):
            raise PromoteError(f"{config.source}: Events.{name}.Properties must be a mapping")
        path = props.get("Path")
        method = str(props.get("Method", "ANY")).upper()
        method = "ANY" if method in _ANY else method
        if path is None:
            key = STAGE
        elif not str(path).startswith("/"):
            raise PromoteError(
                f"{config.source}: Events.{name}.Properties.Path {path!r} must start with '/'"
            )
        else:
            key = f"{method} {path}"
        version = str(props.get("PayloadFormatVersion", "2.0"))
        if version not in ("1.0", "2.0"):
            raise PromoteError(
                f"{config.source}: Events.{name}.Properties.PayloadFormatVersion {version!r}: "
                "API Gateway accepts 1.0 or 2.0"
            )
        timeout = props.get("TimeoutInMillis")
        timeout_ms = min(int(timeout), cap_ms) if timeout else cap_ms
        if key in routes:
            raise PromoteError(f"{config.source}: two HttpApi events have the route {key!r}")
        routes[key] = Route(key, version, timeout_ms)
    return tuple(sorted(routes.values()))


def desired_http_api(
    config: FunctionConfig, target: str, limits: Limits | None = None
) -> HttpApiState | None:
    """What the function's HTTP API should be; None when it has no HttpApi events."""
    routes = http_api_routes(config, limits)
    if not routes:
        return None
    return HttpApiState(name=config.name, routes=routes, target=target)


# ---------------------------------------------------------------------------------- diff
def _fields(state: HttpApiState | None) -> dict[str, Any]:
    if state is None:
        return {}
    out: dict[str, Any] = {
        "HttpApi": f"{state.name} (HTTP)",
        "HttpApi.Integration.Target": state.target or ABSENT,
    }
    out.update({f"HttpApi.Route.{r.key}": r.describe() for r in state.routes})
    if state.stage_auto_deploy is not None:
        auto = "auto-deploy" if state.stage_auto_deploy else "manual deploy"
        out[f"HttpApi.Stage.{STAGE}"] = auto
    if state.permitted:
        out["HttpApi.Permission"] = f"{PRINCIPAL} may invoke the function"
    return out


def diff_http_api(desired: HttpApiState | None, current: HttpApiState | None) -> tuple[Change, ...]:
    """Changes that make the API match; an API whose events were removed is left alone (the
    plan notes it) rather than deleted."""
    if desired is None:
        return ()
    before, after = _fields(current), _fields(desired)
    changes = []
    for name in [*after, *(n for n in before if n not in after)]:
        was, now = before.get(name, ABSENT), after.get(name, ABSENT)
        if was != now:
            changes.append(Change(name, was, now, HTTP_API))
    return tuple(changes)


def compared_count(desired: HttpApiState | None) -> int:
    return len(_fields(desired))


# ------------------------------------------------------------------------------- reading
def _pages(call: Any, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = None
    while True:
        page = call(**kwargs, **({"NextToken": token} if token else {}))
        items += page.get(key) or []
        token = page.get("NextToken")
        if not token:
            return items


def find_api(aws: AwsTarget, function: str) -> dict[str, Any] | None:
    """The HTTP API tagged as this function's (the oldest, if someone made two)."""
    gw = aws.client("apigatewayv2")
    with aws_step("listing HTTP APIs (apigatewayv2 get-apis)", _HINTS):
        apis = _pages(gw.get_apis, "Items")
    ours = [
        a
        for a in apis
        if (a.get("Tags") or {}).get(TAG) == function and a.get("ProtocolType") == "HTTP"
    ]
    ours.sort(key=lambda a: str(a.get("CreatedDate", "")))
    return ours[0] if ours else None


def statement_id(api_id: str) -> str:
    return f"lambda-sandbox-http-api-{api_id}"


def _permitted(aws: AwsTarget, function: str, qualifier: str | None, api_id: str) -> bool:
    where: dict[str, Any] = {"FunctionName": function}
    if qualifier:
        where["Qualifier"] = qualifier
    with aws_step(f"reading {function}'s resource policy"):
        try:
            policy = aws.client("lambda").get_policy(**where)["Policy"]
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":  # no policy, or no function
                return False
            raise
    statements = json.loads(policy).get("Statement") or []
    return any(s.get("Sid") == statement_id(api_id) for s in statements)


def read_http_api(aws: AwsTarget, function: str, qualifier: str | None) -> HttpApiState | None:
    """The function's HTTP API as AWS has it, or None when there is none."""
    api = find_api(aws, function)
    if api is None:
        return None
    api_id = str(api["ApiId"])
    gw = aws.client("apigatewayv2")
    with aws_step(f"reading HTTP API {api_id}", _HINTS):
        integrations = {
            str(i["IntegrationId"]): (
                str(i.get("IntegrationUri", "")),
                str(i.get("PayloadFormatVersion", "")),
                int(i.get("TimeoutInMillis") or 0),
            )
            for i in _pages(gw.get_integrations, "Items", ApiId=api_id)
        }
        raw_routes = _pages(gw.get_routes, "Items", ApiId=api_id)
        stages = {str(s["StageName"]): s for s in _pages(gw.get_stages, "Items", ApiId=api_id)}
    routes, route_ids, route_targets, targets = [], {}, {}, set()
    for r in raw_routes:
        key = str(r["RouteKey"])
        route_ids[key] = str(r["RouteId"])
        integration = str(r.get("Target") or "").removeprefix("integrations/")
        route_targets[key] = integration
        uri, version, timeout = integrations.get(integration, ("", "?", 0))
        targets.add(uri)
        routes.append(Route(key, version, timeout))
    stage = stages.get(STAGE)
    return HttpApiState(
        name=str(api.get("Name", "")),
        routes=tuple(sorted(routes)),
        target=targets.pop() if len(targets) == 1 else "",
        stage_auto_deploy=None if stage is None else bool(stage.get("AutoDeploy")),
        permitted=_permitted(aws, function, qualifier, api_id),
        api_id=api_id,
        endpoint=_endpoint(api),
        route_ids=route_ids,
        route_targets=route_targets,
        integrations=integrations,
    )


def _endpoint(api: Mapping[str, Any]) -> str | None:
    base = api.get("ApiEndpoint")
    return f"{str(base).rstrip('/')}/" if base else None


_HINTS = {
    "NotFoundException": "the HTTP API was deleted meanwhile: run promote again",
    "ConflictException": "another change of the HTTP API is in progress: run promote again",
    "TooManyRequestsException": "API Gateway throttled the request: run promote again in a minute",
}


# ------------------------------------------------------------------------------ applying
def apply_http_api(
    aws: AwsTarget,
    function: str,
    desired: HttpApiState,
    current: HttpApiState | None,
    qualifier: str | None,
    tags: Mapping[str, str],
    reporter: Reporter,
) -> str:
    """Make the API match `desired`, reusing what exists; returns its endpoint."""
    gw = aws.client("apigatewayv2")
    if current is None:
        reporter.step(f"creating HTTP API {desired.name}")
        with aws_step(f"creating HTTP API {desired.name}", _HINTS):
            api = gw.create_api(
                Name=desired.name,
                ProtocolType="HTTP",
                Description=f"Routes of {function}'s HttpApi events (made by `sandbox promote`)",
                Tags={**tags, TAG: function},
            )
        api_id, endpoint = str(api["ApiId"]), _endpoint(api)
        current = HttpApiState(desired.name, (), "", None, False, api_id, endpoint)
    api_id = str(current.api_id)

    # one integration per (payload format, timeout), all calling the function
    have = {spec: iid for iid, spec in current.integrations.items()}
    integration_of: dict[str, str] = {}
    for route in desired.routes:
        spec = (desired.target, route.payload_version, route.timeout_ms)
        if spec not in have:
            reporter.step(f"HTTP API: integration {route.describe()}")
            with aws_step(f"creating an integration in HTTP API {api_id}", _HINTS):
                made = gw.create_integration(
                    ApiId=api_id,
                    IntegrationType="AWS_PROXY",
                    IntegrationUri=desired.target,
                    PayloadFormatVersion=route.payload_version,
                    TimeoutInMillis=route.timeout_ms,
                )
            have[spec] = str(made["IntegrationId"])
        integration_of[route.key] = have[spec]

    for route in desired.routes:
        target = f"integrations/{integration_of[route.key]}"
        with aws_step(f"setting route {route.key} of HTTP API {api_id}", _HINTS):
            if route.key not in current.route_ids:
                reporter.step(f"HTTP API: route {route.key}")
                gw.create_route(ApiId=api_id, RouteKey=route.key, Target=target)
            elif current.route_targets.get(route.key) != integration_of[route.key]:
                reporter.step(f"HTTP API: route {route.key} -> {target}")
                gw.update_route(ApiId=api_id, RouteId=current.route_ids[route.key], Target=target)
    wanted = {r.key for r in desired.routes}
    for key, route_id in current.route_ids.items():
        if key not in wanted:
            reporter.step(f"HTTP API: removing route {key} (no longer in the function's Events)")
            with aws_step(f"deleting route {key} of HTTP API {api_id}", _HINTS):
                gw.delete_route(ApiId=api_id, RouteId=route_id)
    used = set(integration_of.values())
    for iid in current.integrations:
        if iid not in used:
            with aws_step(f"deleting an unused integration of HTTP API {api_id}", _HINTS):
                gw.delete_integration(ApiId=api_id, IntegrationId=iid)

    if current.stage_auto_deploy is None:
        reporter.step(f"HTTP API: stage {STAGE} (auto-deploy)")
        with aws_step(f"creating stage {STAGE} of HTTP API {api_id}", _HINTS):
            gw.create_stage(ApiId=api_id, StageName=STAGE, AutoDeploy=True)
    elif not current.stage_auto_deploy:
        with aws_step(f"turning on auto-deploy of stage {STAGE}", _HINTS):
            gw.update_stage(ApiId=api_id, StageName=STAGE, AutoDeploy=True)

    if not current.permitted:
        _permit(aws, function, qualifier, api_id, reporter)
    endpoint = current.endpoint
    if endpoint is None:
        with aws_step(f"reading HTTP API {api_id}", _HINTS):
            endpoint = _endpoint(gw.get_api(ApiId=api_id))
    if endpoint is None:
        raise PromoteError(f"HTTP API {api_id} has no endpoint (DisableExecuteApiEndpoint?)")
    return endpoint


def _permit(
    aws: AwsTarget, function: str, qualifier: str | None, api_id: str, reporter: Reporter
) -> None:
    """Let API Gateway invoke the function from this API only (any stage, method, path)."""
    source = f"arn:{aws.partition}:execute-api:{aws.region}:{aws.account}:{api_id}/*"
    where: dict[str, Any] = {"FunctionName": function}
    if qualifier:
        where["Qualifier"] = qualifier
    reporter.step(f"HTTP API: allowing {PRINCIPAL} to invoke {function}")
    with aws_step(f"allowing HTTP API {api_id} to invoke {function}"):
        try:
            aws.client("lambda").add_permission(
                **where,
                StatementId=statement_id(api_id),
                Action="lambda:InvokeFunction",
                Principal=PRINCIPAL,
                SourceArn=source,
            )
        except ClientError as exc:
            if error_code(exc) != "ResourceConflictException":  # the statement exists
                raise
