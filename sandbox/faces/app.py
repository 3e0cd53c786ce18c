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
                    "stats": {
                        "invocations": f.stats.invocations,
                        "errors": f.stats.errors,
                        "throttles": f.stats.throttles,
                        "timeouts": f.stats.timeouts,
                        "cold_starts": f.stats.cold_starts,
                        "max_concurrency": f.stats.max_concurrency,
                    },
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
    return app


class Gateway:
    """Serves the application on host:port (port 0 picks a free one)."""

    def __init__(self, service: LambdaService, host: str = "127.0.0.1", port: int = 9000) -> None:
        self.service = service
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._runner = web.AppRunner(build_app(self.service), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        server = site._server
        if self.port == 0 and server is not None and server.sockets:  # type: ignore[union-attr]
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
