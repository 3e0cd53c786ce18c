"""The HTTP front of the sandbox: every face on its port, on 127.0.0.1 by default.

`Gateway` serves the Lambda API with the sandbox's own endpoints (`/_sandbox/...`) and the
metrics on one port (those two for the host's users only: a connection from a function's
environment, told by the uid that owns its socket, gets AccessDeniedException there, while the
Lambda API stays open to functions as it is on AWS to a role that allows it), the API Gateway
routes on the next, and each function URL on a port of its own. The Lambda API's app renders
every `LambdaAPIError` AWS-style; anything else that escapes a handler becomes a 500
ServiceException, so a bad request never takes the sandbox down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import cast

from aiohttp import web

from lambda_sandbox.config.api_routes import ApiRoute, api_routes
from lambda_sandbox.environments.identity import is_environment_uid
from lambda_sandbox.exceptions import (
    AccessDeniedException,
    ConfigError,
    LambdaAPIError,
    RequestEntityTooLargeException,
    ServiceException,
    UnknownOperationException,
)
from lambda_sandbox.faces import lambda_api
from lambda_sandbox.faces.api_gateway import api_gateway_app
from lambda_sandbox.faces.function_urls import function_url_app
from lambda_sandbox.faces.lambda_event_configs import event_config_routes
from lambda_sandbox.faces.lambda_functions import function_routes
from lambda_sandbox.faces.lambda_provisioned import provisioned_routes
from lambda_sandbox.faces.lambda_urls import url_config_routes
from lambda_sandbox.faces.lambda_versions import version_routes
from lambda_sandbox.faces.metrics import metrics_routes
from lambda_sandbox.faces.sandbox_api import sandbox_routes
from lambda_sandbox.runtime_api.peer import peer_uid
from lambda_sandbox.service.function_state import UrlConfig
from lambda_sandbox.service.lambda_service import LambdaService

__all__ = ["Gateway", "build_app"]

log = logging.getLogger("lambda_sandbox.faces")


class _OneLinePerBadRequest(logging.Filter):
    """aiohttp logs a request it cannot parse (a bad request line or header) with its whole
    traceback; a client's mistake is one line in the sandbox's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        from aiohttp.http_exceptions import HttpProcessingError

        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            first = str(error.message).strip().splitlines()[0] if error.message else ""
            record.msg, record.args = "malformed request: %s %s", (error.code, first)
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


logging.getLogger("aiohttp.server").addFilter(_OneLinePerBadRequest())
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except LambdaAPIError as exc:
        return lambda_api.render_error(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return lambda_api.render_error(_http_error(exc, request))
    except Exception as exc:  # the last line of defence: answer, log, keep serving
        log.exception("unhandled error on %s %s", request.method, request.path)
        return lambda_api.render_error(ServiceException(f"{type(exc).__name__}: {exc}"))


def _http_error(exc: web.HTTPException, request: web.Request) -> LambdaAPIError:
    """aiohttp's own refusals (a body past its cap, a method the route lacks) as AWS's."""
    error: LambdaAPIError
    if exc.status == 413:
        error = RequestEntityTooLargeException(
            f"Request must be smaller than {request.app._client_max_size} bytes"
        )
    else:
        error = UnknownOperationException(
            f"The sandbox does not serve {request.method} {request.path}: the Lambda API "
            "operations it serves are listed in the README (Supported Lambda API operations)"
        )
        error.status = exc.status
    return error


HOST_ONLY = ("/_sandbox/", "/metrics")


@web.middleware
async def _host_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The sandbox's own endpoints (other functions' configuration, logs and code; metrics)
    are not for functions."""
    if request.path.startswith(HOST_ONLY) and request.transport is not None:
        transport = request.transport
        uid = peer_uid(transport.get_extra_info("peername"), transport.get_extra_info("sockname"))
        if is_environment_uid(uid):
            raise AccessDeniedException(
                f"{request.path} is the sandbox's own endpoint, for the host's users: functions "
                "reach the Lambda API (AWS_ENDPOINT_URL_LAMBDA), not the sandbox's endpoints"
            )
    return await handler(request)


def _draining(gateway: Gateway | None) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def refuse_while_stopping(request: web.Request, handler: Handler) -> web.StreamResponse:
        """While the sandbox stops, a new request gets AWS's 503, not a closed socket."""
        if gateway is not None and gateway.draining:
            exc = ServiceException("The sandbox is shutting down: send the request again once it "
                                   "has restarted.")  # fmt: skip
            exc.status = 503
            refused = lambda_api.render_error(exc)
            refused.force_close()  # no next request on this connection as its port closes
            return refused
        response = await handler(request)
        if gateway is not None and gateway.draining and not response.prepared:
            response.force_close()  # answered while stopping: the connection is not reused
        return response

    return refuse_while_stopping


