"""Asynchronous invocation (InvocationType Event): Lambda's event queue.

An accepted event (202) is run as soon as a concurrency slot is free. A throttled event goes
back to the queue and is tried again with a backoff that grows from 1 s to 5 min; a function
error is retried twice, after 1 and then 2 minutes; an event older than the maximum event age
(6 h), or out of retries, is dropped, counted (AsyncEventsDropped) and logged. An event for a
function whose reserved concurrency is 0 fails at once (ZeroReservedConcurrency): it could
never run, and Lambda does not retry it. The numbers are
in limits/lambda.toml [async].
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from lambda_sandbox.exceptions import TooManyRequestsException
from lambda_sandbox.limits import Limits
from lambda_sandbox.log_lines import sandbox_line
from lambda_sandbox.service.concurrency import Concurrency
from lambda_sandbox.service.function_state import FunctionState
from lambda_sandbox.service.invoke import InvokeOutcome

__all__ = ["EventQueue"]

RunInvoke = Callable[[FunctionState, bytes, str], Awaitable[InvokeOutcome]]


class EventQueue:
    def __init__(
        self,
        limits: Limits,
        concurrency: Concurrency,
        run: RunInvoke,
        spawn: Callable[[Coroutine[Any, Any, Any]], None],
        *,
        retry_delays_s: tuple[float, ...] | None = None,
        max_event_age_s: float | None = None,
    ) -> None:
        self.concurrency = concurrency
        self._run = run
        self._spawn = spawn
        self.retry_delays_s = (
            retry_delays_s
            if retry_delays_s is not None
            else tuple(float(d) for d in limits.q("async", "retry_delays_s"))
        )
        self.max_event_age_s = (
            max_event_age_s
            if max_event_age_s is not None
            else float(limits.q("async", "maximum_event_age_s"))
        )
        self.backoff_initial_s = float(limits.q("async", "throttle_backoff_initial_s"))
        self.backoff_max_s = float(limits.q("async", "throttle_backoff_max_s"))
        self.closed = False

    def submit(self, state: FunctionState, payload: bytes) -> str:
        """Accept an event; returns its request id (the 202's x-amzn-RequestId)."""
        request_id = str(uuid.uuid4())
        state.stats.async_events_received += 1
        self._spawn(self._deliver(state, payload, request_id))
        return request_id

    async def _deliver(self, state: FunctionState, payload: bytes, request_id: str) -> None:
        received = time.monotonic()
        attempts, throttle_wait = 0, self.backoff_initial_s
        while not self.closed:
            if time.monotonic() - received > self.max_event_age_s:
                self._drop(state, request_id, "the maximum event age passed")
                return
            if state.reserved == 0:  # no retry can succeed: Lambda fails the event at once
                # (condition ZeroReservedConcurrency, approximateInvokeCount 0: LocalStack's
                # snapshot test_reserved_concurrency, recorded against AWS)
                self._drop(state, request_id, "ZeroReservedConcurrency")
                return
            try:
                self.concurrency.acquire(state)
            except TooManyRequestsException:
                await asyncio.sleep(throttle_wait)
                throttle_wait = min(throttle_wait * 2, self.backoff_max_s)
                continue
            try:
                outcome = await self._run(state, payload, request_id)
            finally:
                self.concurrency.release(state)
            if outcome.function_error is None:
                return
            if attempts >= len(self.retry_delays_s):
                self._drop(state, request_id, f"{attempts + 1} attempts failed")
                return
            await asyncio.sleep(self.retry_delays_s[attempts])
            attempts += 1

    @staticmethod
    def _drop(state: FunctionState, request_id: str, why: str) -> None:
        state.stats.async_events_dropped += 1
        state.log.write([sandbox_line(request_id, f"async event dropped: {why}")])
