"""Messages passed between the layers. A leaf module: it imports only the error types.

The service hands an `EnvironmentSpec` to a backend to start one execution environment and
`Invocation`s to run in it; the environment answers with an `InitOutcome` once and an
`InvocationResult` per invocation.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from lambda_sandbox.exceptions import FunctionErrorType

__all__ = [
    "LAMBDA_PATHS",
    "Enforcement",
    "EnvironmentSpec",
    "Filesystem",
    "InitOutcome",
    "Invocation",
    "InvocationResult",
    "Progress",
    "ProgressFraction",
    "ResponseStream",
]

# Long work reports as it goes: a message ("installing requirements"), or a message and the
# fraction done (tune, fit). A CLI shows them as rich progress, CI as plain lines.
Progress = Callable[[str], None]
ProgressFraction = Callable[[str, float], None]


@dataclass(frozen=True, slots=True)
class Filesystem:
    """What a function's environments see at Lambda's paths (host folders, bind-mounted)."""

    task: Path  # -> /var/task: the bundle
    opt: Path | None = None  # -> /opt: the function's layers, merged in order
    runtime: Path | None = None  # -> /var/runtime: the runtime client, boto3, bootstrap.py
    lang: Path | None = None  # -> /var/lang: the Python of the function's Runtime
    python_version: str | None = None  # "3.12" (None: no Python, a provided runtime)
    notes: tuple[str, ...] = ()  # how it differs from the function's Runtime


LAMBDA_PATHS = {"task": "/var/task", "opt": "/opt", "runtime": "/var/runtime", "lang": "/var/lang"}


@dataclass(frozen=True, slots=True)
class EnvironmentSpec:
    """Everything a backend needs to start one execution environment of a function."""

    function_name: str
    handler: str
    runtime: str
    bundle_dir: Path
    memory_mb: int
    ephemeral_mb: int
    vcpus: float  # the CPU share the tier gets, after the host cap
    environment: dict[str, str]  # the complete environment the runtime process sees
    pids_max: int
    nofile: int
    cpu_period_us: int = 100_000  # the CFS period the vCPU share is enforced over
    timeout_s: float = 3.0  # the function's Timeout (the service enforces it)
    config_generation: int = 0
    init_vcpus: float | None = None  # the CPU share of the INIT phase (None: `vcpus`)
    filesystem: Filesystem | None = None  # None: the bundle alone, on the host's Python
    # what Lambda's sandbox uses besides the runtime process (limits/lambda.toml [memory]):
    # a backend whose environment lacks it counts it in Max Memory Used and leaves it unused
    overhead_mb: int = 0

    @property
    def cpu_quota_us(self) -> int:
        """The CPU share as a CFS quota per `cpu_period_us` (the kernel's minimum is 1 ms)."""
        return max(1000, int(self.vcpus * self.cpu_period_us))

    @property
    def init_cpu_quota_us(self) -> int:
        """The quota INIT runs with: on-demand INIT gets a burst of at least one vCPU."""
        return max(1000, int((self.init_vcpus or self.vcpus) * self.cpu_period_us))


@dataclass(frozen=True, slots=True)
class Enforcement:
    """Which limits a backend really enforces on this host, and why not when it does not."""

    memory: bool
    cpu: bool
    ephemeral_storage: bool
    pids: bool
    user: str  # the user the function runs as
    cgroup: str  # "v1", "v2", "v2 (delegated)" or "none"
    notes: tuple[str, ...] = ()

    @property
    def all_enforced(self) -> bool:
        return self.memory and self.cpu and self.ephemeral_storage and self.pids

    def summary(self) -> str:
        parts = [
            f"memory={'yes' if self.memory else 'NO'}",
            f"cpu={'yes' if self.cpu else 'NO'}",
            f"/tmp={'yes' if self.ephemeral_storage else 'NO'}",
            f"pids={'yes' if self.pids else 'NO'}",
            f"cgroup={self.cgroup}",
            f"user={self.user}",
        ]
        return ", ".join(parts)


@dataclass(slots=True)
class Invocation:
    """One event on its way to a runtime, with the Lambda-Runtime-* header values."""

    request_id: str
    payload: bytes
    deadline_ms: int
    function_arn: str
    trace_id: str
    client_context: str | None = None
    cognito_identity: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {
            "Lambda-Runtime-Aws-Request-Id": self.request_id,
            "Lambda-Runtime-Deadline-Ms": str(self.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": self.function_arn,
            "Lambda-Runtime-Trace-Id": self.trace_id,
            "Content-Type": "application/json",
        }
        if self.client_context:
            headers["Lambda-Runtime-Client-Context"] = self.client_context
        if self.cognito_identity:
            headers["Lambda-Runtime-Cognito-Identity"] = self.cognito_identity
        return headers


class ResponseStream:
    """A streamed response: the chunks as the runtime sends them, then how the stream ended."""

    def __init__(self, content_type: str, max_bytes: int) -> None:
        self.content_type = content_type
        self.max_bytes = max_bytes
        self.size = 0
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.ended: asyncio.Future[tuple[str | None, bytes]] = (
            asyncio.get_running_loop().create_future()
        )  # (error type or None, error body)

    def feed(self, data: bytes) -> None:
        if self.ended.done() or not data:
            return
        self.size += len(data)
        if self.size > self.max_bytes:
            self.finish(
                FunctionErrorType.RESPONSE_TOO_LARGE,
                json.dumps(
                    {
                        "errorType": FunctionErrorType.RESPONSE_TOO_LARGE,
                        "errorMessage": "Response payload size exceeded maximum allowed "
                        f"payload size ({self.max_bytes} bytes).",
                    }
                ).encode(),
            )
            return
        self._queue.put_nowait(data)

    def finish(self, error_type: str | None = None, error_body: bytes = b"") -> None:
        if not self.ended.done():
            self.ended.set_result((error_type, error_body))
            self._queue.put_nowait(None)

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            yield item

    async def collect(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])


@dataclass(slots=True)
class InvocationResult:
    """What came back for one invocation: a response payload or a function error."""

    payload: bytes
    error_type: str | None = None  # set for function errors
    fatal: bool = False  # the environment is gone or must be replaced
    stream: ResponseStream | None = None  # a streamed response, still arriving
    # INIT that ran inside this invoke, in ms: backends whose runtime starts lazily (the RIE)
    # report it here, and the service reports it as INIT, not as the invoke's duration
    init_ms: float | None = None
    # the runtime died before it took the event: it ran nowhere, another environment may run it
    undelivered: bool = False

    @property
    def is_error(self) -> bool:
        return self.error_type is not None

    @classmethod
    def error(cls, error_type: str, message: str, *, fatal: bool = False) -> InvocationResult:
        body = json.dumps({"errorType": error_type, "errorMessage": message})
        return cls(payload=body.encode(), error_type=error_type, fatal=fatal)


@dataclass(slots=True)
class InitOutcome:
    """How the INIT phase of an environment ended."""

    ok: bool
    duration_ms: float
    error_type: str | None = None
    error_payload: bytes = b""  # the runtime's /init/error body, when it sent one
    exit_message: str | None = None  # set when the runtime process is gone
    # INIT has not run yet: it runs with the first invoke (the RIE), and duration_ms is only
    # the environment's start; the invoke's result carries the INIT duration
    deferred: bool = False
    # restored from a SnapStart snapshot: duration_ms is REPORT's Restore Duration, billed_ms
    # the part Lambda bills (loading the runtime and the after-restore hooks)
    restored: bool = False
    billed_ms: float | None = None
