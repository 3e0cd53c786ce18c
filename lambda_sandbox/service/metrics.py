"""Per-function metrics, named as CloudWatch names Lambda's: the server side of every test.

Counters (Invocations, Errors, Throttles, timeouts, cold starts, async events) and distributions
(Duration, Init Duration, billed ms, Max Memory Used): each distribution keeps cumulative
histogram buckets (for Prometheus) and a bounded window of recent values (for percentiles).
"""

from __future__ import annotations

import bisect
import statistics
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DURATION_BUCKETS_MS", "Distribution", "FunctionMetrics"]

DURATION_BUCKETS_MS = (
    1,
    2,
    5,
    10,
    25,
    50,
    100,
    250,
    500,
    1000,
    2500,
    5000,
    10000,
    30000,
    60000,
    300000,
    900000,
)
WINDOW = 10_000


@dataclass
class Distribution:
    buckets: tuple[float, ...] = DURATION_BUCKETS_MS
    counts: list[int] = field(default_factory=list)  # per bucket, plus +Inf
    total: float = 0.0
    n: int = 0
    maximum: float = 0.0
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    recent_at: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))  # Unix times

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.buckets) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.n += 1
        self.maximum = max(self.maximum, value)
        self.recent.append(value)
        self.recent_at.append(time.time())

    def window(self, since: float | None = None) -> list[float]:
        """The recent values, or only those observed at or after `since` (a Unix time)."""
        if since is None:
            return list(self.recent)
        return [v for t, v in zip(self.recent_at, self.recent, strict=True) if t >= since]

    def percentile(self, q: float, since: float | None = None) -> float | None:
        values = self.window(since)
        if not values:
            return None
        if len(values) == 1:
            return values[0]
        return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]

    def summary(self, since: float | None = None) -> dict[str, Any]:
        """Count, average, max and percentiles: over the sandbox's life (percentiles over the
        last 10,000 values), or over the values observed since `since` (a load run's window)."""
        if since is not None:
            values = self.window(since)
            return {
                "count": len(values),
                "avg": sum(values) / len(values) if values else None,
                "max": max(values) if values else None,
                "p50": self.percentile(50, since),
                "p95": self.percentile(95, since),
                "p99": self.percentile(99, since),
                "since": since,
            }
        return {
            "count": self.n,
            "avg": self.total / self.n if self.n else None,
            "max": self.maximum if self.n else None,
            "p50": self.percentile(50),
            "p95": self.percentile(95),
            "p99": self.percentile(99),
        }


@dataclass
class FunctionMetrics:
    invocations: int = 0
    errors: int = 0
    throttles: int = 0
    timeouts: int = 0
    cold_starts: int = 0
    async_events_received: int = 0
    async_events_dropped: int = 0
    async_events_resumed: int = 0  # accepted by an earlier run that stopped or crashed
    provisioned_invocations: int = 0  # served by a provisioned environment
    provisioned_spillover: int = 0  # all provisioned environments busy: ran on-demand
    restores: int = 0  # cold starts restored from a SnapStart snapshot
    uniqueness_warnings: int = 0  # restores that share state with another one (SnapStart)
    max_concurrency: int = 0
    billed_ms_total: int = 0
    duration: Distribution = field(default_factory=Distribution)
    init_duration: Distribution = field(default_factory=Distribution)
    restore_duration: Distribution = field(default_factory=Distribution)
    max_memory_used_mb: Distribution = field(
        default_factory=lambda: Distribution(buckets=(64, 128, 256, 512, 1024, 2048, 4096, 10240))
    )

    def as_cloudwatch(
        self,
        concurrent_now: int,
        environments: dict[str, int],
        since: float | None = None,
        provisioned: tuple[int, int, int] = (0, 0, 0),  # busy now, allocated, most busy
    ) -> dict[str, Any]:
        busy, allocated, peak = provisioned
        return {
            "Invocations": self.invocations,
            "Errors": self.errors,
            "Throttles": self.throttles,
            "Timeouts": self.timeouts,
            "ColdStarts": self.cold_starts,
            "AsyncEventsReceived": self.async_events_received,
            "AsyncEventsDropped": self.async_events_dropped,
            "AsyncEventsResumed": self.async_events_resumed,
            "ConcurrentExecutions": concurrent_now,
            "MaxConcurrentExecutions": self.max_concurrency,
            "Duration": self.duration.summary(since),
            "InitDuration": self.init_duration.summary(since),
            "RestoreDuration": self.restore_duration.summary(since),
            "SnapStartRestores": self.restores,
            "SnapStartUniquenessWarnings": self.uniqueness_warnings,
            "MaxMemoryUsed": self.max_memory_used_mb.summary(since),
            "BilledDurationTotal": self.billed_ms_total,
            "Environments": environments,
            "ProvisionedConcurrentExecutions": busy,
            "ProvisionedConcurrencyInvocations": self.provisioned_invocations,
            "ProvisionedConcurrencySpilloverInvocations": self.provisioned_spillover,
            "ProvisionedConcurrencyUtilization": round(peak / allocated, 3) if allocated else 0,
        }
