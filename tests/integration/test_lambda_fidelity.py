"""What Lambda does, reproduced: REPORT lines, cold/warm, memory, CPU, /tmp, errors, throttles.

Each test goes through boto3's Lambda client against a running sandbox, as users' tests do.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import cpu_burn_512_vs_1769, invoke, report_of

pytestmark = [pytest.mark.integration, pytest.mark.root]

REPORT_RE = re.compile(
    r"^REPORT RequestId: (?P<id>[0-9a-f-]{36})\tDuration: (?P<duration>\d+\.\d{2}) ms\t"
    r"Billed Duration: (?P<billed>\d+) ms\tMemory Size: (?P<memory>\d+) MB\t"
    r"Max Memory Used: (?P<used>\d+) MB\t(Init Duration: (?P<init>\d+\.\d{2}) ms\t)?$",
    re.M,
)


def test_invoke_returns_payload_and_a_report_line_with_every_field(probe_client: Any) -> None:
    resp, body, log = invoke(probe_client, "probe", {"action": "echo", "n": 1})
    assert resp["StatusCode"] == 200
    assert "FunctionError" not in resp
    assert body["event"] == {"action": "echo", "n": 1}
    assert resp["ExecutedVersion"] == "$LATEST"
    match = REPORT_RE.search(log)
    assert match, log
    assert match["id"] == resp["ResponseMetadata"]["RequestId"]
    assert int(match["memory"]) == 256
    assert int(match["used"]) > 0
    assert f"START RequestId: {match['id']} Version: $LATEST" in log
    assert f"END RequestId: {match['id']}" in log


def test_cold_start_reports_init_duration_and_warm_start_does_not(backend_client: Any) -> None:
    client = backend_client
    client.update_function_configuration(FunctionName="probe", Timeout=11)  # fresh envs
    _, first_body, first = invoke(client, "probe", {"action": "echo"})
    _, second_body, second = invoke(client, "probe", {"action": "echo"})
    assert first_body["pid"] == second_body["pid"], "the second invoke reuses the environment"
    cold, warm = report_of(first), report_of(second)
    assert cold.init_ms is not None
    assert warm.init_ms is None
    # Billed Duration by the 2025 rule: INIT is billed on a cold start
    duration = cold.duration_ms
    init = cold.init_ms
    assert init > duration, "the runtime's start is INIT, not the first invoke's Duration"
    assert cold.billed_ms == -(-int((duration + init) * 100) // 100)
    assert "(rapid)" not in first, "the RIE's own log lines are not the function's"


def test_functions_run_as_an_unprivileged_user_with_lambda_variables(probe_client: Any) -> None:
    _, body, _ = invoke(probe_client, "probe", {"action": "echo"})
    assert body["uid"] != 0
    _, env, _ = invoke(probe_client, "probe", {"action": "env"})
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "probe"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/probe"
    assert re.match(
        r"^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$", env["AWS_LAMBDA_LOG_STREAM_NAME"]
    )
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"
    assert env["_HANDLER"] == "app.handler"
    assert env["TZ"] == ":UTC"
    assert "AWS_LAMBDA_RUNTIME_API" in env and "LAMBDA_TASK_ROOT" in env


# (MB allocated below the 512 MB limit, the Max Memory Used that measures it): the docker
# backend's container also holds the RIE, so it allocates less and reads the container's peak
BELOW_LIMIT = {"process": (448, (448 * 0.9, 448 * 1.1)), "docker": (400, (400, 512))}


def test_allocating_past_memory_size_is_killed_and_below_it_is_measured(
    backend: str, backend_client: Any
) -> None:
    client = backend_client
    allocated, (low, high) = BELOW_LIMIT[backend]
    resp, body, log = invoke(client, "probe-mem", {"action": "alloc", "mb": allocated})
    assert "FunctionError" not in resp, body
    used = report_of(log).max_memory_used_mb
    assert low <= used <= high, f"Max Memory Used {used} MB for {allocated} MB allocated"

    resp, body, log = invoke(client, "probe-mem", {"action": "alloc", "mb": 512 + 64})
    assert resp["FunctionError"] == "Unhandled"
    request_id = resp["ResponseMetadata"]["RequestId"]
    assert body == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: signal: killed",
    }
    # REPORT's error type is Lambda's for a run killed at its memory limit (public REPORT
    # lines: nasa-gcn/gcn.nasa.gov PR#3628, DataDog/datadog-lambda-extension PR#776)
    assert "Status: error\tError Type: Runtime.OutOfMemory" in log
    if backend == "process":
        peak = report_of(log).max_memory_used_mb
        assert peak >= 500, "the peak before the kill"
    # the environment was replaced: the next invoke is a cold start that works
    resp, body, log = invoke(client, "probe-mem", {"action": "echo"})
    assert "FunctionError" not in resp and report_of(log).init_ms is not None


@pytest.mark.slow
def test_cpu_scales_with_memory_512_vs_1769(backend: str, backend_client: Any) -> None:
    """Lambda's rule: 1,769 MB = 1 vCPU, so 512 MB runs CPU-bound code 1769/512 = 3.46x slower
    (a cgroup CPU quota on the process backend, the engine's on the docker backend)."""

    slow, fast = cpu_burn_512_vs_1769(backend_client)
    ratio = slow / fast
    print(f"{backend}: 512 MB {slow:.3f} s, 1769 MB {fast:.3f} s, ratio {ratio:.2f} (Lambda: 3.46)")
    assert ratio == pytest.approx(1769 / 512, rel=0.15)


def test_tmp_refuses_writes_past_ephemeral_storage_and_is_not_memory(
    backend_client: Any,
) -> None:
    # /tmp is an ext4 image on disk, as on Lambda: 511 MB of files in a 256 MB function are
    # fine (a tmpfs would have been charged to its memory and killed it)
    _, body, _ = invoke(backend_client, "probe-tmp", {"action": "write_tmp", "mb": 512 + 1})
    assert body["error"] == "OSError" and body["errno"] == 28, body  # ENOSPC
    _, body, _ = invoke(backend_client, "probe-tmp", {"action": "write_tmp", "mb": 511})
    assert body == {"written_mb": 511}, "the whole EphemeralStorage is usable"
    _, env, _ = invoke(backend_client, "probe-tmp", {"action": "env"})
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"


def test_tmp_is_private_to_each_environment(probe_client: Any) -> None:
    invoke(probe_client, "probe-tmp", {"action": "touch", "name": "mine"})
    _, body, _ = invoke(probe_client, "probe-tmp", {"action": "exists", "name": "mine"})
    assert body == {"exists": True}, "same environment, same /tmp"
    # hold the warm environment busy so the next invoke needs a second environment
    holder = threading.Thread(
        target=invoke, args=(probe_client, "probe-tmp", {"action": "sleep", "seconds": 3})
    )
    holder.start()
    try:
        import time

        time.sleep(0.5)
        _, body, log = invoke(probe_client, "probe-tmp", {"action": "exists", "name": "mine"})
    finally:
        holder.join()
    assert report_of(log).init_ms is not None, "a second environment served it"
    assert body == {"exists": False}


def test_timeout_answers_sandbox_timedout_and_replaces_the_environment(backend_client: Any) -> None:
    resp, body, log = invoke(backend_client, "probe-timeout", {"action": "sleep", "seconds": 5})
    request_id = resp["ResponseMetadata"]["RequestId"]
    assert resp["FunctionError"] == "Unhandled"
    assert body == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after 1.00 seconds",
    }
    fields = report_of(log)
    assert fields.status == "timeout"
    assert 1000 <= fields.duration_ms < 1500
    resp, body, log = invoke(backend_client, "probe-timeout", {"action": "echo"})
    assert "FunctionError" not in resp
    assert report_of(log).init_ms is not None, "a fresh environment after the timeout"


