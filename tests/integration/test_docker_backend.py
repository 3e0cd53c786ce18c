"""The docker backend: each execution environment is a container of the function's image, with
the real RIE inside, limited by the engine like a Lambda tier. Same probes, same boto3 calls as
the process backend's fidelity tests; the service code in front of both is the same.

The images come from `sandbox images` (built on first use: debootstrap + docker import, no
registry), so these tests need a Docker engine and root, which CI provides.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambda_sandbox.pytest_plugin import make_lambda_client
from lambda_sandbox.runner import SandboxOptions, SandboxThread
from tests.conftest import HERE, cpu_burn_512_vs_1769, invoke, report_fields

# the first run on a machine builds the offline base images (debootstrap): minutes
pytestmark = [
    pytest.mark.integration,
    pytest.mark.docker,
    pytest.mark.root,
    pytest.mark.timeout(900),
]

PROBES = ["probe", "probe-mem", "probe-cpu", "probe-cpu-1769", "probe-tmp", "probe-timeout"]


@pytest.fixture(scope="module")
def docker_sandbox() -> Iterator[SandboxThread]:
    options = SandboxOptions(
        functions_dir=HERE / "functions",
        only=PROBES,
        port=0,
        project_dir=HERE.parent,
        backend="docker",
    )
    thread = SandboxThread(options).start(timeout_s=900)
    try:
        yield thread
    finally:
        thread.stop()
    import docker

    client = docker.from_env()
    session = thread.sandbox.session
    left = client.containers.list(all=True, filters={"label": f"lambda-sandbox.session={session}"})
    client.close()
    assert left == [], "every container of the session is removed when the sandbox stops"


@pytest.fixture(scope="module")
def client(docker_sandbox: SandboxThread) -> Any:
    return make_lambda_client(docker_sandbox.url)


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


def test_cold_start_reports_the_ries_init_and_warm_start_does_not(client: Any) -> None:
    client.update_function_configuration(FunctionName="probe", Timeout=11)  # fresh containers
    _, first_body, first = invoke(client, "probe", {"action": "echo"})
    _, second_body, second = invoke(client, "probe", {"action": "echo"})
    assert first_body["pid"] == second_body["pid"], "the second invoke reuses the container"
    cold, warm = report_fields(first), report_fields(second)
    assert "Init Duration" in cold and "Init Duration" not in warm
    init = float(cold["Init Duration"].split()[0])
    duration = float(cold["Duration"].split()[0])
    assert init > duration, "the runtime's start is INIT, not the first invoke's Duration"
    assert int(cold["Billed Duration"].split()[0]) == -(-int((duration + init) * 100) // 100)
    assert "(rapid)" not in first, "the RIE's own log lines are not the function's"


def test_allocating_past_memory_size_is_killed_and_below_it_is_measured(client: Any) -> None:
    resp, body, log = invoke(client, "probe-mem", {"action": "alloc", "mb": 512 - 112})
    assert "FunctionError" not in resp, body
    used = int(report_fields(log)["Max Memory Used"].split()[0])
    # the container's cgroup peak: the 400 MB plus the runtime, never the RIE's fake 512
    assert 400 <= used < 512, f"Max Memory Used {used} MB for 400 MB allocated"

    resp, body, log = invoke(client, "probe-mem", {"action": "alloc", "mb": 512 + 64})
    assert resp["FunctionError"] == "Unhandled"
    request_id = resp["ResponseMetadata"]["RequestId"]
    assert body == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: signal: killed",
    }
    assert "Status: error\tError Type: Runtime.ExitError" in log
    resp, body, log = invoke(client, "probe-mem", {"action": "echo"})
    assert "FunctionError" not in resp and "Init Duration" in report_fields(log)


@pytest.mark.slow
def test_cpu_scales_with_memory_512_vs_1769(client: Any) -> None:
    """The engine's CPU quota: 512 MB runs CPU-bound code 1769/512 = 3.46x slower."""
    slow, fast = cpu_burn_512_vs_1769(client)
    ratio = slow / fast
    print(f"docker: 512 MB {slow:.3f} s, 1769 MB {fast:.3f} s, ratio {ratio:.2f} (Lambda: 3.46)")
    assert ratio == pytest.approx(1769 / 512, rel=0.15)


def test_tmp_refuses_writes_past_ephemeral_storage_and_is_not_memory(client: Any) -> None:
    # as root on the engine's host, /tmp is an ext4 image like the process backend's: 511 MB
    # of files in a 256 MB function are fine (a tmpfs would have been charged to its memory)
    _, body, _ = invoke(client, "probe-tmp", {"action": "write_tmp", "mb": 512 + 1})
    assert body["error"] == "OSError" and body["errno"] == 28, body  # ENOSPC
    _, body, _ = invoke(client, "probe-tmp", {"action": "write_tmp", "mb": 511})
    assert body == {"written_mb": 511}, "the whole EphemeralStorage is usable"
    _, env, _ = invoke(client, "probe-tmp", {"action": "env"})
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"


def test_the_root_filesystem_is_read_only(client: Any) -> None:
    _, body, _ = invoke(client, "probe", {"action": "write_file", "path": "/var/task/new"})
    assert body["error"] == "OSError" and body["errno"] == 30, body  # EROFS


def test_handler_exception_answers_its_type_and_trace(client: Any) -> None:
    resp, body, _ = invoke(client, "probe", {"action": "raise", "message": "no good"})
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "no good"
    assert body["requestId"] == resp["ResponseMetadata"]["RequestId"]


def test_timeout_answers_sandbox_timedout_and_replaces_the_container(client: Any) -> None:
    resp, body, log = invoke(client, "probe-timeout", {"action": "sleep", "seconds": 5})
    request_id = resp["ResponseMetadata"]["RequestId"]
    assert body == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after 1.00 seconds",
    }
    assert report_fields(log)["Status"] == "timeout"
    resp, body, log = invoke(client, "probe-timeout", {"action": "echo"})
    assert "FunctionError" not in resp
    assert "Init Duration" in report_fields(log), "a fresh container after the timeout"


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
