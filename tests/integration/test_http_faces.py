"""Function URLs and API Gateway, through real HTTP, checked against an independent model of
AWS's event shapes: aws-lambda-powertools' parser models."""

from __future__ import annotations

import base64
import json
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayProxyEventModel,
    APIGatewayProxyEventV2Model,
    LambdaFunctionUrlModel,
)

from lambda_sandbox.runner import SandboxOptions, SandboxThread

pytestmark = [pytest.mark.integration, pytest.mark.root]


@pytest.fixture(scope="module")
def urls(probe_sandbox: SandboxThread) -> dict[str, str]:
    gateway = probe_sandbox.gateway
    assert gateway.api_url is not None
    return {"api": gateway.api_url, "url": gateway.function_urls["http-echo"]}


def echoed(resp: httpx.Response) -> dict[str, Any]:
    return json.loads(resp.content)["event"]


def test_function_url_sends_a_payload_2_0_event(urls: dict[str, str]) -> None:
    resp = httpx.get(
        urls["url"] + "some/path",
        params=[("a", "1"), ("a", "2"), ("b", "x y")],
        headers={"X-Custom": "Value", "Cookie": "c1=v1; c2=v2"},
    )
    assert resp.status_code == 201
    event = echoed(resp)
    model = LambdaFunctionUrlModel.model_validate(event)
    assert model.rawPath == "/some/path"
    assert event["rawQueryString"] == "a=1&a=2&b=x+y"
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x y"}
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert event["headers"]["x-custom"] == "Value"
    assert all(k == k.lower() for k in event["headers"])
    assert event["routeKey"] == "$default"
    assert event["requestContext"]["http"]["method"] == "GET"
    assert event["requestContext"]["domainName"].endswith(".lambda-url.us-east-1.on.aws")
    assert event["isBase64Encoded"] is False and "body" not in event
    # the answer is mapped as Lambda maps it
    assert resp.headers["x-probe"] == "yes"
    assert resp.headers.get_list("x-multi") == ["a", "b"]
    assert resp.headers.get_list("set-cookie") == ["session=abc; Path=/", "theme=dark"]


def test_function_url_binary_bodies_and_bare_answers(urls: dict[str, str]) -> None:
    blob = bytes(range(256)) * 4
    resp = httpx.post(urls["url"] + "upload", content=blob, headers={"content-type": "image/png"})
    event = echoed(resp)
    LambdaFunctionUrlModel.model_validate(event)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == blob
    text = httpx.post(urls["url"] + "t", json={"k": "v"})
    assert json.loads(echoed(text)["body"]) == {"k": "v"}
    bare = httpx.get(urls["url"] + "x/bare")
    assert (bare.status_code, bare.json()) == (200, {"bare": True, "path": "/x/bare"})
    assert bare.headers["content-type"] == "application/json"
    binary = httpx.get(urls["url"] + "x/binary")
    assert binary.content == bytes(range(256))
    assert httpx.get(urls["url"] + "x/fail").status_code == 502


def test_rest_api_sends_a_payload_1_0_event(urls: dict[str, str]) -> None:
    resp = httpx.get(
        urls["api"] + "/items/42",
        params=[("q", "1"), ("q", "2")],
        headers={"X-Dup": "one"},
    )
    assert resp.status_code == 201
    event = echoed(resp)
    model = APIGatewayProxyEventModel.model_validate(event)
    assert model.resource == "/items/{id}"
    assert event["path"] == "/items/42"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"id": "42"}
    assert event["queryStringParameters"] == {"q": "2"}
    assert event["multiValueQueryStringParameters"] == {"q": ["1", "2"]}
    assert event["multiValueHeaders"]["X-Dup"] == ["one"]
    assert event["requestContext"]["stage"] == "Prod"
    assert event["requestContext"]["resourcePath"] == "/items/{id}"
    assert event["stageVariables"] is None
    posted = httpx.post(urls["api"] + "/items", json={"name": "x"})
    assert json.loads(echoed(posted)["body"]) == {"name": "x"}
    assert httpx.delete(urls["api"] + "/items/42").status_code == 403  # no such method


