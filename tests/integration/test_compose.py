"""compose.yaml: it validates, and `docker compose up` brings LocalStack and the sandbox up from
offline images, serves a function (in a container of its own, the docker backend) that reads an
object from LocalStack's S3, and `docker compose down` leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from lambda_sandbox.aws_side import free_port
from lambda_sandbox.build.offline_images import LOCALSTACK_IMAGE, SANDBOX_IMAGE, build_images
from lambda_sandbox.pytest_plugin import make_lambda_client
from tests.conftest import log_of, report_of

pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.root]

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "tests" / "compose" / "functions"


def compose(args: list[str], env: dict[str, str], timeout: float = 600) -> str:
    proc = subprocess.run(
        ["docker", "compose", "-f", str(ROOT / "compose.yaml"), *args],
        capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, f"docker compose {' '.join(args)}:\n{proc.stderr[-4000:]}"
    return proc.stdout


def stack_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        LOCALSTACK_IMAGE=LOCALSTACK_IMAGE,
        SANDBOX_IMAGE=SANDBOX_IMAGE,
        SANDBOX_FUNCTIONS=str(FUNCTIONS),
        **extra,
    )
    return env


def test_compose_config_validates_and_wires_the_stack() -> None:
    config = json.loads(compose(["config", "--format", "json"], stack_env()))
    services = config["services"]
    assert set(services) == {"localstack", "sandbox"}
    sandbox, localstack = services["sandbox"], services["localstack"]
    assert "--backend=docker" in sandbox["command"]
    assert "--aws-endpoint=http://localstack:4566" in sandbox["command"]
    # nothing is named fixedly, so two checkouts run side by side: the project is the
    # folder's (or COMPOSE_PROJECT_NAME), the network the project's, found by the sandbox
    assert config["name"] == ROOT.name.lower() and "container_name" not in sandbox
    assert config["networks"]["lambda"]["name"] == f"{config['name']}_lambda"
    assert "--docker-network=auto" in sandbox["command"]
    assert sandbox["depends_on"]["localstack"]["condition"] == "service_healthy"
    mounts = {v["target"]: v for v in sandbox["volumes"]}
    assert mounts["/var/run/docker.sock"]["source"] == "/var/run/docker.sock"
    assert mounts["/project/functions"]["source"] == str(FUNCTIONS)
    assert "healthcheck" in sandbox and "healthcheck" in localstack
    assert {v["target"] for v in localstack["volumes"]} == {"/var/lib/localstack"}
    assert localstack["image"] == LOCALSTACK_IMAGE
    assert "LOCALSTACK_AUTH_TOKEN" in localstack["environment"]


def free_port_range(count: int) -> int:
    """The first of `count` consecutive free ports on 127.0.0.1 (compose maps a range)."""
    for start in range(20000, 60000, count):
        socks = []
        try:
            for port in range(start, start + count):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return start
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise AssertionError("no free range of ports")


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[str, str]]:
    """The compose stack from offline images on free ports: (Lambda API URL, LocalStack URL)."""
    build_images(["lambda", "sandbox", "localstack"], python_versions=["3.12"])
    sandbox_port, localstack_port = free_port_range(21), free_port()
    env = stack_env(
        SANDBOX_PORT=str(sandbox_port),
        SANDBOX_PORT_LAST=str(sandbox_port + 20),
        LOCALSTACK_PORT=str(localstack_port),
    )
    project = ["-p", f"lsbx-test-{os.getpid()}"]
    try:
        compose([*project, "up", "-d", "--wait", "--wait-timeout", "300"], env)
        yield f"http://127.0.0.1:{sandbox_port}", f"http://127.0.0.1:{localstack_port}"
    finally:
        logs = subprocess.run(
            ["docker", "compose", "-f", str(ROOT / "compose.yaml"), *project, "logs", "sandbox"],
            capture_output=True, text=True, env=env,
        ).stdout  # fmt: skip
        print(logs[-3000:])
        compose([*project, "down", "-v", "--remove-orphans"], env)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_compose_up_serves_a_function_that_reads_localstack_s3(stack: tuple[str, str]) -> None:
    lambda_url, localstack_url = stack
    s3 = boto3.client(
        "s3", endpoint_url=localstack_url, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )  # fmt: skip
    s3.create_bucket(Bucket="compose-smoke")
    s3.put_object(Bucket="compose-smoke", Key="hello.txt", Body=b"hello from LocalStack")

    client = make_lambda_client(lambda_url)
    assert [f["FunctionName"] for f in client.list_functions()["Functions"]] == ["s3-reader"]
    resp = client.invoke(
        FunctionName="s3-reader",
        Payload=json.dumps({"bucket": "compose-smoke", "key": "hello.txt"}).encode(),
        LogType="Tail",
    )
    body = json.loads(resp["Payload"].read())
    assert "FunctionError" not in resp, body
    assert body == {
        "content": "hello from LocalStack",
        "endpoint": "http://localstack:4566",
        "uid": 993,
    }
    fields = report_of(log_of(resp))
    assert fields.init_ms is not None
    assert 0 < fields.max_memory_used_mb < 256, "measured from the cgroup"

    import docker

    engine = docker.from_env()
    try:
        containers = engine.containers.list(filters={"label": "lambda-sandbox.function=s3-reader"})
        assert len(containers) == 1, "one execution environment, a container of the host's engine"
        host_config = containers[0].attrs["HostConfig"]
        assert host_config["Memory"] == 256 << 20
        assert host_config["ReadonlyRootfs"] is True
    finally:
        engine.close()


USERS_TEST = """
import json

import pytest


@pytest.mark.integration
def test_s3_reader(lambda_client):
    resp = lambda_client.invoke(
        FunctionName="s3-reader",
        Payload=json.dumps({"bucket": "compose-smoke", "key": "hello.txt"}),
    )
    assert json.load(resp["Payload"])["content"] == "hello from LocalStack"
"""


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_pytest_m_integration_runs_against_the_stack(
    stack: tuple[str, str], tmp_path: Path
) -> None:
    """A user's test with the plugin's lambda_client, pointed at the stack by $SANDBOX_URL."""
    lambda_url, localstack_url = stack
    s3 = boto3.client(
        "s3", endpoint_url=localstack_url, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )  # fmt: skip
    s3.create_bucket(Bucket="compose-smoke")
    s3.put_object(Bucket="compose-smoke", Key="hello.txt", Body=b"hello from LocalStack")
    (tmp_path / "test_users.py").write_text(USERS_TEST)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTEST_"))}
    env["SANDBOX_URL"] = lambda_url
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-m", "integration", "-p", "no:cacheprovider",
         "-W", "error", str(tmp_path / "test_users.py")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "1 passed" in proc.stdout
