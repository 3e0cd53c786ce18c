"""A function whose model is downloaded from S3 at INIT (the AWS zip-packaging post's pattern),
with LocalStack as the AWS side, on both backends: the process backend and the docker backend
(a container of the function's image with the real RIE). LocalStack runs in a container that
testcontainers starts from the offline image (`sandbox images localstack`).
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from lambda_sandbox.build.offline_images import LOCALSTACK_IMAGE, build_images
from lambda_sandbox.environments.docker import network_gateway
from lambda_sandbox.pytest_plugin import make_lambda_client
from lambda_sandbox.runner import SandboxOptions, SandboxThread
from tests.conftest import log_of, report_of

pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.root, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def localstack() -> Iterator[str]:
    """LocalStack in a container (testcontainers); an endpoint that both the host and the
    function containers reach: the Docker bridge's gateway and the published port."""
    from testcontainers.core.container import DockerContainer

    build_images(["localstack"])
    container = DockerContainer(LOCALSTACK_IMAGE).with_exposed_ports(4566)
    container.start()
    try:
        import docker

        engine = docker.from_env()
        gateway = network_gateway(engine, "bridge")
        engine.close()
        url = f"http://{gateway}:{container.get_exposed_port(4566)}"
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_localstack/health", timeout=2) as resp:
                    if json.load(resp)["services"].get("s3") in ("available", "running"):
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, container.get_logs()[0][-3000:]
            time.sleep(0.5)
        yield url
    finally:
        container.stop()


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("backend", ["process", "docker"])
def test_model_from_localstack_s3_at_init_on_both_backends(localstack: str, backend: str) -> None:
    options = SandboxOptions(
        functions_dir=ROOT / "functions",
        only=["sentiment"],
        port=0,
        aws_endpoint=localstack,
        project_dir=ROOT,
        backend=backend,
    )
    with SandboxThread(options).start(timeout_s=1200) as sandbox:
        s3 = boto3.client(
            "s3", endpoint_url=localstack, region_name="us-east-1",
            aws_access_key_id="test", aws_secret_access_key="test",
        )  # fmt: skip
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="sandbox-models")["Contents"]]
        assert "sentiment/model.int8.onnx" in keys, "the sandbox uploaded the model to LocalStack"

        client = make_lambda_client(sandbox.url)
        event = json.loads((ROOT / "functions/sentiment/events/direct.json").read_text())
        resp = client.invoke(
            FunctionName="sentiment", Payload=json.dumps(event).encode(), LogType="Tail"
        )
        body = json.loads(resp["Payload"].read())
        assert "FunctionError" not in resp, body
        assert body["label"] == "happy", body
        fields = report_of(log_of(resp))
        assert fields.init_ms is not None, "the model was fetched during INIT"
        assert fields.max_memory_used_mb > 50, "ONNX Runtime and the model"
