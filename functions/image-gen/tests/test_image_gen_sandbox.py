"""image-gen through a running sandbox, as on AWS: boto3 Invoke with STORE writes a PNG of the
requested size into the embedded S3; the function URL answers with the PNG itself."""

from __future__ import annotations

import base64
import io
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from lambda_sandbox.pytest_plugin import make_lambda_client
from lambda_sandbox.runner import SandboxOptions, SandboxThread

FUNCTION_DIR = Path(__file__).resolve().parents[1]
OUTPUT_BUCKET = "sandbox-images"  # function.yaml's OUTPUT_BUCKET

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def image_gen_sandbox() -> Iterator[SandboxThread]:
    """The sandbox serving only image-gen, with the embedded S3 holding its model."""
    options = SandboxOptions(
        functions_dir=FUNCTION_DIR.parent, port=0, only=["image-gen"],
        project_dir=FUNCTION_DIR.parents[1],
    )  # fmt: skip
    thread = SandboxThread(options).start()
    try:
        yield thread
    finally:
        thread.stop()


@pytest.fixture(scope="module")
def s3(image_gen_sandbox: SandboxThread) -> Any:
    """boto3 S3 on the sandbox's AWS side, with the output bucket created (as a deployer would)."""
    import boto3

    aws = image_gen_sandbox.sandbox.aws
    assert aws is not None
    client = boto3.client(
        "s3", endpoint_url=aws.endpoint_url, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )  # fmt: skip
    client.create_bucket(Bucket=OUTPUT_BUCKET)
    return client


def test_invoke_with_store_puts_a_png_of_the_requested_size_in_s3(
    image_gen_sandbox: SandboxThread, s3: Any
) -> None:
    client = make_lambda_client(image_gen_sandbox.url)
    event = {"prompt": "mountains and rivers at sunset", "width": 200, "height": 96,
             "steps": 4, "seed": 1234, "store": True}  # fmt: skip
    resp = client.invoke(FunctionName="image-gen", Payload=json.dumps(event).encode(),
                         LogType="Tail")  # fmt: skip
    assert resp["StatusCode"] == 200 and "FunctionError" not in resp
    out = json.load(resp["Payload"])
    request_id = resp["ResponseMetadata"]["RequestId"]
    key = f"generated/{request_id}.png"
    assert out["image_url"] == f"s3://{OUTPUT_BUCKET}/{key}"
    assert "image_base64" not in out
    assert "REPORT RequestId: " in base64.b64decode(resp["LogResult"]).decode()

    obj = s3.get_object(Bucket=OUTPUT_BUCKET, Key=key)
    data = obj["Body"].read()
    assert obj["ContentType"] == "image/png" and len(data) == out["bytes"]
    img = Image.open(io.BytesIO(data))
    img.load()
    assert img.format == "PNG" and img.mode == "RGB"
    assert img.size == (200, 96)
    # the presigned URL points at the same AWS side (AWS_ENDPOINT_URL) and serves the same bytes
    with urllib.request.urlopen(out["presigned_url"], timeout=30) as answer:
        assert answer.read() == data


def test_invoke_without_store_returns_base64_and_clamps(image_gen_sandbox: SandboxThread) -> None:
    client = make_lambda_client(image_gen_sandbox.url)
    event = {"prompt": "a red fox", "width": 1000, "height": 61, "steps": 2, "seed": 3}
    out = json.load(client.invoke(FunctionName="image-gen", Payload=json.dumps(event))["Payload"])
    img = Image.open(io.BytesIO(base64.b64decode(out["image_base64"])))
    assert img.size == (512, 64) and out["clamped"] == ["width", "height"]


def test_bad_request_is_an_aws_shaped_function_error(image_gen_sandbox: SandboxThread) -> None:
    client = make_lambda_client(image_gen_sandbox.url)
    resp = client.invoke(FunctionName="image-gen", Payload=json.dumps({"width": 64}))
    assert resp["FunctionError"] == "Unhandled"
    error = json.load(resp["Payload"])
    assert error["errorType"] == "ValueError" and "prompt" in error["errorMessage"]


def test_function_url_answers_with_the_png(image_gen_sandbox: SandboxThread) -> None:
    url = image_gen_sandbox.gateway.function_urls["image-gen"]
    query = "prompt=a+red+fox&width=128&height=64&steps=2&seed=5"
    with urllib.request.urlopen(f"{url.rstrip('/')}/?{query}", timeout=120) as answer:
        assert answer.headers["content-type"] == "image/png"
        assert answer.headers["x-image-seed"] == "5"
        img = Image.open(io.BytesIO(answer.read()))
    assert img.format == "PNG" and img.size == (128, 64)


def test_store_from_the_environment_and_steps_from_pipeline_steps(
    image_gen_sandbox: SandboxThread, s3: Any
) -> None:
    """The seed study's switches: STORE=true and PIPELINE_STEPS in the function's environment
    (UpdateFunctionConfiguration, as on AWS), no store or steps in the request."""
    client = make_lambda_client(image_gen_sandbox.url)
    before = client.get_function_configuration(FunctionName="image-gen")["Environment"]
    variables = {**before["Variables"], "STORE": "true", "PIPELINE_STEPS": "3"}
    client.update_function_configuration(
        FunctionName="image-gen", Environment={"Variables": variables}
    )
    try:
        event = {"prompt": "a castle", "width": 80, "height": 120, "seed": 8}
        resp = client.invoke(FunctionName="image-gen", Payload=json.dumps(event))
        out = json.load(resp["Payload"])
        assert "FunctionError" not in resp, out
        assert out["steps"] == 3 and "image_base64" not in out
        obj = s3.get_object(Bucket=OUTPUT_BUCKET, Key=out["key"])
        assert Image.open(io.BytesIO(obj["Body"].read())).size == (80, 120)
    finally:
        client.update_function_configuration(FunctionName="image-gen", Environment=before)
