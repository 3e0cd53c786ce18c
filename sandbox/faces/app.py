"""The HTTP front of the sandbox: one aiohttp application on 127.0.0.1.

It mounts the Lambda API and the sandbox's own endpoints (`/_sandbox/...`: what runs, what is
enforced, recent logs) and renders every `LambdaAPIError` AWS-style. Anything else that escapes a
handler becomes a 500 ServiceException, so a bad request never takes the sandbox down.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from sandbox.exceptions import LambdaAPIError, ServiceException
from sandbox.faces import lambda_api
from sandbox.faces.metrics import metrics_routes
from sandbox.service.lambda_service import LambdaService

__all__ = ["Gateway", "build_app"]

log = logging.getLogger("sandbox.faces")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except LambdaAPIError as exc:
        return lambda_api.render_error(exc)
    except web.HTTPException:
        raise
    except Exception as exc:  # the last line of defence: answer, log, keep serving
        log.exception("unhandled error on %s %s", request.method, request.path)
        return lambda_api.render_error(ServiceException(f"{type(exc).__name__}: {exc}"))


def _sandbox_routes(service: LambdaService) -> list[web.RouteDef]:
    async def info(request: web.Request) -> web.Response:
        enforcement = service.backend.enforcement
        body = {
            "backend": service.backend.name,
            "enforcement": {
                "memory": enforcement.memory,
                "cpu": enforcement.cpu,
                "ephemeral_storage": enforcement.ephemeral_storage,
                "pids": enforcement.pids,
                "cgroup": enforcement.cgroup,
                "user": enforcement.user,
                "notes": list(enforcement.notes),
            },
            "aws_endpoint_url": service.aws.endpoint_url,
            "functions": {
                name: {
                    "memory_mb": f.config.memory_mb,
                    "vcpus": service.spec(f).vcpus,
                    "fidelity_note": service.fidelity_note(f),
                    "environments": {"idle": len(f.idle), "busy": len(f.busy)},
                    "metrics": f.metrics(),
                }
                for name, f in service.functions.items()
            },
        }
        return web.Response(text=json.dumps(body), content_type="application/json")

    async def logs(request: web.Request) -> web.Response:
        state = service.get(request.match_info["name"])
        since = float(request.query.get("since", "0"))
        events = [{"timestamp": t, "message": m} for t, m in state.log.recent if t > since]
        return web.Response(text=json.dumps({"events": events}), content_type="application/json")

    return [web.get("/_sandbox/info", info), web.get("/_sandbox/logs/{name}", logs)]


def build_app(service: LambdaService) -> web.Application:
    app = web.Application(middlewares=[_errors], client_max_size=64 << 20)
    app.add_routes(lambda_api.routes(service))
    app.add_routes(_sandbox_routes(service))
    app.add_routes(metrics_routes(service))
    return app


async def _serve(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    server = site._server
    if port == 0 and server is not None and server.sockets:  # type: ignore[union-attr]
        port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
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
        self._runners: list[web.AppRunner] = []

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        from sandbox.faces.http_faces import api_gateway_app, api_routes, function_url_app

        runner, self.port = await _serve(build_app(self.service), self.host, self.port)
        self._runners.append(runner)
        limits = self.service.limits
        configs = [f.config for f in self.service.functions.values()]
        routes = api_routes(configs, float(limits.q("api_gateway", "integration_timeout_s")))
        if routes:
            max_body = int(limits.q("api_gateway", "payload_mb")) << 20
            app = api_gateway_app(self.service, routes, max_body)
            runner, self.api_port = await _serve(app, self.host, self.api_port)
            self._runners.append(runner)
            self.api_url = f"http://{self.host}:{self.api_port}"
        next_port = self.api_port + 1 if self.port and self.api_port else 0
        max_request = int(limits.q("payload", "sync_request_bytes"))
        for cfg in configs:
            if cfg.function_url is None:
                continue
            mode = str(cfg.function_url.get("InvokeMode", "BUFFERED")).upper()
            app = function_url_app(
                self.service, cfg.name, max_request, streaming=mode == "RESPONSE_STREAM"
            )
            runner, port = await _serve(app, self.host, next_port)
            self._runners.append(runner)
            self.function_urls[cfg.name] = f"http://{self.host}:{port}/"
            next_port = port + 1 if next_port else 0

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()
