"""The Lambda service: one object the faces call, composed of one module per concept.

    registry.py           which functions exist (name or ARN -> state)
    concurrency.py        reserved and unreserved concurrency, throttles (429)
    invoke.py             one invocation: payload limits, deadline, timeout, response limit, REPORT
    cold_start.py         a new environment, the 10 s INIT limit and the suppressed-init retry
    pool.py               warm environments: reuse, keep-alive, reaping
    async_events.py       InvocationType Event: the queue, retries, maximum age, drops
    environment_spec.py   a function's configuration as what a backend starts, and its notes
    logs.py, metrics.py   each function's log stream and counters

The service knows no web framework and no backend: it talks to a `Backend` (environments/).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from lambda_sandbox.config import FunctionConfig
from lambda_sandbox.config.function import validate_update
from lambda_sandbox.environments.base import Backend
from lambda_sandbox.exceptions import InvalidParameterValueException
from lambda_sandbox.limits import Limits, load_limits
from lambda_sandbox.service.async_events import EventQueue
from lambda_sandbox.service.cold_start import ColdStarts
from lambda_sandbox.service.concurrency import Concurrency
from lambda_sandbox.service.environment_spec import EnvironmentSpecs
from lambda_sandbox.service.environment_variables import AwsSide
from lambda_sandbox.service.function_state import FunctionState
from lambda_sandbox.service.invoke import InvokeLifecycle, InvokeOutcome, check_payload
from lambda_sandbox.service.pool import EnvironmentPool
from lambda_sandbox.service.registry import FunctionRegistry
from lambda_sandbox.types import EnvironmentSpec, Filesystem, ResponseStream

__all__ = ["UPDATABLE_CONFIGURATION", "InvokeOutcome", "LambdaService"]

# UpdateFunctionConfiguration's properties the sandbox applies to a running function
UPDATABLE_CONFIGURATION = frozenset(
    {
        "MemorySize",
        "Timeout",
        "EphemeralStorage",
        "Environment",
        "Handler",
        "Runtime",
        "Description",
    }
)


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
        async_retry_delays_s: tuple[float, ...] | None = None,
        max_event_age_s: float | None = None,
    ) -> None:
        self.backend = backend
        self.aws = aws or AwsSide()
        self.limits = lim = limits or load_limits()
        self.logs_dir = logs_dir
        self.registry = FunctionRegistry(self.aws, logs_dir)
        self.functions: dict[str, FunctionState] = self.registry.functions
        self.account_concurrency = account_concurrency or lim.q("concurrency", "account_default")
        self.concurrency = Concurrency(
            self.account_concurrency, lim.q("concurrency", "unreserved_minimum")
        )
        self.specs = EnvironmentSpecs(lim, self.aws, backend, host_cpus)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._flush_handle: asyncio.TimerHandle | None = None
        self.pool = EnvironmentPool(
            lambda: self.functions.values(),
            keep_alive_s
            if keep_alive_s is not None
            else lim.q("execution_environment", "idle_keep_alive_s"),
            self._spawn,
        )
        self.cold_starts = ColdStarts(
            backend, self.specs.of, init_limit_s or float(lim.q("init", "on_demand_s"))
        )
        self.lifecycle = InvokeLifecycle(
            lim, self.cold_starts, self.pool, self.specs.note, self._schedule_flush
        )
        self.events = EventQueue(
            lim,
            self.concurrency,
            lambda state, payload, rid: self.lifecycle.run(state, payload, rid, None, None),
            self._spawn,
            retry_delays_s=async_retry_delays_s,
            max_event_age_s=max_event_age_s,
        )
        self._sync_request_bytes = lim.q("payload", "sync_request_bytes")
        self._async_request_bytes = lim.q("payload", "async_request_bytes")

    # registry ------------------------------------------------------------------------------
    def arn(self, name: str) -> str:
        return self.registry.arn(name)

    def register(
        self, config: FunctionConfig, bundle_dir: Path, filesystem: Filesystem | None = None
    ) -> FunctionState:
        state = self.registry.register(config, bundle_dir, filesystem)
        self.specs.forget(config.name)
        self.concurrency.recount(self.functions.values())
        return state

    def get(self, name_or_arn: str) -> FunctionState:
        return self.registry.get(name_or_arn)

    async def reload(
        self, config: FunctionConfig, bundle_dir: Path, filesystem: Filesystem | None = None
    ) -> FunctionState:
        """New code or configuration (hot reload): new invocations get fresh environments,
        idle ones are retired, invocations in flight finish on the old code."""
        old = self.functions.get(config.name)
        if old is not None:
            self.lifecycle.finish_pending(old)
        state = self.register(config, bundle_dir, filesystem)
        await self.pool.retire_idle(state)
        return state

    # configuration -------------------------------------------------------------------------
    async def update_configuration(self, name: str, props: dict[str, Any]) -> FunctionState:
        """UpdateFunctionConfiguration: new environments pick the change up; old ones drain."""
        state = self.get(name)
        unsupported = set(props) - UPDATABLE_CONFIGURATION
        if unsupported:
            raise InvalidParameterValueException(
                f"The sandbox cannot change {sorted(unsupported)} of a running function; "
                "edit function.yaml and restart `sandbox up`."
            )
        self.lifecycle.finish_pending(state)
        fields = validate_update(state.config.source, props, self.limits)
        state.config = state.config.with_updates(**fields)
        state.generation += 1
        state.last_modified = time.time()
        self.specs.forget(name)
        await self.pool.retire_idle(state)
        return state

    def put_concurrency(self, name: str, reserved: int | None) -> FunctionState:
        """PutFunctionConcurrency (an int) / DeleteFunctionConcurrency (None)."""
        state = self.get(name)
        if reserved is not None:
            self.concurrency.check_reservation(state, reserved, self.functions.values())
        was_unreserved = state.reserved is None
        state.config = state.config.with_updates(reserved_concurrency=reserved)
        self.concurrency.moved(state, was_unreserved)
        self.concurrency.recount(self.functions.values())
        return state

    # environments --------------------------------------------------------------------------
    def spec(self, state: FunctionState) -> EnvironmentSpec:
        return self.specs.of(state)

    def fidelity_note(self, state: FunctionState) -> str | None:
        return self.specs.fidelity_note(state)

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
        is_event = invocation_type == "Event"
        payload = check_payload(
            payload, self._async_request_bytes if is_event else self._sync_request_bytes
        )
        if invocation_type == "DryRun":
            return InvokeOutcome(request_id=str(uuid.uuid4()), status=204)
        if is_event:
            return InvokeOutcome(request_id=self.events.submit(state, payload), status=202)
        self.concurrency.acquire(state)
        try:
            return await self.lifecycle.run(
                state, payload, str(uuid.uuid4()), log_type, client_context, on_stream
            )
        finally:
            self.concurrency.release(state)

    # background work -----------------------------------------------------------------------
    def _schedule_flush(self) -> None:
        """Log files are flushed a moment after writes, off the invoke's hot path."""
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_later(0.2, self._flush_logs)

    def _flush_logs(self) -> None:
        self._flush_handle = None
        for state in self.functions.values():
            state.log.flush()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Kill every environment and stop background work; nothing is left behind."""
        self.events.closed = True
        for state in self.functions.values():
            self.lifecycle.finish_pending(state)
        envs = await self.pool.close()
        await asyncio.gather(*(e.kill() for e in envs), return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        for f in self.functions.values():
            f.log.close()
        await self.backend.close()
