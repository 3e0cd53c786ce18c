"""What the HTTP faces share: aiohttp requests as `HttpRequest`s, `HttpAnswer`s as responses."""

from __future__ import annotations

import hashlib
import json
import os
import time

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


def _front_door_headers(request: web.BaseRequest, source_ip: str) -> list[tuple[str, str]]:
    """What AWS's front (API Gateway, function URLs) adds to a request: the client's address,
    the scheme and port it came in on, and a trace id (x-amzn-tls-* only over TLS, which the
    sandbox does not speak)."""
    sock = request.transport.get_extra_info("sockname") if request.transport else None
    port = str(sock[1]) if sock else "80"
    given = {k.lower() for k in request.headers}
    forwarded_for = request.headers.get("x-forwarded-for")
    added = [
        ("x-forwarded-for", f"{forwarded_for}, {source_ip}" if forwarded_for else source_ip),
        ("x-forwarded-proto", request.scheme),
        ("x-forwarded-port", port),
    ]
    if "x-amzn-trace-id" not in given:
        rand = os.urandom(12).hex()
        added.append(("x-amzn-trace-id", f"Root=1-{int(time.time()):08x}-{rand}"))
    return added


async def read_request(request: web.BaseRequest) -> HttpRequest:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    path, _, query = request.raw_path.partition("?")
    source_ip = peer[0] if peer else "127.0.0.1"
    own = [(k, v) for k, v in request.headers.items() if k.lower() != "x-forwarded-for"]
    return HttpRequest(
        method=request.method,
        path=path,
        query=query,
        headers=own + _front_door_headers(request, source_ip),
        body=await request.read(),
        source_ip=source_ip,
        protocol=f"HTTP/{request.version.major}.{request.version.minor}",
    )


def respond(answer: HttpAnswer) -> web.Response:
    response = web.Response(status=answer.status, body=answer.body)
    for key, value in answer.headers:
        if key.lower() == "content-length":
            continue
        response.headers.add(key, value)
    return response
