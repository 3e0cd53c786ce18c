"""The backend contract: start an execution environment, hand it invocations, kill it.

A backend (process, docker, or the in-memory fake for tests) implements `Backend.start()` and
an `Environment` with four hooks: `wait_init`, `submit`, `kill` and the measurements. Everything
else of the Lambda lifecycle (pools, timeouts, logs, billing) lives once in the service.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod

from lambda_sandbox.types import (
    Enforcement,
    EnvironmentSpec,
    InitOutcome,
    Invocation,
    InvocationResult,
)

__all__ = ["Backend", "Environment", "exit_message"]


def exit_message(returncode: int | None) -> str:
    """Lambda's wording for how a runtime process ended ("signal: killed", "exit status 1")."""
    if returncode is None:
        return "Runtime exited without providing a reason"
    if returncode < 0:
        names = {9: "killed", 15: "terminated", 11: "segmentation fault", 6: "aborted"}
        return f"Runtime exited with error: signal: {names.get(-returncode, str(-returncode))}"
    if returncode == 0:
        return "Runtime exited without providing a reason"
    return f"Runtime exited with error: exit status {returncode}"


class Environment(ABC):
    """One execution environment: a runtime process (or container) with its limits."""

    def __init__(self, env_id: str, spec: EnvironmentSpec) -> None:
        self.id = env_id
        self.spec = spec
        self.last_used = 0.0  # monotonic time it last answered an invocation
        self.exited: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self.out_of_memory = False  # killed at its memory limit (REPORT: Runtime.OutOfMemory)

    @property
    def alive(self) -> bool:
        return not self.exited.done()

    @abstractmethod
    async def wait_init(self, timeout_s: float) -> InitOutcome | None:
        """Wait for the INIT phase to end; None when it is still running after `timeout_s`."""

    @abstractmethod
    def submit(self, invocation: Invocation) -> asyncio.Future[InvocationResult]:
        """Hand one invocation to the runtime; the future resolves with its answer, or with
        a fatal Runtime.ExitError result if the runtime dies first."""

    @abstractmethod
    async def kill(self) -> None:
        """Stop every process of the environment and release its resources."""

    @abstractmethod
    def peak_memory_bytes(self) -> int | None:
        """Peak memory over the environment's life so far (None when not measurable)."""

    @abstractmethod
    def take_output(self) -> list[str]:
        """The function's log lines written since the last call."""


class Backend(ABC):
    name: str = "backend"

    @property
    @abstractmethod
    def enforcement(self) -> Enforcement: ...

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Prepare shared resources (servers, cgroup roots)."""

    @abstractmethod
    async def start(self, env_id: str, spec: EnvironmentSpec) -> Environment: ...

    def runtime_note(self, runtime: str) -> str | None:
        """How this backend's runtime differs from the function's `Runtime`, or None."""
        return None

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release shared resources; environments are killed by the service first."""