def test_http_api_sends_a_payload_2_0_event_with_greedy_path(urls: dict[str, str]) -> None:
    resp = httpx.put(urls["api"] + "/files/a/b/c.txt", content=b"hello")
    event = echoed(resp)
    APIGatewayProxyEventV2Model.model_validate(event)
    assert event["routeKey"] == "ANY /files/{proxy+}"
    assert event["pathParameters"] == {"proxy": "a/b/c.txt"}
    assert event["body"] == "hello"


def test_api_gateway_limits_and_errors(urls: dict[str, str]) -> None:
    slow = httpx.get(urls["api"] + "/slow/sleep", timeout=30)  # TimeoutInMillis: 1000
    assert (slow.status_code, slow.json()) == (504, {"message": "Endpoint request timed out"})
    fail = httpx.get(urls["api"] + "/rest/fail")
    assert (fail.status_code, fail.json()) == (502, {"message": "Internal server error"})
    bad = httpx.get(urls["api"] + "/rest/malformed")
    assert (bad.status_code, bad.json()) == (502, {"message": "Internal server error"})
    big = httpx.post(urls["api"] + "/items", content=b"x" * (10 * 1024 * 1024 + 1))
    assert big.status_code == 413
    assert httpx.get(urls["api"] + "/nothing/here").status_code == 404


def test_a_sam_template_runs_unchanged(tmp_path: Path) -> None:
    """A hello-world template in the style of the public SAM examples."""
    (tmp_path / "hello_world").mkdir()
    (tmp_path / "hello_world" / "app.py").write_text(
        textwrap.dedent("""
        import json
        import os


        def lambda_handler(event, context):
            return {
                "statusCode": 200,
                "body": json.dumps({"message": "hello world", "table": os.environ["TABLE"]}),
            }
    """)
    )
    (tmp_path / "template.yaml").write_text(
        textwrap.dedent("""
        AWSTemplateFormatVersion: '2010-09-09'
        Transform: AWS::Serverless-2016-10-31
        Description: sam-app, sample SAM Template

        Globals:
          Function:
            Timeout: 3
            MemorySize: 128
            Environment:
              Variables:
                TABLE: !Ref Table

        Resources:
          HelloWorldFunction:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: hello_world/
              Handler: app.lambda_handler
              Runtime: python3.11
              Architectures:
                - x86_64
              Events:
                HelloWorld:
                  Type: Api
                  Properties:
                    Path: /hello
                    Method: get
          Table:
            Type: AWS::Serverless::SimpleTable

        Outputs:
          HelloWorldApi:
            Description: API Gateway endpoint URL for Prod stage
            Value: !Sub "https://${ServerlessRestApi}.execute-api.${AWS::Region}.amazonaws.com/Prod/hello/"
    """)
    )
    options = SandboxOptions(
        template=tmp_path / "template.yaml", port=0, embedded_aws=False, project_dir=tmp_path
    )
    with SandboxThread(options) as sandbox:
        resp = httpx.get(f"{sandbox.gateway.api_url}/hello")
    assert resp.status_code == 200
    assert resp.json() == {"message": "hello world", "table": "Table"}


def test_metrics_endpoints(probe_sandbox: SandboxThread, urls: dict[str, str]) -> None:
    import time

    for _ in range(100):  # the 504 test's invocation runs on after the gateway gave up
        before = httpx.get(f"{probe_sandbox.url}/_sandbox/metrics").json()["http-echo"]
        if before["ConcurrentExecutions"] == 0:
            break
        time.sleep(0.1)
    httpx.get(urls["url"] + "ok")
    httpx.get(urls["url"] + "x/fail")
    after = httpx.get(f"{probe_sandbox.url}/_sandbox/metrics").json()["http-echo"]
    assert after["Invocations"] - before["Invocations"] == 2
    assert after["Errors"] - before["Errors"] == 1
    text = httpx.get(f"{probe_sandbox.url}/metrics").text
    assert f'lambda_invocations_total{{function_name="http-echo"}} {after["Invocations"]}.0' in text
    assert 'lambda_duration_milliseconds_bucket{function_name="http-echo",le="+Inf"}' in text
    assert "lambda_concurrent_executions" in text
