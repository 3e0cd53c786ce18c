"""HTTP requests as Lambda events and answers as HTTP, as AWS maps them: pure functions.

Shapes from AWS's documentation (payload formats 1.0 and 2.0, function URL events) and the
canonical events of aws-lambda-powertools' tests/events.
"""

from __future__ import annotations

import base64
import json

import pytest

from lambda_sandbox.faces.http_events import (
    HttpRequest,
    MalformedResponse,
    answer_v1,
    answer_v2,
    event_v1,
    event_v2,
)

REQ = HttpRequest(
    method="POST",
    path="/items/7",
    query="a=1&a=2&b=",
    headers=[
        ("Host", "x.lambda-url.us-east-1.on.aws"),
        ("X-Thing", "one"),
        ("x-thing", "two"),
        ("Cookie", "c1=v1; c2=v2"),
        ("Content-Type", "application/json"),
        ("User-Agent", "curl/8"),
    ],
    body=b'{"k": "v"}',
    source_ip="10.0.0.1",
)
COMMON = {"api_id": "abc", "domain_name": "abc.lambda-url.us-east-1.on.aws", "account_id": "1"}


def test_payload_2_0_event() -> None:
    event = event_v2(REQ, route_key="$default", path_parameters=None, **COMMON)
    assert event["version"] == "2.0" and event["routeKey"] == "$default"
    assert event["rawPath"] == "/items/7" and event["rawQueryString"] == "a=1&a=2&b="
    assert event["queryStringParameters"] == {"a": "1,2", "b": ""}
    assert event["headers"]["x-thing"] == "one,two"  # lower-cased, duplicates comma-joined
    assert "cookie" not in event["headers"] and event["cookies"] == ["c1=v1", "c2=v2"]
    http = event["requestContext"]["http"]
    assert http == {
        "method": "POST",
        "path": "/items/7",
        "protocol": "HTTP/1.1",
        "sourceIp": "10.0.0.1",
        "userAgent": "curl/8",
    }
    assert event["requestContext"]["domainPrefix"] == "abc"
    assert event["body"] == '{"k": "v"}' and event["isBase64Encoded"] is False


def test_a_binary_body_is_base64() -> None:
    req = HttpRequest("PUT", "/", "", [("Content-Type", "image/png")], b"\x89PNG\x00")
    event = event_v2(req, route_key="$default", path_parameters=None, **COMMON)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\x89PNG\x00"


def test_payload_1_0_event() -> None:
    event = event_v1(
        REQ, resource="/items/{id}", path_parameters={"id": "7"}, stage="Prod", **COMMON
    )
    assert event["httpMethod"] == "POST" and event["resource"] == "/items/{id}"
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": [""]}
    assert event["queryStringParameters"] == {"a": "2", "b": ""}  # the last value wins
    assert event["multiValueHeaders"]["Cookie"] == ["c1=v1; c2=v2"]
    assert event["pathParameters"] == {"id": "7"} and event["stageVariables"] is None
    assert event["requestContext"]["path"] == "/Prod/items/7"
    assert event["requestContext"]["identity"]["sourceIp"] == "10.0.0.1"


def test_payload_2_0_answers() -> None:
    plain = answer_v2(b'{"hello": "world"}')  # no statusCode: a 200 JSON body
    assert plain.status == 200 and ("content-type", "application/json") in plain.headers
    # re-serialized as AWS does (LocalStack's snapshot test_lambda_url_invocation: dict 17
    # bytes, list-mixed 16 bytes, a string unquoted, numbers and booleans as they are)
    assert plain.body == b'{"hello":"world"}'
    assert answer_v2(b'["hello", 3, true]').body == b'["hello",3,true]'
    assert answer_v2(b'"hello"').body == b"hello"
    assert [answer_v2(v).body for v in (b"3", b"3.1", b"true")] == [b"3", b"3.1", b"true"]
    assert answer_v2(b'{"statusCode": 200, "body": "body123"}').body == b"body123"
    full = answer_v2(
        json.dumps(
            {
                "statusCode": 201,
                "headers": {"X-A": "1"},
                "cookies": ["s=1"],
                "body": base64.b64encode(b"\x00bin").decode(),
                "isBase64Encoded": True,
            }
        ).encode()
    )
    assert full.status == 201 and full.body == b"\x00bin"
    assert ("X-A", "1") in full.headers and ("set-cookie", "s=1") in full.headers
    with pytest.raises(MalformedResponse):
        answer_v2(b'{"statusCode": 99}')


def test_payload_1_0_answers_need_a_status_code() -> None:
    answer = answer_v1(
        b'{"statusCode": 200, "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]}, "body": "x"}'
    )
    assert answer.body == b"x"
    assert [v for k, v in answer.headers if k == "Set-Cookie"] == ["a=1", "b=2"]
    for bad in (b'"hello"', b'{"body": "x"}', b'{"statusCode": 200, "extra": 1}', b"nope"):
        with pytest.raises(MalformedResponse):
            answer_v1(bad)
