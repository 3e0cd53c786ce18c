"""The Lambda API (2015-03-31) over HTTP, as boto3's `lambda` client speaks it.

Operations: Invoke (RequestResponse, Event, DryRun; LogType=Tail), ListFunctions, GetFunction,
GetFunctionConfiguration, UpdateFunctionConfiguration, PutFunctionConcurrency,
GetFunctionConcurrency, DeleteFunctionConcurrency. Errors are rendered by `render_error` with
the `x-amzn-ErrorType` header that botocore reads the error code from.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from lambda_sandbox.exceptions import ConfigError, InvalidParameterValueException, LambdaAPIError
from lambda_sandbox.faces.eventstream import invoke_complete, payload_chunk
from lambda_sandbox.service.function_state import FunctionState
from lambda_sandbox.service.lambda_service import LambdaService
from lambda_sandbox.types import ResponseStream

__all__ = ["OPERATIONS", "function_configuration", "render_error", "routes"]

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
)


def render_error(exc: LambdaAPIError, request_id: str = "") -> web.Response:
    headers = {"x-amzn-ErrorType": exc.error_type, "x-amzn-RequestId": request_id}
    return web.Response(
        status=exc.status,
        text=json.dumps(exc.body()),
        content_type="application/json",
        headers=headers,
    )


def function_configuration(state: FunctionState) -> dict[str, Any]:
    cfg = state.config
    modified = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime(state.last_modified))
    out: dict[str, Any] = {
        "FunctionName": cfg.name,
        "FunctionArn": state.arn,
        "Runtime": cfg.runtime,
        "Role": "arn:aws:iam::000000000000:role/lambda-sandbox",
        "Handler": cfg.handler,
        "CodeSize": state.code_size,
        "Description": cfg.description,
        "Timeout": int(cfg.timeout_s),
        "MemorySize": cfg.memory_mb,
        "LastModified": modified,
        "CodeSha256": state.code_sha256,
        "Version": "$LATEST",
        "Environment": {"Variables": dict(cfg.environment)},
        "TracingConfig": {"Mode": "PassThrough"},
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": list(cfg.architectures),
        "EphemeralStorage": {"Size": cfg.ephemeral_mb},
        "SnapStart": {
            "ApplyOn": "PublishedVersions" if cfg.snap_start else "None",
            "OptimizationStatus": "Off",
        },
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{cfg.name}"},
    }
    return out


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(data), content_type="application/json")


async def _json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        raise InvalidParameterValueException("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise InvalidParameterValueException("The request body must be a JSON object.")
    return data


def routes(service: LambdaService) -> list[web.RouteDef]:
    async def invoke(request: web.Request) -> web.Response:
        headers = request.headers
        outcome = await service.invoke(
            request.match_info["name"],
            await request.read(),
            invocation_type=headers.get("X-Amz-Invocation-Type", "RequestResponse"),
            log_type=headers.get("X-Amz-Log-Type"),
            client_context=headers.get("X-Amz-Client-Context"),
        )
        out = {
            "x-amzn-RequestId": outcome.request_id,
            "X-Amz-Executed-Version": outcome.executed_version,
        }
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
                await request.read(),
                invocation_type=headers.get("X-Amz-Invocation-Type", "RequestResponse"),
                log_type=headers.get("X-Amz-Log-Type"),
                client_context=headers.get("X-Amz-Client-Context"),
                on_stream=on_stream,
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
        configs = [function_configuration(f) for f in service.functions.values()]
        return _json({"Functions": configs})

    async def get_function(request: web.Request) -> web.Response:
        state = service.get(request.match_info["name"])
        body: dict[str, Any] = {
            "Configuration": function_configuration(state),
            "Code": {"RepositoryType": "S3", "Location": state.bundle_dir.as_uri()},
        }
        if state.reserved is not None:
            body["Concurrency"] = {"ReservedConcurrentExecutions": state.reserved}
        return _json(body)

    async def get_configuration(request: web.Request) -> web.Response:
        return _json(function_configuration(service.get(request.match_info["name"])))

    async def update_configuration(request: web.Request) -> web.Response:
        props = await _json_body(request)
        try:
            state = await service.update_configuration(request.match_info["name"], props)
        except ConfigError as exc:
            raise InvalidParameterValueException(str(exc)) from exc
        return _json(function_configuration(state))

    async def put_concurrency(request: web.Request) -> web.Response:
        body = await _json_body(request)
        value = body.get("ReservedConcurrentExecutions")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidParameterValueException(
                "1 validation error detected: Value at 'reservedConcurrentExecutions' failed "
                "to satisfy constraint: Member must have value greater than or equal to 0"
            )
        service.put_concurrency(request.match_info["name"], value)
        return _json({"ReservedConcurrentExecutions": value})

    async def get_concurrency(request: web.Request) -> web.Response:
        state = service.get(request.match_info["name"])
        if state.reserved is None:
            return _json({})
        return _json({"ReservedConcurrentExecutions": state.reserved})

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
