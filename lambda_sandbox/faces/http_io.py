"""What the HTTP faces share: aiohttp requests as `HttpRequest`s, `HttpAnswer`s as responses."""

from __future__ import annotations

import hashlib
import json

from aiohttp import web

from lambda_sandbox.faces.http_events import HttpAnswer, HttpRequest

__all__ = ["json_answer", "read_request", "respond", "url_id"]


def url_id(function: str) -> str:
    """A stable 32-character id, like the one in https://<id>.lambda-url.<region>.on.aws/."""
    return hashlib.sha256(function.encode()).hexdigest()[:32]


def json_answer(status: int, message: str) -> web.Response:
    return web.Response(
        status=status, text=json.dumps({"message": message}), content_type="application/json"
    )


async def read_request(request: web.BaseRequest) -> HttpRequest:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    path, _, query = request.raw_path.partition("?")
    return HttpRequest(
        method=request.method,
        path=path,
        query=query,
        headers=list(request.headers.items()),
        body=await request.read(),
        source_ip=peer[0] if peer else "127.0.0.1",
        protocol=f"HTTP/{request.version.major}.{request.version.minor}",
    )


def respond(answer: HttpAnswer) -> web.Response:
    response = web.Response(status=answer.status, body=answer.body)
    for key, value in answer.headers:
        if key.lower() == "content-length":
            continue
        response.headers.add(key, value)
    return response
