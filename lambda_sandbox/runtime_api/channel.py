"""One execution environment's side of the Runtime API: what it is handed, what it answered.

The Runtime API server calls `next()`, `respond()`, `fail()` and `init_failed()` as the runtime
client polls; the environment calls `submit()` to hand over an invocation and `abort()` when the
runtime process is gone. No HTTP here: this is the state machine behind the endpoints.
"""

from __future__ import annotations

import asyncio
import time

from lambda_sandbox.types import Invocation, InvocationResult, ResponseStream

__all__ = ["RuntimeChannel"]


class RuntimeChannel:
    def __init__(self, env_id: str, max_response_bytes: int, max_stream_bytes: int) -> None:
        loop = asyncio.get_running_loop()
        self.env_id = env_id
        self.max_response_bytes = max_response_bytes
        self.max_stream_bytes = max_stream_bytes
        self.first_next: asyncio.Future[float] = loop.create_future()  # monotonic time
        self.init_error: tuple[str, bytes] | None = None  # (errorType, body)
        self._loop = loop
        self._queued: Invocation | None = None
        self._waiter: asyncio.Future[Invocation] | None = None
        self.current: Invocation | None = None
        self._result: asyncio.Future[InvocationResult] | None = None

    # the environment's side ---------------------------------------------------------------
    def submit(self, invocation: Invocation) -> asyncio.Future[InvocationResult]:
        """Hand an invocation to the runtime; the future resolves with its answer."""
        if self._result is not None and not self._result.done():
            raise RuntimeError(f"environment {self.env_id} is busy")
        result: asyncio.Future[InvocationResult] = self._loop.create_future()
        self._result = result
        self.current = invocation
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            self._waiter = None
            waiter.set_result(invocation)
        else:
            self._queued = invocation
        return result

    def abort(self, result: InvocationResult) -> None:
        """The runtime is gone: answer the invocation in flight (if any) with `result`."""
        if self._result is not None and self._result.done():
            done = self._result.result()
            if done.stream is not None:  # it died mid-stream
                done.stream.finish(result.error_type, result.payload)
        if self._queued is not None:  # never taken by the runtime: it ran nowhere
            self._queued = None
            result.undelivered = True
        self._finish(result)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.cancel()

    @property
    def busy(self) -> bool:
        return self._result is not None and not self._result.done()

    # the runtime's side (called by the HTTP endpoints) ------------------------------------
    def next(self) -> asyncio.Future[Invocation]:
        """The next invocation: a done future when one is queued, else one to wait on."""
        if not self.first_next.done():
            self.first_next.set_result(time.monotonic())
        waiter: asyncio.Future[Invocation] = self._loop.create_future()
        if self._queued is not None:
            invocation, self._queued = self._queued, None
            waiter.set_result(invocation)
        else:
            self._waiter = waiter
        return waiter

    def knows(self, request_id: str) -> bool:
        return self.current is not None and self.current.request_id == request_id and self.busy

    def respond(self, payload: bytes) -> None:
        self._finish(InvocationResult(payload=payload))

    def fail(self, error_type: str, body: bytes, *, fatal: bool = False) -> None:
        self._finish(
            InvocationResult(payload=body, error_type=error_type or "Unhandled", fatal=fatal)
        )

    def stream(self, content_type: str, max_bytes: int) -> ResponseStream:
        """The runtime started a streamed response: the invocation's answer is the stream."""
        stream = ResponseStream(content_type, max_bytes)
        self._finish(InvocationResult(payload=b"", stream=stream))
        return stream

    def init_failed(self, error_type: str, body: bytes) -> None:
        self.init_error = (error_type, body)

    def _finish(self, result: InvocationResult) -> None:
        fut = self._result
        if fut is not None and not fut.done():
            fut.set_result(result)
