"""AWS Lambda Power Tuning's arithmetic: trimmed means, prices, the strategies, the results.

Semantics were read from github.com/alexcasalboni/aws-lambda-power-tuning (commit 262ecc2d):
`lambda/utils.js` (computeAverageDuration, computePrice, computeTotalCost,
extractDurationFromText, buildVisualizationURL), `lambda/executor.js` (discardTopBottom
default 0.2 clamped to [0, 0.4], computeStatistics) and `lambda/analyzer.js` (findCheapest,
findFastest, findBalanced, defaultBalancedWeight 0.5, the output keys power / cost / duration /
stateMachine {executionCost, lambdaCost, visualization} / stats {value, averagePrice,
averageDuration}). A Python rewrite of those semantics, not a port of the code. Pure: no
sandbox, no client; `run.py` feeds it invocations.
"""

from __future__ import annotations

import base64
import json
import math
import re
import struct
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lambda_sandbox.client import Call
from lambda_sandbox.cost import cost_per_invocation
from lambda_sandbox.limits import load_limits
from lambda_sandbox.tools.tune.cold_starts import ColdStartOptions

__all__ = [
    "DEFAULT_BALANCED_WEIGHT",
    "DISCARD_TOP_BOTTOM",
    "MAX_DISCARD_TOP_BOTTOM",
    "STRATEGIES",
    "Invocation",
    "TierStats",
    "TuneResult",
    "choose_power",
    "failure_reason",
    "generate_payloads",
    "price_per_invocation",
    "price_with_cold_starts",
    "tier_stats",
    "trimmed_mean",
    "visualization_url",
]

DISCARD_TOP_BOTTOM = 0.2  # Power Tuning's default discardTopBottom
MAX_DISCARD_TOP_BOTTOM = 0.4  # Power Tuning clamps discardTopBottom to [0, 0.4]
DEFAULT_BALANCED_WEIGHT = 0.5  # Power Tuning's defaultBalancedWeight
STRATEGIES = ("cost", "speed", "balanced")
VISUALIZATION_BASE_URL = "https://lambda-power-tuning.show/"  # Power Tuning's default


# the pure part: trimming, pricing, choosing ---------------------------------------------------
@dataclass(frozen=True)
class Invocation:
    """One invoke as its REPORT line tells it (or the error that replaced it)."""

    duration_ms: float | None  # Duration + Init Duration + Restore Duration, as Power Tuning
    billed_ms: float | None  # Billed Duration + Billed Restore Duration
    init_ms: float | None = None
    max_memory_mb: int | None = None
    error: str | None = None  # the errorType of a function error, or the API error's code
    note: str | None = None  # the sandbox's SANDBOX line: what differs from Lambda
    reason: str | None = None  # why it failed, in words, when the cause repeats at a tier

    @property
    def cold(self) -> bool:
        return self.init_ms is not None

    @classmethod
    def of(cls, call: Call) -> Invocation:
        """Power Tuning's view of one invoke: Duration + Init + Restore Duration, and
        Billed Duration + Billed Restore Duration."""
        report = call.report
        if report is None:
            return cls(None, None, error=call.error)
        total = report.duration_ms + (report.init_ms or 0.0) + (report.restore_ms or 0.0)
        return cls(
            duration_ms=total,
            billed_ms=float(report.billed_ms + (report.billed_restore_ms or 0)),
            init_ms=report.init_ms,
            max_memory_mb=report.max_memory_used_mb,
            error=call.error,
            note=report.note,
            reason=failure_reason(call),
        )


def failure_reason(call: Call) -> str | None:
    """Why an invoke failed, in words, for the failures that repeat at a memory size: an INIT
    that cannot finish in Lambda's 10 s at the tier's CPU share, running out of memory, the
    function's timeout. None for a success or another error."""
    if call.error is None:
        return None
    if "Phase: init\tStatus: timeout" in call.log:
        return "INIT did not finish within Lambda's 10 s INIT limit at this CPU share"
    if call.report is not None and call.report.error_type == "Runtime.OutOfMemory":
        return "out of memory: the function needs more than this MemorySize"
    if call.error == "Runtime.ExitError" and b"signal: killed" in call.payload:
        return "out of memory: the runtime was killed at this MemorySize"
    if call.error == "Sandbox.Timedout":
        return "the function's Timeout passed"
    return None


