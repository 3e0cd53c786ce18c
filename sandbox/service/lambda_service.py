"""The Lambda semantics, once for every backend.

A request flows: `invoke()` checks the payload (413, 400), takes a concurrency slot (429 when
the function's reserved concurrency or the account's unreserved pool is used up), takes the most
recently used idle environment or starts one (a cold start: INIT limited to 10 s, and retried
inside the invoke under the function timeout when it times out or fails, as Lambda does), hands
the event over, waits at most the function timeout (then kills the environment: Sandbox.Timedout),
writes START / END / REPORT, and puts the environment back for reuse unless it died (OOM:
Runtime.ExitError) or its configuration changed. Idle environments are reaped after a keep-alive.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import json
import math
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.definitions import FunctionConfig, validate_update
from sandbox.environments.base import Backend, Environment
from sandbox.exceptions import (
    BackendError,
    FunctionErrorType,
    InvalidRequestContentException,
    RequestEntityTooLargeException,
    ResourceNotFoundException,
    ServiceException,
    ThrottleReason,
    TooManyRequestsException,
)
from sandbox.limits import Limits, load_limits
from sandbox.service.function_state import FunctionState
from sandbox.service.logs import (
    LogStream,
    Report,
    end_line,
    init_report_line,
    start_line,
    tail_base64,
)
from sandbox.service.runtime_env import AwsSide, lambda_environment, log_stream_name, new_env_id
from sandbox.types import (
    EnvironmentSpec,
    InitOutcome,
    Invocation,
    InvocationResult,
    ResponseStream,
)

__all__ = ["InvokeOutcome", "LambdaService"]

MIB = 1 << 20


@dataclass(slots=True)
class InvokeOutcome:
    request_id: str
    status: int
    payload: bytes = b""
    function_error: str | None = None  # "Unhandled" for function errors
    log_result: str | None = None  # base64 tail, when LogType=Tail
    report: Report | None = None
    executed_version: str = "$LATEST"


class LambdaService:
    def __init__(
        self,
        backend: Backend,
        *,
        aws: AwsSide | None = None,
        limits: Limits | None = None,
        logs_dir: Path | None = None,
        account_concurrency: int | None = None,
        keep_alive_s: float | None = None,
        init_limit_s: float | None = None,
        host_cpus: int | None = None,
        async_retry_delays_s: tuple[float, ...] = (60.0, 120.0),
        max_event_age_s: float = 21600.0,
    ) -> None:
        self.backend = backend
        self.async_retry_delays_s = async_retry_delays_s
        self.max_event_age_s = max_event_age_s
        self.aws = aws or AwsSide()
        self.limits = limits or load_limits()
        self.logs_dir = logs_dir
        lim = self.limits
        self.account_concurrency = account_concurrency or lim.q("concurrency", "account_default")
        self.keep_alive_s = (
            keep_alive_s
            if keep_alive_s is not None
            else lim.q("execution_environment", "idle_keep_alive_s")
        )
        self.init_limit_s = init_limit_s or float(lim.q("init", "on_demand_s"))
        self.host_cpus = host_cpus
        self._sync_request_bytes = lim.q("payload", "sync_request_bytes")
        self._async_request_bytes = lim.q("payload", "async_request_bytes")
        self._sync_response_bytes = lim.q("payload", "sync_response_bytes")
        self.functions: dict[str, FunctionState] = {}
        self._specs: dict[str, EnvironmentSpec] = {}
        self._notes: dict[str, tuple[int, str | None]] = {}
        self._flush_handle: asyncio.TimerHandle | None = None
        self._unreserved_in_use = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reaper: asyncio.Task[None] | None = None
        self._closed = False

    # registry ------------------------------------------------------------------------------
    def arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.aws.region}:{self.aws.account_id}:function:{name}"

    def register(self, config: FunctionConfig, bundle_dir: Path) -> FunctionState:
        state = FunctionState(
            config=config,
            bundle_dir=bundle_dir,
            arn=self.arn(config.name),
            log=LogStream(config.name, self.logs_dir),
        )
        state.code_size, state.code_sha256 = _dir_digest(bundle_dir)
        old = self.functions.get(config.name)
        if old is not None:
            state.generation = old.generation + 1
            state.idle, state.busy, state.in_use = old.idle, old.busy, old.in_use
            state.stats = old.stats
        self.functions[config.name] = state
        self._specs.pop(config.name, None)
        return state

    def get(self, name_or_arn: str) -> FunctionState:
        name = name_or_arn.rsplit(":function:", 1)[-1].split(":", 1)[0]
        state = self.functions.get(name)
        if state is None:
            raise ResourceNotFoundException(f"Function not found: {self.arn(name)}")
        return state

    async def update_configuration(self, name: str, props: dict[str, Any]) -> FunctionState:
        """UpdateFunctionConfiguration: new environments pick the change up; old ones drain."""
        state = self.get(name)
        self._finish_pending(state)
        fields = validate_update(state.config.source, props, self.limits)
        state.config = state.config.with_updates(**fields)
        state.generation += 1
        state.last_modified = time.time()
        self._specs.pop(name, None)
        idle, state.idle = state.idle, []
        await asyncio.gather(*(env.kill() for env in idle))
        return state

    def put_concurrency(self, name: str, reserved: int | None) -> FunctionState:
        state = self.get(name)
        was_unreserved = state.reserved is None
        state.config = state.config.with_updates(reserved_concurrency=reserved)
        now_unreserved = state.reserved is None
        if was_unreserved != now_unreserved:  # move its running slots between pools
            self._unreserved_in_use += state.in_use if now_unreserved else -state.in_use
        return state

    def _reserved_total(self) -> int:
        return sum(f.reserved or 0 for f in self.functions.values())

    # environments --------------------------------------------------------------------------
    def spec(self, state: FunctionState) -> EnvironmentSpec:
        spec = self._specs.get(state.name)
        if spec is None or spec.config_generation != state.generation:
            cfg = state.config
            vcpus, _ = self.limits.host_capped_vcpus(cfg.memory_mb, self.host_cpus)
            spec = EnvironmentSpec(
                function_name=cfg.name,
                handler=cfg.handler,
                runtime=cfg.runtime,
                bundle_dir=state.bundle_dir,
                memory_mb=cfg.memory_mb,
                ephemeral_mb=cfg.ephemeral_mb,
                vcpus=vcpus,
                environment=lambda_environment(cfg, self.aws, str(state.bundle_dir), vcpus),
                pids_max=self.limits.q("execution_environment", "pids_max"),
                nofile=self.limits.q("execution_environment", "nofile"),
                cpu_period_us=self.limits.q("cpu", "cfs_period_us"),
                timeout_s=cfg.timeout_s,
                config_generation=state.generation,
            )
            self._specs[state.name] = spec
        return spec

    def fidelity_note(self, state: FunctionState) -> str | None:
        """What differs from Lambda for this function on this host, or None."""
        want = self.limits.vcpus_for(state.config.memory_mb)
        got, capped = self.limits.host_capped_vcpus(state.config.memory_mb, self.host_cpus)
        notes = []
        if capped:
            notes.append(f"CPU capped at {got:.2f} vCPU (the tier gets {want:.2f} on Lambda)")
        host_runtime = f"python{sys.version_info.major}.{sys.version_info.minor}"
        if state.config.runtime != host_runtime:
            notes.append(f"runs on {host_runtime}, not {state.config.runtime}")
        enforcement = self.backend.enforcement
        if not enforcement.all_enforced:
            notes.append(f"limits not all enforced ({enforcement.summary()})")
        return "; ".join(notes) or None

    async def _start_env(self, state: FunctionState) -> Environment:
        spec = self.spec(state)
        env_id = new_env_id()
        variables = dict(spec.environment)
        variables["AWS_LAMBDA_LOG_STREAM_NAME"] = log_stream_name(env_id)
        try:
            return await self.backend.start(
                env_id, dataclasses.replace(spec, environment=variables)
            )
        except BackendError as exc:
            raise ServiceException(f"Could not start an execution environment: {exc}") from exc

    # concurrency ---------------------------------------------------------------------------
    def _acquire(self, state: FunctionState) -> None:
        reserved = state.reserved
        if reserved is not None:
            if state.in_use >= reserved:
                state.stats.throttles += 1
                raise TooManyRequestsException(ThrottleReason.RESERVED)
        else:
            if self._unreserved_in_use >= self.account_concurrency - self._reserved_total():
                state.stats.throttles += 1
                raise TooManyRequestsException(ThrottleReason.ACCOUNT)
            self._unreserved_in_use += 1
        state.in_use += 1
        if state.in_use > state.stats.max_concurrency:
            state.stats.max_concurrency = state.in_use

    def _release(self, state: FunctionState) -> None:
        state.in_use -= 1
        if state.reserved is None:
            self._unreserved_in_use -= 1

    # invoke --------------------------------------------------------------------------------
    async def invoke(
        self,
        name: str,
        payload: bytes,
        *,
        invocation_type: str = "RequestResponse",
        log_type: str | None = None,
        client_context: str | None = None,
        on_stream: Callable[[ResponseStream], None] | None = None,
    ) -> InvokeOutcome:
        """Invoke `name`. A function that streams its response hands the stream to
        `on_stream` as soon as it starts (InvokeWithResponseStream, streaming function URLs);
        without `on_stream` the stream is buffered into the payload, as Invoke does."""
        state = self.get(name)
        limit = (
            self._async_request_bytes if invocation_type == "Event" else self._sync_request_bytes
        )
        if len(payload) > limit:
            raise RequestEntityTooLargeException(
                f"Request must be smaller than {limit} bytes for the InvokeFunction operation"
            )
        if not payload.strip():
            payload = b"{}"
        else:
            try:
                json.loads(payload)
            except ValueError as exc:
                raise InvalidRequestContentException(
                    "Could not parse request body into json: Could not parse payload into "
                    f"json: {exc}"
                ) from None
        if invocation_type == "DryRun":
            return InvokeOutcome(request_id=str(uuid.uuid4()), status=204)
        if invocation_type == "Event":
            request_id = str(uuid.uuid4())
            state.stats.async_events_received += 1
            self._spawn(self._run_event(state, payload, request_id))
            return InvokeOutcome(request_id=request_id, status=202)
        self._acquire(state)
        try:
            return await self._invoke(
                state, payload, str(uuid.uuid4()), log_type, client_context, on_stream
            )
        finally:
            self._release(state)

    async def _run_event(self, state: FunctionState, payload: bytes, request_id: str) -> None:
        """Async invoke, as Lambda's event queue does it: throttled events wait and retry;
        a function error is retried twice (after 1 and 2 minutes by default); an event older
        than the maximum event age, or out of retries, is dropped, counted and logged."""
        received = time.monotonic()
        attempts, throttle_wait = 0, 0.5
        while not self._closed:
            if time.monotonic() - received > self.max_event_age_s:
                self._drop_event(state, request_id, "the maximum event age passed")
                return
            try:
                self._acquire(state)
            except TooManyRequestsException:
                await asyncio.sleep(throttle_wait)
                throttle_wait = min(throttle_wait * 2, 30.0)
                continue
            try:
                outcome = await self._invoke(state, payload, request_id, None, None)
            finally:
                self._release(state)
            if outcome.function_error is None:
                return
            if attempts >= len(self.async_retry_delays_s):
                self._drop_event(state, request_id, f"{attempts + 1} attempts failed")
                return
            await asyncio.sleep(self.async_retry_delays_s[attempts])
            attempts += 1

    def _drop_event(self, state: FunctionState, request_id: str, why: str) -> None:
        state.stats.async_events_dropped += 1
        state.log.write([f"SANDBOX RequestId: {request_id}\tasync event dropped: {why}"])

    async def _invoke(
        self,
        state: FunctionState,
        payload: bytes,
        request_id: str,
        log_type: str | None,
        client_context: str | None,
        on_stream: Callable[[ResponseStream], None] | None = None,
    ) -> InvokeOutcome:
        cfg = state.config
        timeout_s = cfg.timeout_s
        lines: list[str] = []
        init_ms: float | None = None
        env: Environment | None = None
        result: InvocationResult | None = None
        if state.pending:
            self._finish_pending(state)
        while state.idle and env is None:
            env = state.idle.pop()
            if not env.alive:
                env = None
        t0 = time.perf_counter()
        if env is None:  # cold start
            state.stats.cold_starts += 1
            env, init_ms, result, t0, pre = await self._cold_start(state, request_id, timeout_s)
            lines += pre
        lines.append(start_line(request_id))
        lines += env.take_output()  # the INIT phase's output belongs before this invoke
        state.busy.add(env)
        try:
            if result is None:
                remaining = timeout_s - (time.perf_counter() - t0)
                invocation = Invocation(
                    request_id=request_id,
                    payload=payload,
                    deadline_ms=int((time.time() + remaining) * 1000),
                    function_arn=state.arn,
                    trace_id=_trace_id(),
                    client_context=client_context,
                )
                future = env.submit(invocation)
                timer = asyncio.get_running_loop().call_later(
                    max(remaining, 0.001), _expire, future, request_id, timeout_s
                )
                try:
                    result = await future
                    if result.stream is not None:
                        result = await _await_stream(
                            result.stream, on_stream, request_id, timeout_s
                        )
                finally:
                    timer.cancel()
            duration_ms = (time.perf_counter() - t0) * 1000
            if result.init_ms is not None:  # INIT ran inside this invoke (the RIE's way)
                init_ms = result.init_ms
                duration_ms = max(duration_ms - init_ms, 0.0)
                state.stats.init_duration.observe(init_ms)
            if result.error_type == FunctionErrorType.TIMEOUT:
                await env.kill()
            if not result.is_error and len(result.payload) > self._sync_response_bytes:
                result = InvocationResult.error(
                    FunctionErrorType.RESPONSE_TOO_LARGE,
                    "Response payload size exceeded maximum allowed payload size "
                    f"({self._sync_response_bytes + 100} bytes).",
                )
        finally:
            state.busy.discard(env)
        report = Report(
            request_id=request_id,
            duration_ms=duration_ms,
            billed_ms=self.limits.billed_ms(duration_ms, init_ms),
            memory_mb=cfg.memory_mb,
            max_memory_used_mb=0,
            init_ms=init_ms,
        )
        if result.error_type == FunctionErrorType.TIMEOUT:
            report.status = "timeout"
        elif result.fatal:
            report.status, report.error_type = "error", result.error_type
        outcome = InvokeOutcome(
            request_id=request_id,
            status=200,
            payload=result.payload,
            function_error="Unhandled" if result.is_error else None,
            report=report,
        )
        if log_type == "Tail" or result.is_error:
            self._finish(state, env, result, report, lines)
            if log_type == "Tail":
                outcome.log_result = tail_base64(lines)
        else:
            # The caller gets its answer first; the log lines, Max Memory Used and the
            # environment's return to the pool follow in the next loop turn, before any
            # further request can be read. Lambda writes REPORT after the response too.
            state.pending.append((env, result, report, lines))
            asyncio.get_running_loop().call_soon(self._finish_pending, state)
        return outcome

    def _finish_pending(self, state: FunctionState) -> None:
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
        cached = self._notes.get(state.name)
        if cached is None or cached[0] != state.generation:
            cached = (state.generation, self.fidelity_note(state))
            self._notes[state.name] = cached
        if cached[1]:
            lines.append(f"SANDBOX RequestId: {request_id}\t{cached[1]}")
        state.log.write(lines)
        self._schedule_flush()
        self._account(state, report, result)
        if env.alive and not result.fatal and env.spec.config_generation == state.generation:
            env.last_used = time.monotonic()
            state.idle.append(env)
            self._ensure_reaper()
        elif env.alive:
            self._spawn(env.kill())

    async def _cold_start(
        self, state: FunctionState, request_id: str, timeout_s: float
    ) -> tuple[Environment, float | None, InvocationResult | None, float, list[str]]:
        """Start an environment and run INIT. Returns (env, init ms for REPORT, a result
        when the invoke already failed during a retried init, the invoke's start, log lines)."""
        lines: list[str] = []
        env = await self._start_env(state)
        outcome = await env.wait_init(self.init_limit_s)
        if outcome is not None and outcome.ok:
            if outcome.deferred:  # INIT runs with the invoke; its result says how long
                return env, None, None, time.perf_counter(), lines
            state.stats.init_duration.observe(outcome.duration_ms)
            return env, outcome.duration_ms, None, time.perf_counter(), lines
        # INIT timed out (10 s) or failed: Lambda retries it inside the invoke, where it
        # counts against the function timeout ("suppressed init").
        if outcome is None:
            lines.append(init_report_line(self.init_limit_s * 1000, "init", "timeout", None))
        else:
            lines.append(init_report_line(outcome.duration_ms, "init", "error", outcome.error_type))
        lines += env.take_output()
        await env.kill()
        t0 = time.perf_counter()
        env = await self._start_env(state)
        retry = await env.wait_init(timeout_s)
        if retry is not None and retry.ok:
            return env, None, None, t0, lines
        if retry is None:
            lines.append(init_report_line(timeout_s * 1000, "invoke", "timeout", None))
            return env, None, _timeout(request_id, timeout_s), t0, lines
        lines.append(init_report_line(retry.duration_ms, "invoke", "error", retry.error_type))
        return env, None, _init_error(retry, request_id), t0, lines

    def _account(self, state: FunctionState, report: Report, result: InvocationResult) -> None:
        stats = state.stats
        stats.invocations += 1
        stats.duration.observe(report.duration_ms)
        stats.max_memory_used_mb.observe(report.max_memory_used_mb)
        stats.billed_ms_total += report.billed_ms
        if result.is_error:
            stats.errors += 1
        if result.error_type == FunctionErrorType.TIMEOUT:
            stats.timeouts += 1

    # background work -----------------------------------------------------------------------
    def _schedule_flush(self) -> None:
        """Log files are flushed a moment after writes, off the invoke's hot path."""
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_later(0.2, self._flush_logs)

    def _flush_logs(self) -> None:
        self._flush_handle = None
        for state in self.functions.values():
            state.log.flush()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _ensure_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap_idle())

    async def _reap_idle(self) -> None:
        """Kill environments idle for longer than the keep-alive."""
        while not self._closed and any(f.idle for f in self.functions.values()):
            now = time.monotonic()
            for state in self.functions.values():
                stale = [e for e in state.idle if now - e.last_used > self.keep_alive_s]
                for env in stale:
                    state.idle.remove(env)
                    self._spawn(env.kill())
            await asyncio.sleep(min(5.0, max(self.keep_alive_s / 4, 0.05)))

    async def close(self) -> None:
        """Kill every environment and stop background work; nothing is left behind."""
        self._closed = True
        for state in self.functions.values():
            self._finish_pending(state)
        if self._reaper is not None:
            self._reaper.cancel()
        envs = [e for f in self.functions.values() for e in f.environments()]
        for f in self.functions.values():
            f.idle.clear()
        await asyncio.gather(*(e.kill() for e in envs), return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        for f in self.functions.values():
            f.log.close()
        await self.backend.close()


def _expire(future: asyncio.Future[InvocationResult], request_id: str, timeout_s: float) -> None:
    if not future.done():
        future.set_result(_timeout(request_id, timeout_s))
    elif not future.cancelled() and future.result().stream is not None:
        timeout = _timeout(request_id, timeout_s)
        future.result().stream.finish(timeout.error_type, timeout.payload)  # type: ignore[union-attr]


async def _await_stream(
    stream: ResponseStream,
    on_stream: Callable[[ResponseStream], None] | None,
    request_id: str,
    timeout_s: float,
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
        return _timeout(request_id, timeout_s)
    if not body:
        body = json.dumps({"errorType": error_type, "errorMessage": "streamed response failed"})
        body = body.encode()
    return InvocationResult(payload=body, error_type=error_type)


def _timeout(request_id: str, timeout_s: float) -> InvocationResult:
    return InvocationResult.error(
        FunctionErrorType.TIMEOUT,
        f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds",
        fatal=True,
    )


def _init_error(outcome: InitOutcome, request_id: str) -> InvocationResult:
    if outcome.error_payload:
        return InvocationResult(
            payload=outcome.error_payload, error_type=outcome.error_type, fatal=True
        )
    return InvocationResult.error(
        outcome.error_type or FunctionErrorType.EXIT,
        f"RequestId: {request_id} Error: {outcome.exit_message}",
        fatal=True,
    )


def _trace_id() -> str:
    rand = os.urandom(20).hex()
    return f"Root=1-{int(time.time()):08x}-{rand[:24]};Parent={rand[24:]};Sampled=0"


def _dir_digest(path: Path) -> tuple[int, str]:
    """Size in bytes and a SHA-256 over file names and sizes (cheap, stable per build)."""
    size = 0
    digest = hashlib.sha256()
    with contextlib.suppress(OSError):
        for f in sorted(path.rglob("*")):
            if f.is_file():
                st = f.stat()
                size += st.st_size
                digest.update(f"{f.relative_to(path)}:{st.st_size}".encode())
    return size, base64.b64encode(digest.digest()).decode()
