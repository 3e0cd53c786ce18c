"""The sandbox's own endpoints: `/_sandbox/info` (what runs, what is enforced) and
`/_sandbox/logs/{name}` (a function's recent log lines)."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from pathlib import Path

from aiohttp import web

from lambda_sandbox.exceptions import InvalidParameterValueException
from lambda_sandbox.service.lambda_service import LambdaService

__all__ = ["sandbox_routes"]


def _number(request: web.Request, name: str, default: float) -> float:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise InvalidParameterValueException(
            f"{name}={raw!r} is not a number: give a Unix time in seconds (since) or a count "
            "of lines (limit)"
        ) from None


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
                    "not_emulated": list(f.config.not_emulated),
                    "environments": {"idle": len(f.idle), "busy": len(f.busy)},
                    "metrics": f.metrics(),
                }
                for name, f in service.functions.items()
            },
        }
        return web.Response(text=json.dumps(body), content_type="application/json")

    async def logs(request: web.Request) -> web.StreamResponse:
        """A function's recent lines as JSON ({"events": [...]}, `since` a Unix time, `limit`
        the last N); with `follow=1` a stream of JSON lines, one event each, as they are
        written (what `sandbox logs --follow` reads)."""
        state = service.get(request.match_info["name"])
        since = _number(request, "since", 0.0)
        limit = int(_number(request, "limit", 0.0))
        events = [{"timestamp": t, "message": m} for t, m in state.log.recent if t > since]
        if limit > 0:
            events = events[-limit:]
        if request.query.get("follow") not in ("1", "true"):
            return web.Response(
                text=json.dumps({"events": events}), content_type="application/json"
            )
        # subscribed in the same loop turn as the backlog was read: no line falls between
        queue = state.log.follow()
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        response.enable_chunked_encoding()
        try:
            await response.prepare(request)
            for event in events:
                await response.write(json.dumps(event).encode() + b"\n")
            while True:
                stamp, message = await queue.get()
                event = {"timestamp": stamp, "message": message}
                await response.write(json.dumps(event).encode() + b"\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            state.log.unfollow(queue)
        return response

    async def code(request: web.Request) -> web.Response:
        """GetFunction's Code.Location: the version's code as a zip."""
        state = service.version(request.match_info["name"], request.query.get("Qualifier"))
        data = await asyncio.to_thread(_zip_of, state.bundle_dir, state.config.code_dir)
        return web.Response(body=data, content_type="application/zip")

    return [
        web.get("/_sandbox/info", info),
        web.get("/_sandbox/logs/{name}", logs),
        web.get("/_sandbox/code/{name}", code),
    ]


def _zip_of(bundle: Path, code: Path) -> bytes:
    """The uploaded zip when there is one, else the bundle zipped (what would be deployed)."""
    if code.suffix == ".zip" and code.is_file():
        return code.read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        for path in sorted(bundle.rglob("*")):
            if path.is_file() and path.name != ".sandbox-bundle":
                package.write(path, path.relative_to(bundle).as_posix())
    return out.getvalue()
