"""A registered function: its configuration, its pool of environments and its counters."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambda_sandbox.config import FunctionConfig
from lambda_sandbox.environments.base import Environment
from lambda_sandbox.service.logs import LogStream
from lambda_sandbox.service.metrics import FunctionMetrics
from lambda_sandbox.types import Filesystem

__all__ = ["FunctionState"]


@dataclass(eq=False)
class FunctionState:
    config: FunctionConfig
    bundle_dir: Path
    arn: str
    log: LogStream
    generation: int = 0
    last_modified: float = field(default_factory=time.time)
    code_size: int = 0
    code_sha256: str = ""
    filesystem: Filesystem | None = None  # /var/task, /opt, /var/runtime, /var/lang
    idle: list[Environment] = field(default_factory=list)  # most recently used last
    busy: set[Environment] = field(default_factory=set)
    in_use: int = 0  # invocations holding a concurrency slot (starting or running)
    pending: list[tuple[Any, ...]] = field(default_factory=list)  # invokes to finish (logs, pool)
    stats: FunctionMetrics = field(default_factory=FunctionMetrics)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def reserved(self) -> int | None:
        return self.config.reserved_concurrency

    def environments(self) -> list[Environment]:
        return [*self.idle, *self.busy]

    def metrics(self, since: float | None = None) -> dict[str, object]:
        return self.stats.as_cloudwatch(
            self.in_use, {"idle": len(self.idle), "busy": len(self.busy)}, since
        )
