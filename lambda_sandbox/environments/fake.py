"""An in-memory backend for fast tests of the service: handlers are Python callables.

A `FakeFunction` says how its environments behave: the handler (sync or async, called with the
decoded event), how long INIT takes, whether INIT fails, how much memory it reports. Killing a
fake environment cancels its running handler, like SIGKILL ends a process.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lambda_sandbox.environments.base import Backend, Environment, exit_message
from lambda_sandbox.exceptions import FunctionErrorType
from lambda_sandbox.types import (
    Enforcement,
    EnvironmentSpec,
    InitOutcome,
    Invocation,
    InvocationResult,
)

__all__ = ["FakeBackend", "FakeFunction"]


@dataclass
class FakeFunction:
    handler: Callable[[Any], Any] = lambda event: event
    init_s: float = 0.0
    init_error: tuple[str, str] | None = None  # (errorType, errorMessage)
    peak_mb: int = 20
    dying_s: float = 0.0  # how long a kill takes (a fork bomb's death, say)


class FakeEnvironment(Environment):
    def __init__(self, env_id: str, spec: EnvironmentSpec, fn: FakeFunction) -> None:
        super().__init__(env_id, spec)
        self.fn = fn
        self.output: list[str] = []
        self.invocations = 0
        self._init = asyncio.get_running_loop().create_task(self._run_init())
        self._running: asyncio.Task[None] | None = None

    async def _run_init(self) -> InitOutcome:
        await asyncio.sleep(self.fn.init_s)
        if self.fn.init_error is not None:
            error_type, message = self.fn.init_error
            body = json.dumps({"errorMessage": message, "errorType": error_type}).encode()
            self.exited.set_result(1)
            return InitOutcome(False, self.fn.init_s * 1000, error_type, body, exit_message(1))
        return InitOutcome(True, self.fn.init_s * 1000)

    async def wait_init(self, timeout_s: float) -> InitOutcome | None:
        done, _ = await asyncio.wait([self._init], timeout=timeout_s)
        return self._init.result() if done else None

    def submit(self, invocation: Invocation) -> asyncio.Future[InvocationResult]:
        loop = asyncio.get_running_loop()
        result: asyncio.Future[InvocationResult] = loop.create_future()
        self.invocations += 1

        async def run() -> None:
            try:
                value = self.fn.handler(json.loads(invocation.payload))
                if inspect.isawaitable(value):
                    value = await value
                self.output.append(f"handled {invocation.request_id}")
                if not result.done():
                    result.set_result(InvocationResult(payload=json.dumps(value).encode()))
            except asyncio.CancelledError:
                if not result.done():
                    result.set_result(
                        InvocationResult.error(
                            FunctionErrorType.EXIT,
                            f"RequestId: {invocation.request_id} Error: {exit_message(-9)}",
                            fatal=True,
                        )
                    )
                raise
            except Exception as exc:  # a handler exception: the runtime reports it
                body = {
                    "errorMessage": str(exc),
                    "errorType": type(exc).__name__,
                    "requestId": invocation.request_id,
                    "stackTrace": [],
                }
                if not result.done():
                    result.set_result(
                        InvocationResult(json.dumps(body).encode(), error_type=type(exc).__name__)
                    )

        self._running = loop.create_task(run())
        return result

    async def kill(self) -> None:
        await asyncio.sleep(self.fn.dying_s)
        for task in (self._init, self._running):
            if task is not None and not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if not self.exited.done():
            self.exited.set_result(-9)

    def peak_memory_bytes(self) -> int | None:
        return self.fn.peak_mb << 20

    def take_output(self) -> list[str]:
        out, self.output = self.output, []
        return out


@dataclass
class FakeBackend(Backend):
    functions: dict[str, FakeFunction] = field(default_factory=dict)
    started: list[FakeEnvironment] = field(default_factory=list)
    name: str = "fake"

    @property
    def enforcement(self) -> Enforcement:
        return Enforcement(True, True, True, True, user="fake", cgroup="fake")

    async def start(self, env_id: str, spec: EnvironmentSpec) -> FakeEnvironment:
        env = FakeEnvironment(env_id, spec, self.functions.get(spec.function_name, FakeFunction()))
        self.started.append(env)
        return env
