"""The client side, once: a boto3 Lambda client for a sandbox, and an invoke that reads REPORT.

Every tool (tune, fit, demo, load), the benchmarks and the tests invoke through `invoke()`: it
asks for the log tail (LogType=Tail), parses the REPORT and SANDBOX lines with
`Report.parse` (lambda_sandbox.log_lines, next to the writer), and turns API errors (429,
timeouts, refused connections) into a result with an error instead of an exception, so a
measurement loop never dies halfway.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from lambda_sandbox.log_lines import Report

__all__ = ["Call", "invoke", "lambda_client", "set_memory", "set_snapstart", "wait_published"]

TEST_REGION = "us-east-1"


def lambda_client(url: str, *, validate: bool = True, region: str = TEST_REGION) -> Any:
    """boto3's Lambda client pointed at `url`, with test credentials and no retries (a retry
    would hide a throttle or a timeout from a measurement)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "lambda",
        endpoint_url=url,
        region_name=region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(
            retries={"max_attempts": 1},
            read_timeout=960,
            connect_timeout=10,
            parameter_validation=validate,
        ),
    )


@dataclass(frozen=True)
class Call:
    """One invoke: its answer, its REPORT, or the error that replaced them."""

    report: Report | None
    error: str | None  # errorType of a function error, or the API error's code
    client_ms: float  # wall time the client saw
    payload: bytes = b""
    log: str = ""
    function_error: str | None = None  # X-Amz-Function-Error ("Unhandled")
    status: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None and self.report is not None

    @cached_property
    def body(self) -> Any:
        """The payload as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.payload)
        except ValueError:
            return None

    # the REPORT fields the tools read, None when absent ----------------------------------
    @property
    def duration_ms(self) -> float | None:
        return self.report.duration_ms if self.report else None

    @property
    def billed_ms(self) -> float | None:
        return float(self.report.billed_ms) if self.report else None

    @property
    def init_ms(self) -> float | None:
        return self.report.init_ms if self.report else None

    @property
    def restore_ms(self) -> float | None:
        return self.report.restore_ms if self.report else None

    @property
    def max_memory_mb(self) -> int | None:
        return self.report.max_memory_used_mb if self.report else None

    @property
    def note(self) -> str | None:
        return self.report.note if self.report else None

    @property
    def cold(self) -> bool:
        return self.init_ms is not None


def invoke(client: Any, function: str, payload: bytes, **kwargs: Any) -> Call:
    """Invoke with LogType=Tail (extra keyword arguments go to boto3's invoke)."""
    from botocore.exceptions import BotoCoreError, ClientError

    t0 = time.perf_counter()
    try:
        resp = client.invoke(FunctionName=function, Payload=payload, LogType="Tail", **kwargs)
    except ClientError as exc:  # throttles (429) and other API errors
        code = exc.response.get("Error", {}).get("Code", "Error")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return Call(None, code, (time.perf_counter() - t0) * 1000, status=status)
    except BotoCoreError as exc:  # timeouts, refused connections
        return Call(None, type(exc).__name__, (time.perf_counter() - t0) * 1000)
    raw = resp["Payload"].read()
    client_ms = (time.perf_counter() - t0) * 1000
    log = base64.b64decode(resp.get("LogResult") or b"").decode("utf-8", "replace")
    function_error = resp.get("FunctionError")
    error = None
    if function_error:
        error = str(function_error)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("errorType"):
            error = str(body["errorType"])
    return Call(
        report=Report.parse(log),
        error=error,
        client_ms=client_ms,
        payload=raw,
        log=log,
        function_error=function_error,
        status=int(resp.get("StatusCode", 0)),
    )


def set_memory(client: Any, function: str, memory_mb: int, wait_s: float = 60.0) -> None:
    """UpdateFunctionConfiguration(MemorySize), waiting while LastUpdateStatus is InProgress
    (the sandbox is done at once and retires the warm environments; AWS may take a moment)."""
    resp = client.update_function_configuration(FunctionName=function, MemorySize=memory_mb)
    deadline = time.monotonic() + wait_s
    while resp.get("LastUpdateStatus") == "InProgress" and time.monotonic() < deadline:
        time.sleep(0.2)
        resp = client.get_function_configuration(FunctionName=function)


def set_snapstart(client: Any, function: str, apply_on: str) -> None:
    """SnapStart ApplyOn (PublishedVersions or None), once the update is done."""
    client.update_function_configuration(FunctionName=function, SnapStart={"ApplyOn": apply_on})
    client.get_waiter("function_updated_v2").wait(FunctionName=function, WaiterConfig={"Delay": 1})


def wait_published(client: Any, function: str, version: str, wait_s: float = 300.0) -> Any:
    """A published version's configuration once it is no longer Pending (a SnapStart version
    is Pending while its snapshot is taken), or when `wait_s` has passed."""
    deadline = time.monotonic() + wait_s
    while True:
        state = client.get_function_configuration(FunctionName=function, Qualifier=version)
        if state["State"] != "Pending" or time.monotonic() > deadline:
            return state
        time.sleep(0.2)
