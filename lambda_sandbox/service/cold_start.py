"""Cold starts: a new execution environment, its INIT phase, the 10 s INIT limit and its retry.

Lambda gives an on-demand function's INIT 10 s. When INIT times out or fails, Lambda writes an
INIT_REPORT (Phase: init) and runs INIT again inside the first invoke, where it counts against
the function's timeout ("suppressed init"): the invoke then fails with the timeout or the init
error, with a second INIT_REPORT (Phase: invoke). A backend whose runtime starts lazily (the RIE)
reports INIT as deferred: it runs with the invoke, whose result says how long it took.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lambda_sandbox.environments.base import Backend, Environment
from lambda_sandbox.exceptions import BackendError, FunctionErrorType, ServiceException
from lambda_sandbox.log_lines import init_report_line
from lambda_sandbox.service.environment_variables import log_stream_name, new_env_id
from lambda_sandbox.service.function_state import FunctionState
from lambda_sandbox.types import EnvironmentSpec, InitOutcome, InvocationResult

if TYPE_CHECKING:
    from lambda_sandbox.service.snapstart import SnapStart

__all__ = ["ColdStart", "ColdStarts", "timeout_result"]


@dataclass(slots=True)
class ColdStart:
    """A started environment and what its INIT left for the invoke."""

    env: Environment
    init_ms: float | None  # for REPORT's Init Duration; None when suppressed or deferred
    started: float  # perf_counter at which the invoke's own time starts
    failed: InvocationResult | None = None  # the invoke failed during a retried INIT
    lines: list[str] = field(default_factory=list)  # INIT_REPORT lines and INIT output
    restore_ms: float | None = None  # restored from a SnapStart snapshot instead of INIT
    billed_restore_ms: int | None = None


def timeout_result(request_id: str, timeout_s: float) -> InvocationResult:
    return InvocationResult.error(
        FunctionErrorType.TIMEOUT,
        f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds",
        fatal=True,
    )


def _init_error(outcome: InitOutcome, request_id: str) -> InvocationResult:
    if outcome.error_type == FunctionErrorType.INVALID_ENTRYPOINT and outcome.error_payload:
        # the backend's launcher cannot know the request: Lambda names it in the message
        with contextlib.suppress(ValueError, TypeError, KeyError):
            body = json.loads(outcome.error_payload)
            body["errorMessage"] = f"RequestId: {request_id} Error: {body['errorMessage']}"
            return InvocationResult(
                payload=json.dumps(body).encode(), error_type=outcome.error_type, fatal=True
            )
    if outcome.error_payload:
        return InvocationResult(
            payload=outcome.error_payload, error_type=outcome.error_type, fatal=True
        )
    return InvocationResult.error(
        outcome.error_type or FunctionErrorType.EXIT,
        f"RequestId: {request_id} Error: {outcome.exit_message}",
        fatal=True,
    )


class ColdStarts:
    def __init__(
        self,
        backend: Backend,
        spec_of: Callable[[FunctionState], EnvironmentSpec],
        init_limit_s: float,
    ) -> None:
        self.backend = backend
        self.spec_of = spec_of
        self.init_limit_s = init_limit_s
        self.snapstart: SnapStart | None = None  # set by the service

    async def start_env(self, state: FunctionState, provisioned: bool = False) -> Environment:
        """A new environment of `state` (provisioned: its INIT at the tier's own CPU share,
        no on-demand burst, and Lambda's initialization type says so)."""
        spec = self.spec_of(state)
        env_id = new_env_id()
        variables = dict(spec.environment)
        if provisioned:
            variables["AWS_LAMBDA_INITIALIZATION_TYPE"] = "provisioned-concurrency"
            spec = dataclasses.replace(spec, init_vcpus=spec.vcpus)
        variables["AWS_LAMBDA_LOG_STREAM_NAME"] = log_stream_name(env_id, state.version)
        try:
            return await self.backend.start(
                env_id, dataclasses.replace(spec, environment=variables)
            )
        except BackendError as exc:
            raise ServiceException(f"Could not start an execution environment: {exc}") from exc

    async def run(self, state: FunctionState, request_id: str, timeout_s: float) -> ColdStart:
        """Start an environment and run INIT, retrying it once inside the invoke (or restore
        one from the version's SnapStart snapshot)."""
        if state.snapshot is not None and self.snapstart is not None:
            env, restored, notes = await self.snapstart.restore(state, request_id)
            billed = math.ceil(restored.billed_ms or 0.0)
            return ColdStart(env, None, time.perf_counter(), lines=notes,
                             restore_ms=restored.duration_ms,
                             billed_restore_ms=billed)  # fmt: skip
        env = await self.start_env(state)
        outcome = await env.wait_init(self.init_limit_s)
        if outcome is not None and outcome.ok:
            if outcome.deferred:  # INIT runs with the invoke; its result says how long
                return ColdStart(env, None, time.perf_counter())
            state.stats.init_duration.observe(outcome.duration_ms)
            return ColdStart(env, outcome.duration_ms, time.perf_counter())
        # INIT timed out (10 s) or failed: Lambda retries it inside the invoke, where it
        # counts against the function timeout ("suppressed init").
        lines: list[str] = []
        if outcome is None:
            lines.append(init_report_line(self.init_limit_s * 1000, "init", "timeout", None))
        else:
            lines.append(init_report_line(outcome.duration_ms, "init", "error", outcome.error_type))
        lines += env.take_output()
        await env.kill()
        started = time.perf_counter()
        env = await self.start_env(state)
        retry = await env.wait_init(timeout_s)
        if retry is not None and retry.ok:
            return ColdStart(env, None, started, lines=lines)
        if retry is None:
            lines.append(init_report_line(timeout_s * 1000, "invoke", "timeout", None))
            return ColdStart(env, None, started, timeout_result(request_id, timeout_s), lines)
        lines.append(init_report_line(retry.duration_ms, "invoke", "error", retry.error_type))
        return ColdStart(env, None, started, _init_error(retry, request_id), lines)