def generate_payloads(num: int, payload: Any) -> list[bytes]:
    """Power Tuning's generatePayloads: `num` payloads, the same one repeated, or from a
    weighted list [{"payload": ..., "weight": n}, ...] in proportion to the weights (the last
    fills the remainder); each payload is sent as JSON (a string as it is)."""

    def encoded(value: Any) -> bytes:
        return value.encode() if isinstance(value, str) else json.dumps(value).encode()

    weighted = (
        isinstance(payload, list)
        and bool(payload)
        and all(isinstance(p, dict) and p.get("weight") and "payload" in p for p in payload)
    )
    if not weighted:
        return [encoded(payload)] * num
    if num < len(payload):
        raise ValueError(f"{len(payload)} weighted payloads need --num of at least that, not {num}")
    total = sum(float(p["weight"]) for p in payload)
    out: list[bytes] = []
    for i, item in enumerate(payload):
        count = int(float(item["weight"]) * num // total)
        if count < 1:
            raise ValueError(f"the weight of payload {i + 1} is too small for --num {num}")
        if i == len(payload) - 1:
            count = num - len(out)
        out += [encoded(item["payload"])] * count
    return out


def price_with_cold_starts(stats: TierStats, rate: float, arch: str) -> float | None:
    """$ per invocation (compute) when `rate` of them are cold starts that bill INIT too."""
    if stats.average_billed_duration is None:
        return None
    warm = price_per_invocation(stats.average_billed_duration, stats.value, arch)
    if not stats.init_duration:
        return warm
    cold = price_per_invocation(
        stats.average_billed_duration + stats.init_duration, stats.value, arch
    )
    return (1 - rate) * warm + rate * cold


def trimmed_mean(values: Sequence[float], discard: float = DISCARD_TOP_BOTTOM) -> float | None:
    """Power Tuning's computeAverageDuration: sort, drop int(n * discard) values at each end
    (none when n < 5 at 20%), average the rest. None for no values (Power Tuning says 0)."""
    if not values:
        return None
    discard = min(max(discard, 0.0), MAX_DISCARD_TOP_BOTTOM)
    cut = int(len(values) * discard)
    kept = sorted(values)[cut : len(values) - cut]
    return sum(kept) / len(kept)


def price_per_invocation(billed_ms: float, memory_mb: int, arch: str = "x86_64") -> float:
    """Power Tuning's computePrice: the billed ms rounded up, priced at the tier's memory
    (compute only, no request fee)."""
    return cost_per_invocation(math.ceil(billed_ms), memory_mb, arch=arch).compute


def choose_power(
    points: Sequence[tuple[int, float, float]],
    strategy: str = "cost",
    balanced_weight: float = DEFAULT_BALANCED_WEIGHT,
) -> int | None:
    """The winning power among (power, cost, duration) points, by Power Tuning's analyzer:
    cost -> cheapest (ties: fastest); speed -> fastest (ties: cheapest); balanced -> smallest
    w * cost / max cost + (1 - w) * duration / max duration (ties: the first given)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}: use one of {', '.join(STRATEGIES)}")
    if not points:
        return None
    if strategy == "cost":
        return min(points, key=lambda p: (p[1], p[2]))[0]
    if strategy == "speed":
        return min(points, key=lambda p: (p[2], p[1]))[0]
    weight = min(max(balanced_weight, 0.0), 1.0)
    max_cost = max(p[1] for p in points) or 1.0
    max_duration = max(p[2] for p in points) or 1.0
    return min(points, key=lambda p: weight * p[1] / max_cost + (1 - weight) * p[2] / max_duration)[
        0
    ]


def visualization_url(
    powers: Sequence[int],
    durations: Sequence[float],
    costs: Sequence[float],
    base: str = VISUALIZATION_BASE_URL,
) -> str:
    """Power Tuning's buildVisualizationURL: powers as int16, durations and costs as float32,
    little-endian, each base64-encoded, joined by ';' in the URL hash (nothing is sent)."""

    def enc(fmt: str, values: Sequence[float]) -> str:
        return base64.b64encode(struct.pack(f"<{len(values)}{fmt}", *values)).decode()

    order = sorted(range(len(powers)), key=lambda i: powers[i])
    sizes = [powers[i] for i in order]
    return (
        f"{base}#{enc('h', sizes)};{enc('f', [durations[i] for i in order])};"
        f"{enc('f', [costs[i] for i in order])}"
    )


@dataclass
class TierStats:
    """The statistics of one memory size, under Power Tuning's names in `to_json`."""

    value: int  # MemorySize, MB
    average_price: float | None  # $ per invocation (compute); None when the tier failed
    average_duration: float | None  # trimmed mean, ms
    total_cost: float = 0.0  # $ of the counted invokes
    average_billed_duration: float | None = None
    invocations: int = 0
    errors: int = 0
    error_types: dict[str, int] = field(default_factory=dict)
    warmup_errors: int = 0  # not counted in `errors`; a failed warm-up leaves a cold start
    cold_starts: int = 0  # among the counted invokes
    init_duration: float | None = None  # the warm-up's Init Duration, ms (mean of a batch)
    warmup_cost: float = 0.0
    max_memory_used: int | None = None  # MB, highest seen
    vcpus: float = 0.0  # the CPU share this host gave
    lambda_vcpus: float = 0.0  # the share Lambda gives the tier
    cpu_capped: bool = False
    request_price: float = 0.0  # $ per request, not in averagePrice (as Power Tuning)
    durations: list[float] = field(default_factory=list)  # every counted, successful invoke
    note: str | None = None  # the sandbox's note on fidelity, from the SANDBOX log line
    elapsed_s: float = 0.0
    stopped: str | None = None  # why the tier was stopped early (it cannot run at this size)
    price_with_cold_starts: float | None = None  # at the run's cold-start rate

    @property
    def failed(self) -> bool:
        return self.average_duration is None or self.average_price is None

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "averagePrice": self.average_price,
            "averageDuration": self.average_duration,
            "totalCost": self.total_cost,
            # the sandbox's extras
            "averageBilledDuration": self.average_billed_duration,
            "averagePricePerMillion": (
                None
                if self.average_price is None
                else (self.average_price + self.request_price) * 1e6
            ),
            "failed": self.failed,
            "invocations": self.invocations,
            "errors": self.errors,
            "errorTypes": dict(self.error_types),
            "warmupErrors": self.warmup_errors,
            "coldStarts": self.cold_starts,
            "initDuration": self.init_duration,
            "warmupCost": self.warmup_cost,
            "maxMemoryUsed": self.max_memory_used,
            "vcpus": self.vcpus,
            "lambdaVcpus": self.lambda_vcpus,
            "cpuCapped": self.cpu_capped,
            "durations": list(self.durations),
            "stoppedBecause": self.stopped,
            "averagePriceWithColdStarts": self.price_with_cold_starts,
            "sandboxNote": self.note,
            "elapsedSeconds": round(self.elapsed_s, 3),
        }