@pytest.mark.slow
def test_init_over_10_seconds_is_retried_inside_the_invoke(probe_client: Any) -> None:
    resp, body, log = invoke(probe_client, "probe-slow-init", {"action": "echo"})
    assert "FunctionError" not in resp, body
    assert "INIT_REPORT Init Duration: 10000.00 ms\tPhase: init\tStatus: timeout" in log
    fields = report_of(log)
    assert fields.init_ms is None, "a suppressed init is part of the invoke's Duration"
    assert fields.duration_ms >= 11000


def test_init_error_answers_the_runtime_error_type(probe_client: Any) -> None:
    resp, body, log = invoke(probe_client, "probe-bad-handler", {})
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert body["errorMessage"].startswith("Unable to import module 'missing_module'")
    assert "Phase: init\tStatus: error\tError Type: Runtime.ImportModuleError" in log
    assert "Phase: invoke\tStatus: error\tError Type: Runtime.ImportModuleError" in log

    resp, body, log = invoke(probe_client, "probe-bad-init", {})
    assert resp["FunctionError"] == "Unhandled"
    assert (body["errorType"], body["errorMessage"]) == ("RuntimeError", "init failed on purpose")
    assert "Phase: init\tStatus: error\tError Type: RuntimeError" in log


def test_handler_exception_answers_its_type_and_trace(backend_client: Any) -> None:
    resp, body, _ = invoke(backend_client, "probe", {"action": "raise", "message": "no good"})
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "no good"
    assert body["requestId"] == resp["ResponseMetadata"]["RequestId"]
    assert isinstance(body["stackTrace"], list) and body["stackTrace"]


