"""HTTP requests as Lambda events, and Lambda answers as HTTP responses, as AWS maps them.

Three event shapes: API Gateway REST APIs (payload format 1.0), HTTP APIs (2.0) and function URLs
(2.0 with routeKey "$default"). Answers: a result with `statusCode` is mapped field by field
(headers, multiValueHeaders, cookies, body, isBase64Encoded); for payload 2.0 any other JSON
result becomes a 200 application/json body. Pure functions: no server, no service here.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

__all__ = [
    "HttpAnswer",
    "HttpRequest",
    "MalformedResponse",
    "answer_v1",
    "answer_v2",
    "event_v1",
    "event_v2",
]

_TEXT_TYPES = (
    "text/",
    "application/json",
    "application/xml",
    "application/javascript",
    "application/x-www-form-urlencoded",
    "+json",
    "+xml",
)


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str  # raw path, without the query string
    query: str  # raw query string, without "?"
    headers: list[tuple[str, str]]  # as received, in order
    body: bytes
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


@dataclass
class HttpAnswer:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


class MalformedResponse(ValueError):
    """The function's answer cannot be mapped to HTTP (API Gateway answers 502)."""


def _is_text(content_type: str | None) -> bool:
    if not content_type:
        return True
    ct = content_type.lower()
    return any(t in ct for t in _TEXT_TYPES)


def _body_field(req: HttpRequest) -> tuple[str | None, bool]:
    if not req.body:
        return None, False
    if _is_text(req.header("content-type")):
        try:
            return req.body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(req.body).decode(), True


def _now() -> tuple[int, str, str]:
    epoch_ms = int(time.time() * 1000)
    t = time.gmtime(epoch_ms / 1000)
    v2_time = time.strftime("%d/%b/%Y:%H:%M:%S +0000", t)
    return epoch_ms, v2_time, v2_time


def event_v2(
    req: HttpRequest,
    *,
    route_key: str,
    path_parameters: dict[str, str] | None,
    api_id: str,
    domain_name: str,
    account_id: str,
    stage: str = "$default",
) -> dict[str, Any]:
    """Payload format 2.0: HTTP APIs, and function URLs (route_key "$default")."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for key, value in req.headers:
        k = key.lower()
        if k == "cookie":
            cookies += [c.strip() for c in value.split(";") if c.strip()]
            continue
        headers[k] = f"{headers[k]},{value}" if k in headers else value
    query: dict[str, str] = {}
    for key, value in parse_qsl(req.query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    epoch_ms, when, _ = _now()
    body, b64 = _body_field(req)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": req.path,
        "rawQueryString": req.query,
        "headers": headers,
        "requestContext": {
            "accountId": account_id,
            "apiId": api_id,
            "domainName": domain_name,
            "domainPrefix": domain_name.split(".", 1)[0],
            "http": {
                "method": req.method,
                "path": req.path,
                "protocol": req.protocol,
                "sourceIp": req.source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": stage,
            "time": when,
            "timeEpoch": epoch_ms,
        },
        "isBase64Encoded": b64,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body is not None:
        event["body"] = body
    return event


def event_v1(
    req: HttpRequest,
    *,
    resource: str,
    path_parameters: dict[str, str] | None,
    api_id: str,
    domain_name: str,
    account_id: str,
    stage: str,
    stage_variables: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Payload format 1.0: API Gateway REST APIs (and HTTP APIs configured for 1.0)."""
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for key, value in req.headers:
        headers[key] = value
        multi_headers.setdefault(key, []).append(value)
    query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for key, value in parse_qsl(req.query, keep_blank_values=True):
        query[key] = value
        multi_query.setdefault(key, []).append(value)
    epoch_ms, _, _ = _now()
    body, b64 = _body_field(req)
    request_time = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch_ms / 1000))
    return {
        "version": "1.0",
        "resource": resource,
        "path": req.path,
        "httpMethod": req.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": stage_variables or None,
        "requestContext": {
            "accountId": account_id,
            "apiId": api_id,
            "domainName": domain_name,
            "domainPrefix": domain_name.split(".", 1)[0],
            "extendedRequestId": uuid.uuid4().hex[:16],
            "httpMethod": req.method,
            "identity": {
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "principalOrgId": None,
                "sourceIp": req.source_ip,
                "user": None,
                "userAgent": headers.get("User-Agent") or req.header("user-agent"),
                "userArn": None,
            },
            "path": f"/{stage}{req.path}",
            "protocol": req.protocol,
            "requestId": str(uuid.uuid4()),
            "requestTime": request_time,
            "requestTimeEpoch": epoch_ms,
            "resourceId": uuid.uuid4().hex[:6],
            "resourcePath": resource,
            "stage": stage,
        },
        "body": body,
        "isBase64Encoded": b64,
    }


def _body_bytes(result: dict[str, Any]) -> bytes:
    body = result.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        body = json.dumps(body)
    if result.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except ValueError as exc:
            raise MalformedResponse("isBase64Encoded is true but body is not base64") from exc
    return body.encode()


def _headers(result: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    headers = result.get("headers") or {}
    multi = result.get("multiValueHeaders") or {}
    if not isinstance(headers, dict) or not isinstance(multi, dict):
        raise MalformedResponse("headers and multiValueHeaders must be objects")
    for key, values in multi.items():
        out += [(str(key), str(v)) for v in (values if isinstance(values, list) else [values])]
    seen = {k.lower() for k, _ in out}
    out += [(str(k), str(v)) for k, v in headers.items() if str(k).lower() not in seen]
    return out


def answer_v2(payload: bytes) -> HttpAnswer:
    """Map a payload-2.0 answer (HTTP API, function URL)."""
    try:
        result = json.loads(payload) if payload else None
    except ValueError:
        return HttpAnswer(200, [("content-type", "application/json")], payload)
    if not isinstance(result, dict) or "statusCode" not in result:
        # not an HTTP answer: the result is the body, as Lambda re-serializes it (compact
        # JSON; a string as its text, unquoted: LocalStack's snapshot test_lambda_url_invocation)
        text = result if isinstance(result, str) else json.dumps(result, separators=(",", ":"))
        return HttpAnswer(200, [("content-type", "application/json")], text.encode())
    status = result.get("statusCode")
    if not isinstance(status, int) or not 100 <= status <= 599:
        raise MalformedResponse(f"statusCode {status!r} is not an HTTP status")
    headers = _headers(result)
    cookies = result.get("cookies") or []
    headers += [("set-cookie", str(c)) for c in cookies]
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("content-type", "application/json"))
    return HttpAnswer(status, headers, _body_bytes(result))


def answer_v1(payload: bytes) -> HttpAnswer:
    """Map a payload-1.0 answer (REST API): statusCode is required."""
    try:
        result = json.loads(payload) if payload else None
    except ValueError as exc:
        raise MalformedResponse("the answer is not JSON") from exc
    if not isinstance(result, dict):
        raise MalformedResponse("the answer must be an object with statusCode")
    status = result.get("statusCode")
    if not isinstance(status, int) or not 100 <= status <= 599:
        raise MalformedResponse(f"statusCode {status!r} is not an HTTP status")
    unknown = set(result) - {
        "statusCode",
        "headers",
        "multiValueHeaders",
        "body",
        "isBase64Encoded",
        "cookies",
    }
    if unknown:
        raise MalformedResponse(f"unexpected fields {sorted(unknown)}")
    headers = _headers(result)
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("content-type", "application/json"))
    return HttpAnswer(status, headers, _body_bytes(result))
