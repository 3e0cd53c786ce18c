"""What one load run measured: client side (Locust), server side (the sandbox), reconciled."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["LoadResult"]


@dataclass
class LoadResult:
    name: str
    scenario: str
    target: str
    mode: str  # "invoke" (Lambda Invoke API) or "url" (function URL)
    function: str | None
    users: int
    spawn_rate: float
    duration_s: float
    scale: float
    workers: int
    elapsed_s: float
    # client side (Locust)
    requests: int = 0
    failures: int = 0
    successes: int = 0
    throttles: int = 0
    function_errors: int = 0
    other_errors: int = 0
    other_error_kinds: dict[str, int] = field(default_factory=dict)
    rps: float = 0.0
    latency_ms: dict[str, float | None] = field(default_factory=dict)  # p50, p95, p99, avg, max
    # server side (deltas of /_sandbox/metrics over the run)
    server: dict[str, Any] = field(default_factory=dict)
    memory_mb: int | None = None
    cost_usd: float | None = None
    cost_per_million_usd: float | None = None
    reconciled: bool = False
    reconciliation_errors: list[str] = field(default_factory=list)
    reconciliation_lines: list[str] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    report_html: str | None = None
    locust_html: str | None = None  # Locust's own report, kept beside the sandbox's
    files: list[str] = field(default_factory=list)
    locust_exit_code: int = 0
    qualifier: str | None = None  # the version or alias invoked (Invoke mode)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)