@dataclass
class TuneResult:
    function: str
    strategy: str
    balanced_weight: float
    num: int
    parallel: bool
    arch: str
    original_memory: int
    discard_top_bottom: float
    stats: list[TierStats]
    power: int | None  # the chosen MemorySize; None when every tier failed
    cost: float | None
    duration: float | None
    host_cpus: int
    started_at: float
    elapsed_s: float
    cold_start_rate: float = 0.0
    only_cold_starts: bool = False
    cold_starts: ColdStartOptions | None = None  # on-demand, SnapStart, provisioned at `power`

    @property
    def ok(self) -> bool:
        return self.power is not None

    @property
    def failed_tiers(self) -> list[int]:
        return [s.value for s in self.stats if s.failed]

    @property
    def capped_tiers(self) -> list[int]:
        return [s.value for s in self.stats if s.cpu_capped]

    @property
    def lambda_cost(self) -> float:
        return sum(s.total_cost + s.warmup_cost for s in self.stats)

    def visualization(self) -> str:
        good = [s for s in self.stats if not s.failed]
        return visualization_url(
            [s.value for s in good],
            [s.average_duration or 0.0 for s in good],
            [s.average_price or 0.0 for s in good],
        )

    def to_json(self) -> dict[str, Any]:
        """Power Tuning's output (with includeOutputResults) plus a `sandbox` section."""
        return {
            "power": self.power,
            "cost": self.cost,
            "duration": self.duration,
            "stateMachine": {
                "executionCost": 0.0,
                "lambdaCost": self.lambda_cost,
                "visualization": self.visualization(),
            },
            "stats": [s.to_json() for s in self.stats],
            "sandbox": {
                "function": self.function,
                "strategy": self.strategy,
                "balancedWeight": self.balanced_weight,
                "num": self.num,
                "parallelInvocation": self.parallel,
                "discardTopBottom": self.discard_top_bottom,
                "coldStartRate": self.cold_start_rate,
                "onlyColdStarts": self.only_cold_starts,
                "architecture": self.arch,
                "originalMemorySize": self.original_memory,
                "hostCpus": self.host_cpus,
                "failedTiers": self.failed_tiers,
                "cappedTiers": self.capped_tiers,
                "startedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started_at)),
                "elapsedSeconds": round(self.elapsed_s, 3),
                "coldStartOptions": self.cold_starts.to_json() if self.cold_starts else None,
            },
        }


