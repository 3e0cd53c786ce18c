"""The invoke lifecycle: one invocation from its payload to its REPORT line.

Payload checks (413 past 6 MB sync / 1 MB async, 400 for a body that is not JSON); a warm
environment from the pool or a cold start; the event handed to the runtime with its deadline;
at most the function's Timeout (then `Sandbox.Timedout` at the deadline, and the environment is
killed in the background); an event that a dead warm environment never took goes to a new one; a
streamed response followed to its end; the 6 MB (+100 bytes) response limit; then START / END /
REPORT, Max Memory Used, the counters, and the environment back into the pool.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from lambda_sandbox.cost import billed_ms
from lambda_sandbox.environments.base import Environment
from lambda_sandbox.exceptions import (
    FunctionErrorType,
    InvalidRequestContentException,
    RequestEntityTooLargeException,
)
from lambda_sandbox.limits import Limits
from lambda_sandbox.log_lines import Report, end_line, sandbox_line, start_line
from lambda_sandbox.service.cold_start import ColdStarts, timeout_result
from lambda_sandbox.service.function_state import FunctionState
from lambda_sandbox.service.logs import tail_base64
from lambda_sandbox.service.pool import EnvironmentPool
from lambda_sandbox.service.provisioned import ProvisionedPool
from lambda_sandbox.types import Invocation, InvocationResult, ResponseStream

__all__ = ["InvokeLifecycle", "InvokeOutcome", "check_payload", "decode_client_context"]

MIB = 1 << 20
OnStream = Callable[[ResponseStream], None]


@dataclass(slots=True)
class InvokeOutcome:
    request_id: str
    status: int
    payload: bytes = b""
    function_error: str | None = None  # "Unhandled" for function errors
    log_result: str | None = None  # base64 tail, when LogType=Tail
    report: Report | None = None
    executed_version: str = "$LATEST"


def check_payload(payload: bytes, limit: int) -> bytes:
    """The payload as the runtime gets it: 413 past `limit`, 400 when it is not JSON, `{}`
    for an empty one."""
    if len(payload) > limit:
        raise RequestEntityTooLargeException(
            f"Request must be smaller than {limit} bytes for the InvokeFunction operation"
        )
    if not payload.strip():
        return b"{}"
    try:
        json.loads(payload)
    except RecursionError:  # nested deeper than a parser goes: not a payload to run
        raise InvalidRequestContentException(
            "Could not parse request body into json: the JSON is nested too deeply"
        ) from None
    except ValueError as exc:
        raise InvalidRequestContentException(
            f"Could not parse request body into json: Could not parse payload into json: {exc}"
        ) from None
    return payload


def decode_client_context(header: str | None) -> str | None:
    """Invoke's ClientContext (base64 JSON, as boto3 sends it) as the runtime gets it: the
    JSON itself (AWS decodes it: LocalStack's snapshot test_lambda_with_context), ASCII-safe
    for the Runtime API's header."""
    if not header:
        return None
    try:
        decoded = json.loads(base64.b64decode(header, validate=True))
    except (ValueError, binascii.Error):
        raise InvalidRequestContentException(
            "Client context must be a valid Base64-encoded JSON object."
        ) from None
    if not isinstance(decoded, dict):
        raise InvalidRequestContentException(
            "Client context must be a valid Base64-encoded JSON object."
        )
    return json.dumps(decoded)  # ensure_ascii: a non-ASCII byte cannot stall the header


def trace_id() -> str:
    rand = os.urandom(20).hex()
    return f"Root=1-{int(time.time()):08x}-{rand[:24]};Parent={rand[24:]};Sampled=0"


class InvokeLifecycle:
    def __init__(
        self,
        limits: Limits,
        cold_starts: ColdStarts,
        pool: EnvironmentPool,
        note_of: Callable[[FunctionState], str | None],
        after_write: Callable[[], None],
    ) -> None:
        self.limits = limits
        self.cold_starts = cold_starts
        self.pool = pool
        self._note_of = note_of
        self._after_write = after_write
        self.provisioned: ProvisionedPool | None = None  # set by the service
        self.max_response_bytes = limits.q("payload", "sync_response_bytes") + limits.q(
            "payload", "response_allowance_bytes"
        )

    async def run(
        self,
        state: FunctionState,
        payload: bytes,
        request_id: str,
        log_type: str | None,
        client_context: str | None,
        on_stream: OnStream | None = None,
        invoked_arn: str | None = None,
        redeliver: bool = True,
    ) -> InvokeOutcome:
        cfg = state.config
        timeout_s = cfg.timeout_s
        lines: list[str] = []
        init_ms: float | None = None
        restore: tuple[float | None, int | None] = (None, None)  # SnapStart: instead of INIT
        result: InvocationResult | None = None
        if state.pending:
            self.finish_pending(state)
        env = self.provisioned.take(state) if self.provisioned is not None else None
        if env is not None:
            state.stats.provisioned_invocations += 1
        else:
            if self.provisioned is not None and self.provisioned.configured(state):
                state.stats.provisioned_spillover += 1  # every provisioned one is busy
            env = self.pool.take(state)
        t0 = time.perf_counter()
        if env is None:  # cold start
            state.stats.cold_starts += 1
            cold = await self.cold_starts.run(state, request_id, timeout_s)
            env, init_ms, result, t0 = cold.env, cold.init_ms, cold.failed, cold.started
            restore = (cold.restore_ms, cold.billed_restore_ms)
            lines += cold.lines
        lines.append(start_line(request_id, state.version))
        lines += env.take_output()  # the INIT phase's output belongs before this invoke
        state.busy.add(env)
        try:
            if result is None:
                result = await self._call(env, state, payload, request_id, client_context, t0,
                                          on_stream, invoked_arn or state.arn)  # fmt: skip
            duration_ms = (time.perf_counter() - t0) * 1000
            if result.init_ms is not None:  # INIT ran inside this invoke (the RIE's way)
                init_ms = result.init_ms
                duration_ms = max(duration_ms - init_ms, 0.0)
                state.stats.init_duration.observe(init_ms)
            # a timed-out environment is killed in the background (pool.put_back, below): the
            # caller gets its answer at the deadline, not when a fork bomb has finished dying
            if not result.is_error and len(result.payload) > self.max_response_bytes:
                result = InvocationResult.error(
                    FunctionErrorType.RESPONSE_TOO_LARGE,
                    "Response payload size exceeded maximum allowed payload size "
                    f"({self.max_response_bytes} bytes).",
                )
        finally:
            state.busy.discard(env)
        if result.undelivered and init_ms is None and redeliver:
            # a warm environment that died idle, just before the event reached it: the event
            # ran nowhere, so it goes to a new environment, as on Lambda (once)
            self._give_back(state, env, reusable=False)
            return await self.run(state, payload, request_id, log_type, client_context,
                                  on_stream, invoked_arn, redeliver=False)  # fmt: skip
        report = Report(
            request_id=request_id,
            duration_ms=duration_ms,
            billed_ms=billed_ms(duration_ms, init_ms, self.limits),
            memory_mb=cfg.memory_mb,
            max_memory_used_mb=0,
            init_ms=init_ms,
            restore_ms=restore[0],
            billed_restore_ms=restore[1],
        )
        if result.error_type == FunctionErrorType.TIMEOUT:
            report.status = "timeout"
        elif result.fatal:
            report.status, report.error_type = "error", result.error_type
            if env.out_of_memory:  # what Lambda's REPORT says (log-based OOM alarms match it)
                report.error_type = FunctionErrorType.OUT_OF_MEMORY
        outcome = InvokeOutcome(
            request_id=request_id,
            status=200,
            payload=result.payload,
            function_error="Unhandled" if result.is_error else None,
            report=report,
            executed_version=state.version,
        )
        if log_type == "Tail" or result.is_error:
            self._finish(state, env, result, report, lines)
            if log_type == "Tail":
                outcome.log_result = tail_base64(lines, self.limits.q("logs", "tail_bytes"))
        else:
            # The caller gets its answer first; the log lines, Max Memory Used and the
            # environment's return to the pool follow in the next loop turn, before any
            # further request can be read. Lambda writes REPORT after the response too.
            state.pending.append((env, result, report, lines))
            asyncio.get_running_loop().call_soon(self.finish_pending, state)
        return outcome

    async def _call(
        self,
        env: Environment,
        state: FunctionState,
        payload: bytes,
        request_id: str,
        client_context: str | None,
        t0: float,
        on_stream: OnStream | None,
        invoked_arn: str,
    ) -> InvocationResult:
        """Hand the event to the runtime and wait at most until the deadline."""
        timeout_s = state.config.timeout_s
        remaining = timeout_s - (time.perf_counter() - t0)
        invocation = Invocation(
            request_id=request_id,
            payload=payload,
            deadline_ms=int((time.time() + remaining) * 1000),
            function_arn=invoked_arn,  # context.invoked_function_arn: as the caller named it
            trace_id=trace_id(),
            client_context=client_context,
        )
        future = env.submit(invocation)
        timer = asyncio.get_running_loop().call_later(
            max(remaining, 0.001), _expire, future, request_id, timeout_s
        )
        try:
            result = await future
            if result.stream is not None:
                result = await _await_stream(result.stream, on_stream, request_id, timeout_s)
        finally:
            timer.cancel()
        return result

    def finish_pending(self, state: FunctionState) -> None:
        while state.pending:
            self._finish(state, *state.pending.pop(0))

    def _finish(
        self,
        state: FunctionState,
        env: Environment,
        result: InvocationResult,
        report: Report,
        lines: list[str],
    ) -> None:
        """After an invoke: log lines, Max Memory Used, counters, and reuse or replacement."""
        request_id = report.request_id
        lines += env.take_output()
        peak = env.peak_memory_bytes()
        report.max_memory_used_mb = math.ceil(peak / MIB) if peak else 0
        lines.append(end_line(request_id))
        lines.append(report.line())
        note = self._note_of(state)
        if note:
            lines.append(sandbox_line(request_id, note))
        state.log.write(lines)
        self._after_write()
        _account(state, report, result)
        self._give_back(state, env, reusable=not result.fatal)

    def _give_back(self, state: FunctionState, env: Environment, reusable: bool) -> None:
        if self.provisioned is not None and self.provisioned.owns(env):
            self.provisioned.put_back(state, env, reusable)
        else:
            self.pool.put_back(state, env, reusable)


def _account(state: FunctionState, report: Report, result: InvocationResult) -> None:
    stats = state.stats
    stats.invocations += 1
    stats.duration.observe(report.duration_ms)
    stats.max_memory_used_mb.observe(report.max_memory_used_mb)
    stats.billed_ms_total += report.billed_ms + (report.billed_restore_ms or 0)
    if result.is_error:
        stats.errors += 1
    if result.error_type == FunctionErrorType.TIMEOUT:
        stats.timeouts += 1


def _expire(future: asyncio.Future[InvocationResult], request_id: str, timeout_s: float) -> None:
    if not future.done():
        future.set_result(timeout_result(request_id, timeout_s))
    elif not future.cancelled() and future.result().stream is not None:
        timeout = timeout_result(request_id, timeout_s)
        future.result().stream.finish(timeout.error_type, timeout.payload)  # type: ignore[union-attr]


async def _await_stream(
    stream: ResponseStream, on_stream: OnStream | None, request_id: str, timeout_s: float
) -> InvocationResult:
    """Wait for a streamed response to end: read by the caller, or buffered here."""
    if on_stream is not None:
        on_stream(stream)
        await asyncio.shield(stream.ended)
        payload = b""
    else:
        payload = await stream.collect()
    error_type, body = stream.ended.result()
    if error_type is None:
        return InvocationResult(payload=payload)
    if error_type == FunctionErrorType.TIMEOUT:
        return timeout_result(request_id, timeout_s)
    if not body:
        failure = {"errorType": error_type, "errorMessage": "streamed response failed"}
        body = json.dumps(failure).encode()
    return InvocationResult(payload=body, error_type=error_type)
