"""The Lambda API (2015-03-31) over HTTP, as boto3's `lambda` client speaks it.

Operations: Invoke (RequestResponse, Event, DryRun; LogType=Tail), ListFunctions, GetFunction,
GetFunctionConfiguration, UpdateFunctionConfiguration, PutFunctionConcurrency,
GetFunctionConcurrency, DeleteFunctionConcurrency. Errors are rendered by `render_error` with
the `x-amzn-ErrorType` header that botocore reads the error code from.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from typing import Any

from aiohttp import web

from lambda_sandbox.exceptions import (
    ConfigError,
    InvalidParameterValueException,
    LambdaAPIError,
    RequestEntityTooLargeException,
    ResourceNotFoundException,
    ValidationException,
)
from lambda_sandbox.faces.eventstream import invoke_complete, payload_chunk
from lambda_sandbox.service.function_state import LATEST, FunctionState
from lambda_sandbox.service.lambda_service import LambdaService
from lambda_sandbox.service.registry import parse_name
from lambda_sandbox.types import ResponseStream

__all__ = [
    "OPERATIONS",
    "function_configuration",
    "json_body",
    "json_response",
    "page_response",
    "paginate",
    "qualified_target",
    "render_error",
    "routes",
]

OPERATIONS = (
    "Invoke",
    "InvokeWithResponseStream",
    "ListFunctions",
    "GetFunction",
    "GetFunctionConfiguration",
    "UpdateFunctionConfiguration",
    "PutFunctionConcurrency",
    "GetFunctionConcurrency",
    "DeleteFunctionConcurrency",
    # faces/lambda_functions.py
    "CreateFunction",
    "UpdateFunctionCode",
    "DeleteFunction",
    "GetAccountSettings",
    "AddPermission",
    "GetPolicy",
    "RemovePermission",
    # faces/lambda_event_configs.py
    "PutFunctionEventInvokeConfig",
    "GetFunctionEventInvokeConfig",
    "UpdateFunctionEventInvokeConfig",
    "DeleteFunctionEventInvokeConfig",
    "ListFunctionEventInvokeConfigs",
    # faces/lambda_provisioned.py
    "PutProvisionedConcurrencyConfig",
    "GetProvisionedConcurrencyConfig",
    "DeleteProvisionedConcurrencyConfig",
    "ListProvisionedConcurrencyConfigs",
    # faces/lambda_urls.py
    "CreateFunctionUrlConfig",
    "GetFunctionUrlConfig",
    "UpdateFunctionUrlConfig",
    "DeleteFunctionUrlConfig",
    "ListFunctionUrlConfigs",
    # faces/lambda_versions.py
    "PublishVersion",
    "ListVersionsByFunction",
    "CreateAlias",
    "GetAlias",
    "UpdateAlias",
    "DeleteAlias",
    "ListAliases",
)


def render_error(exc: LambdaAPIError, request_id: str = "") -> web.Response:
    headers = {"x-amzn-ErrorType": exc.error_type, "x-amzn-RequestId": request_id}
    return web.Response(
        status=exc.status,
        text=json.dumps(exc.body()),
        content_type="application/json",
        headers=headers,
    )


RUNTIME_VERSION_ARN = "arn:aws:lambda:{region}::runtime:{digest}"


def function_configuration(
    state: FunctionState, arn: str | None = None, *, listing: bool = False
) -> dict[str, Any]:
    """GetFunctionConfiguration's answer for a version (`arn`: as the caller named it).
    Listings (ListFunctions, ListVersionsByFunction) leave out the state fields and the
    runtime version, as AWS's do (LocalStack's snapshot test_list_functions)."""
    cfg = state.config
    modified = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime(state.last_modified))
    if arn is None:
        arn = state.qualified_arn if (state.version != LATEST or listing) else state.arn
    out: dict[str, Any] = {
        "FunctionName": cfg.name,
        "FunctionArn": arn,
        "Runtime": cfg.runtime,
        "Role": str(cfg.raw.get("Role") or "arn:aws:iam::000000000000:role/lambda-sandbox"),
        "Handler": cfg.handler,
        "CodeSize": state.code_size,
        "Description": cfg.description,
        "Timeout": int(cfg.timeout_s),
        "MemorySize": cfg.memory_mb,
        "LastModified": modified,
        "CodeSha256": state.code_sha256,
        "Version": state.version,
        "TracingConfig": {"Mode": "PassThrough"},
        "RevisionId": state.revision_id,
        "PackageType": cfg.package_type,
        "Architectures": list(cfg.architectures),
        "EphemeralStorage": {"Size": cfg.ephemeral_mb},
        "SnapStart": {
            "ApplyOn": "PublishedVersions" if cfg.snap_start else "None",
            "OptimizationStatus": "On" if cfg.snap_start and state.version != LATEST else "Off",
        },
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{cfg.name}"},
    }
    if cfg.environment or "Environment" in cfg.raw:  # omitted when never given, as AWS does
        out["Environment"] = {"Variables": dict(cfg.environment)}
    if cfg.dead_letter_arn:
        out["DeadLetterConfig"] = {"TargetArn": cfg.dead_letter_arn}
    if listing:
        return out
    digest = hashlib.sha256(cfg.runtime.encode()).hexdigest()
    region = arn.split(":")[3]
    out["RuntimeVersionConfig"] = {
        "RuntimeVersionArn": RUNTIME_VERSION_ARN.format(region=region, digest=digest)
    }
    status = state.function if state.version == LATEST else state
    out["State"] = status.state
    for key, value in (("StateReason", status.state_reason),
                       ("StateReasonCode", status.state_reason_code)):  # fmt: skip
        if value is not None and status.state != "Active":
            out[key] = value
    if status.last_update_status is not None:
        out["LastUpdateStatus"] = status.last_update_status
        if status.last_update_status == "InProgress":
            out["LastUpdateStatusReason"] = status.state_reason
            out["LastUpdateStatusReasonCode"] = status.state_reason_code
    return out


def _code(request: web.Request, state: FunctionState) -> dict[str, Any]:
    """GetFunction's Code: where the zip can be had (the sandbox serves it)."""
    query = "" if state.version == LATEST else f"?Qualifier={state.version}"
    location = f"{request.scheme}://{request.host}/_sandbox/code/{state.name}{query}"
    return {"RepositoryType": "S3", "Location": location}


