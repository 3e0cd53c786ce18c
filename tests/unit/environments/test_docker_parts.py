"""The docker backend's pure parts: reading the RIE's answers, the container's environment, and
where a container's memory peak lives in the cgroup tree. No engine needed."""

from __future__ import annotations

import json
from pathlib import Path

from lambda_sandbox.environments.docker import DockerBackend, _result, container_environment
from lambda_sandbox.types import EnvironmentSpec

RID = "0f5e6c1a-1111-2222-3333-444455556666"


def test_a_normal_answer_is_the_payload() -> None:
    result = _result(b'{"ok": true}', 200, RID)
    assert (result.payload, result.error_type, result.fatal) == (b'{"ok": true}', None, False)


def test_a_payload_that_merely_looks_like_an_error_is_still_a_payload() -> None:
    # a handler may return errorType/errorMessage itself: without the runtime's requestId or
    # stackTrace it is its answer, not an error
    body = json.dumps({"errorType": "Mine", "errorMessage": "m", "requestId": "other"}).encode()
    assert _result(body, 200, RID).error_type is None


def test_a_handler_error_document_is_a_function_error() -> None:
    body = {"errorMessage": "boom", "errorType": "ValueError", "requestId": RID, "stackTrace": []}
    result = _result(json.dumps(body).encode(), 200, RID)
    assert result.error_type == "ValueError" and not result.fatal


def test_a_dead_runtime_is_a_fatal_exit_error() -> None:
    body = b'{"errorType":"Runtime.ExitError","errorMessage":"RequestId: x Error: Runtime exited'
    body += b' with error: signal: killed"}'
    result = _result(body, 502, RID)
    assert result.error_type == "Runtime.ExitError" and result.fatal


def test_the_ries_timeout_answer_is_sandbox_timedout() -> None:
    result = _result(b"Task timed out after 7.00 seconds", 200, RID)
    assert result.error_type == "Sandbox.Timedout" and result.fatal
    message = json.loads(result.payload)["errorMessage"]
    assert message == f"RequestId: {RID} Error: Task timed out after 7.00 seconds"


def test_an_unexpected_status_is_fatal() -> None:
    result = _result(b"Internal Server Error", 500, RID)
    assert result.error_type == "Runtime.ExitError" and result.fatal
    assert RID in json.loads(result.payload)["errorMessage"]


def spec(**env: str) -> EnvironmentSpec:
    return EnvironmentSpec(
        function_name="f", handler="app.handler", runtime="python3.12",
        bundle_dir=Path("/host/bundle"), memory_mb=512, ephemeral_mb=512, vcpus=0.29,
        environment=env, pids_max=1024, nofile=1024, timeout_s=7.0,
    )  # fmt: skip


def test_the_container_sees_lambdas_variables_but_none_of_the_hosts_paths() -> None:
    env = container_environment(
        spec(
            PATH="/host/bin", LAMBDA_TASK_ROOT="/host/bundle", AWS_LAMBDA_RUNTIME_API="127.0.0.1:1",
            AWS_LAMBDA_EXEC_WRAPPER="/var/task/lambda-stream-wrapper", AWS_LAMBDA_FUNCTION_NAME="f",
            AWS_ENDPOINT_URL="http://172.17.0.1:5000", MODEL_BUCKET="b",
        )
    )  # fmt: skip
    assert env == {
        "AWS_LAMBDA_FUNCTION_NAME": "f",
        "AWS_ENDPOINT_URL": "http://172.17.0.1:5000",
        "MODEL_BUCKET": "b",
        "AWS_LAMBDA_FUNCTION_TIMEOUT": "7",  # the RIE's deadline: get_remaining_time_in_millis
    }


def test_the_functions_own_exec_wrapper_reaches_the_container() -> None:
    # the image's bootstrap runs it (the Web Adapter's /opt/bootstrap, say); only the sandbox's
    # streaming wrapper stays out: the RIE cannot stream
    env = container_environment(spec(AWS_LAMBDA_EXEC_WRAPPER="/opt/bootstrap"))
    assert env["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"


def test_the_memory_peak_is_found_in_cgroup_v1_and_v2_layouts(tmp_path: Path) -> None:
    backend = DockerBackend({}, "s1", cgroup_root=tmp_path)
    cid = "c" * 64
    assert backend.cgroup_peak_file(cid) is None
    v2 = tmp_path / "system.slice" / f"docker-{cid}.scope" / "memory.peak"
    v2.parent.mkdir(parents=True)
    v2.write_text("1234\n")
    assert backend.cgroup_peak_file(cid) == v2
    v1 = tmp_path / "memory" / "docker" / cid / "memory.max_usage_in_bytes"
    v1.parent.mkdir(parents=True)
    v1.write_text("5678\n")
    assert backend.cgroup_peak_file(cid) == v1
