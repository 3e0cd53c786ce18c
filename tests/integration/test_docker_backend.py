"""The docker backend: each execution environment is a container of the function's image, with
the real RIE inside, limited by the engine like a Lambda tier. What both backends do alike
(cold and warm starts, memory, CPU, /tmp, errors, timeouts) is tested once, over both, in
test_lambda_fidelity.py; here is what only the docker backend does.

The images come from `sandbox images` (built on first use: debootstrap + docker import, no
registry), so these tests need a Docker engine and root, which CI provides.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lambda_sandbox.pytest_plugin import make_lambda_client
from lambda_sandbox.runner import SandboxOptions, SandboxThread
from tests.conftest import invoke

# the first run on a machine builds the offline base images (debootstrap): minutes
pytestmark = [
    pytest.mark.integration,
    pytest.mark.docker,
    pytest.mark.root,
    pytest.mark.timeout(900),
]


@pytest.fixture(scope="module")
def client(docker_client: Any) -> Any:
    return docker_client


def test_boto3_invoke_goes_through_the_rie_in_a_limited_container(client: Any) -> None:
    resp, body, _ = invoke(client, "probe", {"action": "echo", "n": 1})
    assert "FunctionError" not in resp, body
    assert body["event"] == {"action": "echo", "n": 1}
    assert body["uid"] == 993, "Lambda's sandbox user, not root"
    _, env, _ = invoke(client, "probe", {"action": "env"})
    # inside the container the runtime talks to the RIE's Runtime API, not to the sandbox's
    assert env["AWS_LAMBDA_RUNTIME_API"] == "127.0.0.1:9001"
    assert env["LAMBDA_TASK_ROOT"] == "/var/task"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "probe"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_ENDPOINT_URL"].startswith("http://"), "the AWS side is reachable"
    # the request id the caller sees is the one the handler saw (passed to the RIE)
    resp, ctx, _ = invoke(client, "probe", {"action": "context"})
    assert ctx["aws_request_id"] == resp["ResponseMetadata"]["RequestId"]
    assert (ctx["function_name"], ctx["memory_limit_in_mb"]) == ("probe", "256")
    timeout_ms = client.get_function_configuration(FunctionName="probe")["Timeout"] * 1000
    assert timeout_ms - 1000 < ctx["remaining_ms"] <= timeout_ms, "the function's own deadline"


def test_the_root_filesystem_is_read_only(client: Any) -> None:
    _, body, _ = invoke(client, "probe", {"action": "write_file", "path": "/var/task/new"})
    assert body["error"] == "OSError" and body["errno"] == 30, body  # EROFS


def test_nothing_outside_tmp_is_writable(client: Any) -> None:
    """/var/tmp is on the read-only root; there is no /dev/shm (Lambda has none): nothing is
    written past EphemeralStorage, nothing outlives the environment."""
    for path in ("/var/tmp/x", "/dev/shm/x", "/dev/x", "/x"):
        _, body, _ = invoke(client, "probe", {"action": "write_file", "path": path})
        assert "written" not in body, f"{path} was writable: {body}"


def test_a_function_without_wheels_for_lambda_is_not_served_and_the_others_are(
    tmp_path: Path,
) -> None:
    for name, requirements in (("plain", ""), ("sdist-only", "docopt==0.6.2\n")):
        folder = tmp_path / name
        folder.mkdir()
        yaml = "Handler: app.handler\nRuntime: python3.12\nCodeUri: .\n"
        (folder / "function.yaml").write_text(yaml)
        (folder / "app.py").write_text("def handler(event, context):\n    return {'ok': 1}\n")
        if requirements:
            (folder / "requirements.txt").write_text(requirements)
    options = SandboxOptions(functions_dir=tmp_path, port=0, project_dir=tmp_path, backend="docker")
    with SandboxThread(options).start(timeout_s=900) as sandbox:
        client = make_lambda_client(sandbox.url)
        assert [f["FunctionName"] for f in client.list_functions()["Functions"]] == ["plain"]
        assert json.loads(client.invoke(FunctionName="plain")["Payload"].read()) == {"ok": 1}
        why = sandbox.sandbox.not_served["sdist-only"]
        assert "binary wheel" in why and "docopt" in why