def _shown_arn(state: FunctionState, invoked_arn: str) -> str:
    """The FunctionArn GetFunction shows: as named (qualified by alias or version), but
    unqualified for a plain $LATEST."""
    return state.arn if invoked_arn == state.arn else invoked_arn


FUNCTIONS_ONLY = (
    "This operation is permitted on Lambda functions only. Aliases and versions do not support "
    "this operation. Please specify either a function name or an unqualified function ARN."
)


def _unqualified(name: str, service: LambdaService, *, refuse: bool = False) -> None:
    """Operations on the function itself (concurrency): a qualified ARN is refused
    (`refuse`: PutFunctionConcurrency, LocalStack's snapshot
    test_function_concurrency_exceptions) or not found, with the qualifier in the message (as
    for Invoke's :$LATEST)."""
    if refuse and parse_name(name, None, service.aws.region)[1] is not None:
        raise InvalidParameterValueException(FUNCTIONS_ONLY)
    state, arn = service.registry.resolve(name, None, invoke=True)
    if arn != state.arn:
        raise ResourceNotFoundException(f"Function not found: {arn}")


def paginate(
    items: list[dict[str, Any]], marker: str | None, max_items: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of a listing, as Lambda pages them: MaxItems (1-10,000), NextMarker."""
    start = int(marker) if marker and marker.isdigit() else 0
    size = int(max_items) if max_items and max_items.isdigit() else 50
    page = items[start : start + max(1, size)]
    end = start + len(page)
    return page, (str(end) if end < len(items) else None)


def page_response(request: web.Request, key: str, items: list[dict[str, Any]]) -> web.Response:
    """A listing's answer: the page Marker and MaxItems ask for under `key`, and NextMarker
    when more follow."""
    page, marker = paginate(items, request.query.get("Marker"), request.query.get("MaxItems"))
    out: dict[str, Any] = {key: page}
    if marker is not None:
        out["NextMarker"] = marker
    return json_response(out)


def qualified_target(
    request: web.Request, service: LambdaService
) -> tuple[FunctionState | None, str | None, str]:
    """(the function's $LATEST or None, the qualifier, the unqualified ARN) that a request's
    name and Qualifier name: for the operations whose errors depend on which part is missing."""
    name, qualifier = parse_name(
        request.match_info["name"], request.query.get("Qualifier"), service.aws.region
    )
    return service.functions.get(name), qualifier, service.arn(name)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(data), content_type="application/json")


async def json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        data = json.loads(raw or b"{}")
    except (ValueError, RecursionError):  # RecursionError: nested past the parser's depth
        raise InvalidParameterValueException("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise InvalidParameterValueException("The request body must be a JSON object.")
    return data


async def read_payload(request: web.Request, service: LambdaService) -> bytes:
    """An invoke's body, refused as it streams in once it passes Lambda's largest payload
    (the sandbox never holds more than 6 MB + 1 of one): AWS's 413 for the invocation type."""
    limit = int(service.limits.q("payload", "sync_request_bytes"))
    length = request.content_length
    if length is not None and length > limit:
        if request.headers.get("X-Amz-Invocation-Type") == "Event":
            async_limit = int(service.limits.q("payload", "async_request_bytes"))
            raise RequestEntityTooLargeException(
                f"{length} byte payload is too large for the Event invocation type "
                f"(limit {async_limit} bytes)"
            )
        raise RequestEntityTooLargeException(
            f"Request must be smaller than {limit} bytes for the InvokeFunction operation"
        )
    chunks, size = [], 0
    while size <= limit:
        chunk = await request.content.read(min(1 << 16, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)  # past the limit it is limit + 1 bytes: the service answers 413


def routes(service: LambdaService) -> list[web.RouteDef]:
    async def invoke(request: web.Request) -> web.Response:
        headers = request.headers
        outcome = await service.invoke(
            request.match_info["name"],
            await read_payload(request, service),
            invocation_type=headers.get("X-Amz-Invocation-Type", "RequestResponse"),
            log_type=headers.get("X-Amz-Log-Type"),
            client_context=headers.get("X-Amz-Client-Context"),
            qualifier=request.query.get("Qualifier"),
        )
        out = {"x-amzn-RequestId": outcome.request_id}
        if outcome.status == 200:  # Event and DryRun answers carry no ExecutedVersion
            out["X-Amz-Executed-Version"] = outcome.executed_version
        if outcome.function_error:
            out["X-Amz-Function-Error"] = outcome.function_error
        if outcome.log_result is not None:
            out["X-Amz-Log-Result"] = outcome.log_result
        return web.Response(
            status=outcome.status,
            body=outcome.payload,
            headers=out,
            content_type="application/json" if outcome.status == 200 else None,
        )

    async def invoke_with_response_stream(request: web.Request) -> web.StreamResponse:
        """InvokeWithResponseStream: PayloadChunk events as the function streams, then
        InvokeComplete (with the error, if any, and the log tail when asked for)."""
        headers = request.headers
        loop = asyncio.get_running_loop()
        started: asyncio.Future[ResponseStream] = loop.create_future()

        def on_stream(stream: ResponseStream) -> None:
            if not started.done():
                started.set_result(stream)

        task = asyncio.ensure_future(
            service.invoke(
                request.match_info["name"],
                await read_payload(request, service),
                invocation_type=headers.get("X-Amz-Invocation-Type", "RequestResponse"),
                log_type=headers.get("X-Amz-Log-Type"),
                client_context=headers.get("X-Amz-Client-Context"),
                on_stream=on_stream,
                qualifier=request.query.get("Qualifier"),
            )
        )
        waiting: list[asyncio.Future[Any]] = [started, task]
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if task.done() and task.exception() is not None:
            started.cancel()
            raise task.exception()  # type: ignore[misc]  # an API error: 404, 413, 429, ...
        response = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": "application/vnd.amazon.eventstream",
                "X-Amz-Executed-Version": "$LATEST",
            },
        )
        await response.prepare(request)
        if started.done():
            async for chunk in started.result().chunks():
                await response.write(payload_chunk(chunk))
        outcome = await task
        if not started.done() and outcome.payload and not outcome.function_error:
            await response.write(payload_chunk(outcome.payload))  # a function that did not stream
        error_code = error_details = None
        if outcome.function_error:
            try:
                error = json.loads(outcome.payload)
                error_code, error_details = error.get("errorType"), error.get("errorMessage")
            except (ValueError, AttributeError):
                error_code = outcome.function_error
        await response.write(invoke_complete(error_code, error_details, outcome.log_result))
        await response.write_eof()
        return response

    async def list_functions(request: web.Request) -> web.Response:
        states = sorted(service.functions.values(), key=lambda f: f.name)
        every = request.query.get("FunctionVersion") == "ALL"  # then $LATEST is qualified too
        if every:
            states = [v for f in states for v in f.all_versions()]
        elif request.query.get("FunctionVersion") not in (None, ""):
            raise ValidationException(
                request.query["FunctionVersion"], "functionVersion",
                "Member must satisfy enum value set: [ALL]",
            )  # fmt: skip
        page, marker = paginate(
            [function_configuration(f, listing=every or f.version != LATEST) for f in states],
            request.query.get("Marker"), request.query.get("MaxItems"),
        )  # fmt: skip
        for item in page:
            item.pop("RuntimeVersionConfig", None)
            for key in ("State", "StateReason", "StateReasonCode", "LastUpdateStatus",
                        "LastUpdateStatusReason", "LastUpdateStatusReasonCode"):  # fmt: skip
                item.pop(key, None)
        body: dict[str, Any] = {"Functions": page}
        if marker is not None:
            body["NextMarker"] = marker
        return json_response(body)

    def _qualified(request: web.Request) -> tuple[FunctionState, str]:
        return service.registry.resolve(request.match_info["name"], request.query.get("Qualifier"))

    async def get_function(request: web.Request) -> web.Response:
        state, arn = _qualified(request)
        body: dict[str, Any] = {
            "Configuration": function_configuration(state, _shown_arn(state, arn)),
            "Code": _code(request, state),
        }
        if state.reserved is not None:
            body["Concurrency"] = {"ReservedConcurrentExecutions": state.reserved}
        return json_response(body)

    async def get_configuration(request: web.Request) -> web.Response:
        state, arn = _qualified(request)
        return json_response(function_configuration(state, _shown_arn(state, arn)))

    async def update_configuration(request: web.Request) -> web.Response:
        props = await json_body(request)
        try:
            state = await service.update_configuration(request.match_info["name"], props)
        except ConfigError as exc:
            raise InvalidParameterValueException(str(exc)) from exc
        return json_response(function_configuration(state))

    async def put_concurrency(request: web.Request) -> web.Response:
        _unqualified(request.match_info["name"], service, refuse=True)
        body = await json_body(request)
        value = body.get("ReservedConcurrentExecutions")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidParameterValueException(
                "1 validation error detected: Value at 'reservedConcurrentExecutions' failed "
                "to satisfy constraint: Member must have value greater than or equal to 0"
            )
        service.put_concurrency(request.match_info["name"], value)
        return json_response({"ReservedConcurrentExecutions": value})

    async def get_concurrency(request: web.Request) -> web.Response:
        state = service.get(request.match_info["name"])
        if state.reserved is None:
            return json_response({})
        return json_response({"ReservedConcurrentExecutions": state.reserved})

    async def delete_concurrency(request: web.Request) -> web.Response:
        service.put_concurrency(request.match_info["name"], None)
        return web.Response(status=204)

    return [
        web.post("/2015-03-31/functions/{name}/invocations", invoke),
        web.post(
            "/2021-11-15/functions/{name}/response-streaming-invocations",
            invoke_with_response_stream,
        ),
        web.get("/2015-03-31/functions/", list_functions),
        web.get("/2015-03-31/functions", list_functions),
        web.get("/2015-03-31/functions/{name}", get_function),
        web.get("/2015-03-31/functions/{name}/configuration", get_configuration),
        web.put("/2015-03-31/functions/{name}/configuration", update_configuration),
        web.put("/2017-10-31/functions/{name}/concurrency", put_concurrency),
        web.get("/2019-09-30/functions/{name}/concurrency", get_concurrency),
        web.delete("/2017-10-31/functions/{name}/concurrency", delete_concurrency),
    ]
