"""The sandbox's own endpoints: `/_sandbox/info` (what runs, what is enforced) and
`/_sandbox/logs/{name}` (a function's recent log lines)."""

from __future__ import annotations

import json

from aiohttp import web

from lambda_sandbox.service.lambda_service import LambdaService

__all__ = ["sandbox_routes"]


def sandbox_routes(service: LambdaService) -> list[web.RouteDef]:
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
