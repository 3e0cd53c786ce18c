"""Asynchronous invocation (InvocationType Event): Lambda's event queue.

An accepted event (202) is run as soon as a concurrency slot is free. A throttled event goes
back to the queue and is tried again with a backoff that grows from 1 s to 5 min; a function
error is retried twice, after 1 and then 2 minutes; an event older than the maximum event age
(6 h), or out of retries, is dropped, counted (AsyncEventsDropped) and logged. The function's
event invoke configuration (event_invoke_configs.py) can lower both (MaximumRetryAttempts
0-2, MaximumEventAgeInSeconds 60-21600) and names where the outcome goes (destinations.py).
An event for a function whose reserved concurrency is 0 fails at once
(ZeroReservedConcurrency): it could never run, and Lambda does not retry it. The numbers are
in limits/lambda.toml [async]. Every accepted event is in the journal (event_journal.py) until
its outcome is final, so a stopped or crashed sandbox's queue is resumed by the next start.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from lambda_sandbox.exceptions import TooManyRequestsException
from lambda_sandbox.limits import Limits
from lambda_sandbox.log_lines import sandbox_line
from lambda_sandbox.service.concurrency import Concurrency
from lambda_sandbox.service.destinations import Destinations, invocation_record
from lambda_sandbox.service.event_invoke_configs import EventInvokeConfig, config_for
from lambda_sandbox.service.event_journal import EventJournal, JournalRecord
from lambda_sandbox.service.function_state import FunctionState
from lambda_sandbox.service.invoke import InvokeOutcome

__all__ = ["EventQueue"]

RunInvoke = Callable[[FunctionState, bytes, str, str], Awaitable[InvokeOutcome]]


@dataclass
class _Event:
    state: FunctionState
    payload: bytes
    request_id: str
    invoked_arn: str  # as invoked: qualified (:$LATEST, :1, :alias), as Lambda records it
    settings: EventInvokeConfig | None
    received: float = field(default_factory=time.monotonic)
    attempts: int = 0
    last: InvokeOutcome | None = None
    record: JournalRecord | None = None  # what the journal holds of it


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
        destinations: Destinations | None = None,
        journal: EventJournal | None = None,
        settle: Callable[[FunctionState], None] | None = None,
    ) -> None:
        self._settle = settle or (lambda state: None)  # writes an invoke's pending log lines
        self.concurrency = concurrency
        self.journal = journal or EventJournal(None, "")
        self._run = run
        self._spawn = spawn
        self.destinations = destinations
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

    def submit(self, state: FunctionState, payload: bytes, invoked_arn: str | None = None) -> str:
        """Accept an event; returns its request id (the 202's x-amzn-RequestId).
        `invoked_arn`: the ARN it was invoked with (unqualified: $LATEST)."""
        request_id = str(uuid.uuid4())
        state.stats.async_events_received += 1
        arn = invoked_arn or state.qualified_arn
        if arn.count(":") == 6:
            arn += ":$LATEST"
        settings = config_for(state, arn.rsplit(":", 1)[1])
        event = _Event(state, payload, request_id, arn, settings)
        event.record = JournalRecord(request_id, state.name, arn, payload, time.time(), 0, "")
        self.journal.keep(event.record)
        self._spawn(self._deliver(event))
        return request_id

    def resume(self, state: FunctionState, record: JournalRecord) -> None:
        """An event an earlier run accepted and did not finish: queued again with its age and
        attempts (its request id stays the same)."""
        state.stats.async_events_resumed += 1
        settings = config_for(state, record.invoked_arn.rsplit(":", 1)[1])
        event = _Event(
            state, record.payload, record.request_id, record.invoked_arn, settings,
            received=time.monotonic() - record.age_s, attempts=record.attempts, record=record,
        )  # fmt: skip
        self.journal.keep(record)  # now this session's
        self._spawn(self._deliver(event))

    def _limits(self, event: _Event) -> tuple[int, float]:
        """(retries, maximum age): the event invoke configuration's, else Lambda's."""
        settings = event.settings
        retries = len(self.retry_delays_s)
        if settings is not None and settings.maximum_retry_attempts is not None:
            retries = settings.maximum_retry_attempts
        age = self.max_event_age_s
        if settings is not None and settings.maximum_event_age_s is not None:
            age = float(settings.maximum_event_age_s)
        return retries, age

    async def _deliver(self, event: _Event) -> None:
        state = event.state
        retries, max_age = self._limits(event)
        throttle_wait = self.backoff_initial_s
        while not self.closed:
            if time.monotonic() - event.received > max_age:
                await self._fail(event, "EventAgeExceeded", "the maximum event age passed")
                return
            if state.reserved == 0:  # no retry can succeed: Lambda fails the event at once
                # (condition ZeroReservedConcurrency, approximateInvokeCount 0: LocalStack's
                # snapshot test_reserved_concurrency, recorded against AWS)
                await self._fail(event, "ZeroReservedConcurrency", "ZeroReservedConcurrency")
                return
            try:
                self.concurrency.acquire(state)
            except TooManyRequestsException:
                await asyncio.sleep(throttle_wait)
                throttle_wait = min(throttle_wait * 2, self.backoff_max_s)
                continue
            try:
                event.last = await self._run(
                    state, event.payload, event.request_id, event.invoked_arn
                )
            finally:
                self.concurrency.release(state)
            event.attempts += 1
            if event.record is not None:
                event.record.attempts = event.attempts
                self.journal.keep(event.record)
            if event.last.function_error is None:
                await self._outcome(event, "Success")
                return
            if event.attempts > retries:
                await self._fail(event, "RetriesExhausted", f"{event.attempts} attempts failed")
                return
            delays = self.retry_delays_s or (0.0,)
            await asyncio.sleep(delays[min(event.attempts - 1, len(delays) - 1)])

    async def _fail(self, event: _Event, condition: str, why: str) -> None:
        event.state.stats.async_events_dropped += 1
        event.state.log.write([sandbox_line(event.request_id, f"async event dropped: {why}")])
        await self._outcome(event, condition)
        target = event.state.function.config.dead_letter_arn
        if target and self.destinations is not None:
            error = ""
            if event.last is not None and event.last.payload:
                try:
                    error = str(json.loads(event.last.payload).get("errorMessage", ""))
                except (ValueError, AttributeError):
                    error = ""
            await self.destinations.dead_letter(
                event.state, str(target), event.request_id, event.payload, error
            )

    async def _outcome(self, event: _Event, condition: str) -> None:
        # final: nothing to resume, once its REPORT is on disk too (a crash right after must
        # not leave an event that ran without a trace)
        self._settle(event.state)
        event.state.log.flush()
        self.journal.done(event.request_id)
        settings = event.settings
        if settings is None or self.destinations is None:
            return
        target = settings.on_success if condition == "Success" else settings.on_failure
        if not target.get("Destination"):
            return
        record = invocation_record(
            event.request_id, event.invoked_arn, condition, event.attempts, event.payload,
            event.last,
        )  # fmt: skip
        await self.destinations.send(event.state, target["Destination"], record)