def build_app(service: LambdaService, gateway: Gateway | None = None) -> web.Application:
    app = web.Application(
        middlewares=[_errors, _draining(gateway), _host_only], client_max_size=64 << 20
    )
    app.add_routes(lambda_api.routes(service))
    if gateway is not None:  # URL configs made through the API are served at once
        app.add_routes(url_config_routes(service, gateway))
    app.add_routes(version_routes(service))
    app.add_routes(function_routes(service))
    app.add_routes(event_config_routes(service))
    app.add_routes(provisioned_routes(service))
    app.add_routes(sandbox_routes(service))
    app.add_routes(metrics_routes(service))
    app.router.add_route("*", "/{tail:.*}", _unknown_operation)  # last: after every route
    return app


async def _unknown_operation(request: web.Request) -> web.Response:
    """An operation the sandbox does not serve: AWS-shaped, saying what is there."""
    return lambda_api.render_error(
        UnknownOperationException(
            f"The sandbox does not serve {request.method} {request.path}: the Lambda API "
            "operations it serves are listed in the README (Supported Lambda API operations)"
        )
    )


async def _serve(
    app: web.Application, host: str, port: int, option: str
) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:  # a busy port: one line that says which and what to do
        await runner.cleanup()
        raise ConfigError(
            f"cannot listen on {host}:{port} ({exc.strerror}): choose another port with {option}"
        ) from None
    server = cast("asyncio.Server | None", site._server)
    if port == 0 and server is not None and server.sockets:
        port = server.sockets[0].getsockname()[1]
    return runner, port


class Gateway:
    """Serves the Lambda API on host:port, API Gateway routes on api_port, and each function
    URL on a port of its own (port 0 picks free ports; otherwise api_port = port + 1 and
    function URLs follow from port + 2)."""

    def __init__(
        self,
        service: LambdaService,
        host: str = "127.0.0.1",
        port: int = 9000,
        api_port: int | None = None,
    ) -> None:
        self.service = service
        self.host = host
        self.port = port
        self.api_port = api_port if api_port is not None else (port + 1 if port else 0)
        self.api_url: str | None = None
        self.function_urls: dict[str, str] = {}
        self.routes: list[ApiRoute] = []
        self._runners: list[web.AppRunner] = []
        self._url_runners: dict[tuple[str, str | None], web.AppRunner] = {}
        self._next_url_port = 0
        self.draining = False  # the sandbox is stopping: new requests get a 503

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        app = build_app(self.service, self)
        runner, self.port = await _serve(app, self.host, self.port, "--port")
        self._runners.append(runner)
        limits = self.service.limits
        configs = [f.config for f in self.service.functions.values()]
        routes = api_routes(configs, float(limits.q("api_gateway", "integration_timeout_s")))
        self.routes = routes
        if routes:
            max_body = int(limits.q("api_gateway", "payload_mb")) << 20
            app = api_gateway_app(self.service, routes, max_body)
            runner, self.api_port = await _serve(app, self.host, self.api_port, "--api-port")
            self._runners.append(runner)
            self.api_url = f"http://{self.host}:{self.api_port}"
        self._next_url_port = self.api_port + 1 if self.port and self.api_port else 0
        for latest in list(self.service.functions.values()):
            for url in list(latest.url_configs.values()):
                await self.serve_url(latest.name, url)

    async def serve_url(self, function: str, url: UrlConfig) -> str:
        """Serve one URL configuration on a port of its own; its URL."""
        max_request = int(self.service.limits.q("payload", "sync_request_bytes"))
        app = function_url_app(self.service, function, max_request, url)
        runner, port = await _serve(
            app, self.host, self._next_url_port,
            "--port (function URLs use the ports after --api-port)",
        )  # fmt: skip
        self._runners.append(runner)
        self._url_runners[(function, url.qualifier)] = runner
        url.url = f"http://{self.host}:{port}/"
        key = function if url.qualifier is None else f"{function}:{url.qualifier}"
        self.function_urls[key] = url.url
        self._next_url_port = port + 1 if self._next_url_port else 0
        return url.url

    async def stop_url(self, function: str, qualifier: str | None) -> None:
        runner = self._url_runners.pop((function, qualifier), None)
        if runner is not None:
            self._runners.remove(runner)
            await runner.cleanup()
        self.function_urls.pop(function if qualifier is None else f"{function}:{qualifier}", None)

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()