def tier_stats(
    memory_mb: int,
    warmup: list[Invocation],
    counted: list[Invocation],
    arch: str,
    discard: float,
    host_cpus: int,
) -> TierStats:
    limits = load_limits()
    ok = [i for i in counted if i.error is None and i.duration_ms is not None]
    billed_ok = [i.billed_ms for i in ok if i.billed_ms is not None]
    avg_duration = trimmed_mean([i.duration_ms for i in ok if i.duration_ms is not None], discard)
    avg_billed = trimmed_mean(billed_ok, discard)
    price = None if avg_billed is None else price_per_invocation(avg_billed, memory_mb, arch)
    # every counted invoke that was billed costs money, failed or not
    billed_all = [i.billed_ms for i in counted if i.billed_ms is not None]
    warm_billed = [i.billed_ms for i in warmup if i.billed_ms is not None]
    inits = [i.init_ms for i in warmup if i.init_ms is not None]
    vcpus, capped = limits.host_capped_vcpus(memory_mb, host_cpus)
    notes = [i.note for i in [*warmup, *counted] if i.note]
    for note in notes:  # the sandbox itself says so (it may run with --host-cpus, elsewhere)
        match = re.search(r"CPU capped at (\d+(?:\.\d+)?) vCPU", note)
        if match:
            capped, vcpus = True, float(match[1])
            break
    memories = [i.max_memory_mb for i in [*warmup, *counted] if i.max_memory_mb is not None]
    return TierStats(
        value=memory_mb,
        average_price=price if avg_duration is not None else None,
        average_duration=avg_duration,
        total_cost=sum(price_per_invocation(b, memory_mb, arch) for b in billed_all),
        average_billed_duration=avg_billed,
        invocations=len(counted),
        errors=sum(1 for i in counted if i.error is not None),
        error_types=dict(Counter(i.error for i in counted if i.error is not None)),
        warmup_errors=sum(1 for i in warmup if i.error is not None),
        cold_starts=sum(1 for i in counted if i.cold),
        init_duration=sum(inits) / len(inits) if inits else None,
        warmup_cost=sum(price_per_invocation(b, memory_mb, arch) for b in warm_billed),
        max_memory_used=max(memories) if memories else None,
        vcpus=vcpus,
        lambda_vcpus=limits.vcpus_for(memory_mb),
        cpu_capped=capped,
        request_price=cost_per_invocation(0, memory_mb, arch=arch).request,
        durations=[i.duration_ms for i in ok if i.duration_ms is not None],
        note=notes[0] if notes else None,
    )