def test_request_over_6_mb_is_refused_with_413(probe_client: Any) -> None:
    payload = json.dumps({"blob": "x" * 6_291_456}).encode()
    with pytest.raises(ClientError) as info:
        probe_client.invoke(FunctionName="probe", Payload=payload)
    err = info.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert err["Error"]["Code"] == "RequestEntityTooLargeException"
    assert err["Error"]["Message"] == (
        "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    )


def test_response_over_6_mb_answers_response_size_too_large(probe_client: Any) -> None:
    resp, body, _ = invoke(probe_client, "probe", {"action": "big_response", "bytes": 6_400_000})
    assert resp["FunctionError"] == "Unhandled"
    assert body == {
        "errorType": "Function.ResponseSizeTooLarge",
        "errorMessage": "Response payload size exceeded maximum allowed payload size "
        "(6291556 bytes).",
    }
    resp, body, _ = invoke(probe_client, "probe", {"action": "echo"})
    assert "FunctionError" not in resp


def test_payload_that_is_not_json_answers_400(probe_client: Any) -> None:
    with pytest.raises(ClientError) as info:
        probe_client.invoke(FunctionName="probe", Payload=b"Hello World")
    err = info.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err["Error"]["Code"] == "InvalidRequestContentException"
    assert err["Error"]["Message"].startswith(
        "Could not parse request body into json: Could not parse payload into json"
    )


def test_unknown_function_answers_404_with_its_arn(probe_client: Any) -> None:
    with pytest.raises(ClientError) as info:
        probe_client.invoke(FunctionName="nope", Payload=b"{}")
    err = info.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert err["Error"]["Code"] == "ResourceNotFoundException"
    # an unqualified Invoke names $LATEST (LocalStack's snapshot test_invoke_exceptions)
    assert err["Error"]["Message"] == (
        "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope:$LATEST"
    )
    # botocore's ResourceNotFoundException shape has `Message` (capital M): boto3 lifts it to
    # the top of the response, as from AWS (LocalStack's snapshot test_invoke_exceptions)
    assert err["Message"] == err["Error"]["Message"] and err["Type"] == "User"


def test_reserved_concurrency_throttles_with_429(probe_client: Any) -> None:
    results: list[Any] = []
    holder = threading.Thread(
        target=lambda: results.append(
            invoke(probe_client, "probe-reserved", {"action": "sleep", "seconds": 3})
        )
    )
    holder.start()
    try:
        import time

        time.sleep(1.0)
        with pytest.raises(ClientError) as info:
            probe_client.invoke(FunctionName="probe-reserved", Payload=b"{}")
    finally:
        holder.join()
    err = info.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert err["Error"]["Code"] == "TooManyRequestsException"
    assert err["Error"]["Message"] == "Rate Exceeded."
    assert err["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert results and "FunctionError" not in results[0][0]
    # once the slot is free again the function answers
    resp, _, _ = invoke(probe_client, "probe-reserved", {"action": "echo"})
    assert resp["StatusCode"] == 200


def test_client_context_reaches_the_handler_decoded(probe_client: Any) -> None:
    # boto3 sends ClientContext base64-encoded; Lambda decodes it for the runtime
    # (LocalStack's snapshot test_lambda_with_context); a non-ASCII value does not stall it
    context = {"custom": {"foo": "bär"}, "env": {"locale": "en"}, "client": {"app_title": "t"}}
    encoded = base64.b64encode(json.dumps(context).encode()).decode()
    resp = probe_client.invoke(
        FunctionName="probe", Payload=b'{"action": "context"}', ClientContext=encoded
    )
    body = json.loads(resp["Payload"].read())
    assert body["client_context"] == {"custom": {"foo": "bär"}, "env": {"locale": "en"},
                                      "client": "t"}  # fmt: skip
    with pytest.raises(ClientError) as info:
        probe_client.invoke(FunctionName="probe", Payload=b"{}", ClientContext="not base64!")
    assert info.value.response["Error"]["Code"] == "InvalidRequestContentException"


def test_a_qualified_invoke_sees_its_arn_in_the_context(probe_client: Any) -> None:
    resp = probe_client.invoke(
        FunctionName="probe", Payload=b'{"action": "context"}', Qualifier="$LATEST"
    )
    arn = json.loads(resp["Payload"].read())["invoked_function_arn"]
    assert arn == "arn:aws:lambda:us-east-1:000000000000:function:probe:$LATEST"
