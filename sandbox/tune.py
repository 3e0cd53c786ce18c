"""`sandbox tune`: AWS Lambda Power Tuning, run locally against the sandbox before deploying.

The flow, for one function and a list of memory sizes (tiers):

1. read the function's configuration (its MemorySize, to restore it, and Architectures[0], for
   the price);
2. for each tier: UpdateFunctionConfiguration(MemorySize=m), which retires the warm
   environments; one warm-up invoke that is not counted (the cold start: its Init Duration is
   kept as the tier's `initDuration`; with `parallel` the warm-up is one concurrent batch of
   `num`, so that the counted batch finds `num` warm environments); then `num` invokes with
   LogType=Tail, in series or all at once (a thread pool of `num` workers, like Power Tuning's
   `parallelInvocation`), each parsed from the REPORT line of its LogResult;
3. per tier, as Power Tuning's executor does: the trimmed mean (top and bottom 20% discarded)
   of Duration + Init Duration + Restore Duration is `averageDuration`; the trimmed mean of
   Billed Duration, rounded up to the ms, priced at the tier's memory is `averagePrice`
   (compute only: Power Tuning leaves out the request fee); `totalCost` is the sum of the
   prices of the `num` billed durations;
4. the strategy picks the tier, as Power Tuning's analyzer does: `cost` the cheapest (ties: the
   fastest), `speed` the fastest (ties: the cheapest), `balanced` the smallest
   `w * cost / max(cost) + (1 - w) * duration / max(duration)` (default w = 0.5; w is clamped
   to [0, 1]; 0 = speed, 1 = cost);
5. the original MemorySize is restored, also when something failed.

Semantics were read from github.com/alexcasalboni/aws-lambda-power-tuning (commit 262ecc2d):
`lambda/utils.js` (computeAverageDuration, computePrice, computeTotalCost,
parseLogAndExtractDurations, parseLogAndExtractBilledDurations, extractDurationFromText,
buildVisualizationURL), `lambda/executor.js` (discardTopBottom default 0.2 clamped to
[0, 0.4], computeStatistics, runInParallel / runInSeries), `lambda/analyzer.js` (findCheapest,
findFastest, findBalanced, defaultBalancedWeight 0.5, the output keys power / cost / duration /
stateMachine {executionCost, lambdaCost, visualization} / stats {value, averagePrice,
averageDuration}) and README.md (the output format). This module is a Python rewrite of those
semantics, not a port of the code.

Where the sandbox differs from Power Tuning, on purpose:
- a function error does not abort the run (Power Tuning throws unless `allowedExceptions`):
  errors are counted per tier with their types and left out of the averages; a tier whose
  invokes all failed is reported as failed (`failed: true`, averages null) and never chosen;
- prices come from limits/prices.toml through sandbox.cost (Power Tuning's template rounds the
  x86 price to $2.1e-9 per ms at 128 MB);
- `stateMachine.executionCost` is 0 (no Step Functions runs), `lambdaCost` also counts the
  warm-up invokes (they are billed too);
- extra keys per tier: the CPU share the host gave (`vcpus`) against Lambda's (`lambdaVcpus`)
  and `cpuCapped` when the host has fewer cores than the tier gets on Lambda, so a capped tier
  is never mistaken for a Lambda measurement; `initDuration`, errors, cold starts among the
  counted invokes, Max Memory Used, the raw durations.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import re
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox.cost import cost_per_invocation
from sandbox.limits import load_limits

if TYPE_CHECKING:
    from rich.table import Table

__all__ = [
    "DEFAULT_BALANCED_WEIGHT",
    "DISCARD_TOP_BOTTOM",
    "STRATEGIES",
    "Invocation",
    "TierStats",
    "TuneResult",
    "choose_power",
    "parse_report",
    "price_per_invocation",
    "render_table",
    "trimmed_mean",
    "tune",
    "visualization_url",
    "write_outputs",
]

Progress = Callable[[str, float], None]

DISCARD_TOP_BOTTOM = 0.2  # Power Tuning's default discardTopBottom
MAX_DISCARD_TOP_BOTTOM = 0.4  # Power Tuning clamps discardTopBottom to [0, 0.4]
DEFAULT_BALANCED_WEIGHT = 0.5  # Power Tuning's defaultBalancedWeight
STRATEGIES = ("cost", "speed", "balanced")
VISUALIZATION_BASE_URL = "https://lambda-power-tuning.show/"  # Power Tuning's default
UPDATE_WAIT_S = 60.0  # how long to wait for LastUpdateStatus to leave InProgress

# The REPORT fields Power Tuning reads from a text log (a tab precedes each field, so
# "\tDuration" does not match "Billed Duration" or "Init Duration").
_FIELDS = {
    "duration": re.compile(r"\tDuration: (\d+(?:\.\d+)?) ms"),
    "billed": re.compile(r"\tBilled Duration: (\d+) ms"),
    "init": re.compile(r"\tInit Duration: (\d+(?:\.\d+)?) ms"),
    "restore": re.compile(r"\tRestore Duration: (\d+(?:\.\d+)?) ms"),
    "billed_restore": re.compile(r"\tBilled Restore Duration: (\d+) ms"),
    "max_memory": re.compile(r"\tMax Memory Used: (\d+) MB"),
}
_SANDBOX_NOTE = re.compile(r"^SANDBOX RequestId: \S+\t(.*)$", re.M)


# the pure part: parsing, trimming, pricing, choosing -------------------------------------------
@dataclass(frozen=True)
class Invocation:
    """One invoke as its REPORT line tells it (or the error that replaced it)."""

    duration_ms: float | None  # Duration + Init Duration + Restore Duration, as Power Tuning
    billed_ms: float | None  # Billed Duration + Billed Restore Duration
    init_ms: float | None = None
    max_memory_mb: int | None = None
    error: str | None = None  # the errorType of a function error, or the API error's code
    note: str | None = None  # the sandbox's SANDBOX line: what differs from Lambda

    @property
    def cold(self) -> bool:
        return self.init_ms is not None


def parse_report(log: str) -> dict[str, float | int | str | None]:
    """The REPORT fields of a LogResult (decoded): duration, billed, init, restore, ...; a
    field that is absent is None. `note` is the text of a SANDBOX line, if any."""
    out: dict[str, float | int | str | None] = {}
    for key, regex in _FIELDS.items():
        match = regex.search(log)
        if match is None:
            out[key] = None
        elif key == "max_memory":
            out[key] = int(match[1])
        else:
            out[key] = float(match[1])
    note = _SANDBOX_NOTE.search(log)
    out["note"] = note[1] if note else None
    return out


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


# results ---------------------------------------------------------------------------------------
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
                "architecture": self.arch,
                "originalMemorySize": self.original_memory,
                "hostCpus": self.host_cpus,
                "failedTiers": self.failed_tiers,
                "cappedTiers": self.capped_tiers,
                "startedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started_at)),
                "elapsedSeconds": round(self.elapsed_s, 3),
            },
        }


# running it ------------------------------------------------------------------------------------
def _invoke(client: Any, function: str, payload: bytes) -> Invocation:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        resp = client.invoke(FunctionName=function, Payload=payload, LogType="Tail")
    except ClientError as exc:  # throttles (429) and other API errors: an error, not a crash
        return Invocation(None, None, error=exc.response.get("Error", {}).get("Code", "Error"))
    except BotoCoreError as exc:  # timeouts, refused connections
        return Invocation(None, None, error=type(exc).__name__)
    body = resp["Payload"].read()
    log = base64.b64decode(resp.get("LogResult") or b"").decode("utf-8", "replace")
    fields = parse_report(log)
    error = None
    if resp.get("FunctionError"):
        try:
            error = str(json.loads(body).get("errorType") or resp["FunctionError"])
        except (ValueError, AttributeError):
            error = str(resp["FunctionError"])
    duration = fields["duration"]
    billed = fields["billed"]
    init, restore = fields["init"], fields["restore"]
    total = None
    if isinstance(duration, float):
        total = duration + float(init or 0.0) + float(restore or 0.0)
    billed_total = None
    if isinstance(billed, float):
        billed_total = billed + float(fields["billed_restore"] or 0.0)
    max_mem = fields["max_memory"]
    note = fields["note"]
    return Invocation(
        duration_ms=total,
        billed_ms=billed_total,
        init_ms=float(init) if init is not None else None,
        max_memory_mb=int(max_mem) if max_mem is not None else None,
        error=error,
        note=str(note) if note else None,
    )


def _set_memory(client: Any, function: str, memory_mb: int) -> None:
    resp = client.update_function_configuration(FunctionName=function, MemorySize=memory_mb)
    deadline = time.monotonic() + UPDATE_WAIT_S  # the sandbox is done at once; AWS may not be
    while resp.get("LastUpdateStatus") == "InProgress" and time.monotonic() < deadline:
        time.sleep(0.5)
        resp = client.get_function_configuration(FunctionName=function)


def _batch(
    client: Any,
    function: str,
    payload: bytes,
    count: int,
    parallel: bool,
    done: Callable[[Invocation], None],
) -> list[Invocation]:
    def one(_: int) -> Invocation:
        inv = _invoke(client, function, payload)
        done(inv)
        return inv

    if not parallel or count == 1:
        return [one(i) for i in range(count)]
    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="tune") as pool:
        return list(pool.map(one, range(count)))


def _tier_stats(
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


def tune(
    client: Any,
    function: str,
    memory_sizes: list[int],
    num: int,
    payload: bytes,
    strategy: str = "cost",
    balanced_weight: float = DEFAULT_BALANCED_WEIGHT,
    parallel: bool = False,
    progress: Progress | None = None,
    arch: str | None = None,
    *,
    discard_top_bottom: float = DISCARD_TOP_BOTTOM,
) -> TuneResult:
    """Tune `function` over `memory_sizes` with `num` counted invokes each (see the module's
    docstring). `client` is a boto3 Lambda client; `progress(message, fraction)` is called as
    the run goes. The function's MemorySize is restored at the end, also on error."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}: use one of {', '.join(STRATEGIES)}")
    if num < 1:
        raise ValueError(f"num must be at least 1 (Power Tuning asks for 5 or more), not {num}")
    limits = load_limits()
    low, high = limits.q("memory", "min_mb"), limits.q("memory", "max_mb")
    sizes = sorted(set(memory_sizes))
    if not sizes:
        raise ValueError("no memory sizes to tune")
    bad = [m for m in sizes if not low <= m <= high]
    if bad:
        raise ValueError(f"memory sizes must be {low}-{high} MB, not {bad}")
    discard = min(max(discard_top_bottom, 0.0), MAX_DISCARD_TOP_BOTTOM)
    host_cpus = os.cpu_count() or 1

    config = client.get_function_configuration(FunctionName=function)
    original = int(config["MemorySize"])
    arch = arch or (config.get("Architectures") or ["x86_64"])[0]
    warmups = num if parallel else 1
    total_steps = len(sizes) * (warmups + num)
    steps = 0
    report = progress or (lambda message, fraction: None)

    started, t0 = time.time(), time.monotonic()
    stats: list[TierStats] = []
    lock = threading.Lock()

    def counter(memory_mb: int, phase: str) -> Callable[[Invocation], None]:
        def done(inv: Invocation) -> None:
            nonlocal steps
            with lock:
                steps += 1
                fraction = steps / total_steps
            what = f"error {inv.error}" if inv.error else f"{inv.duration_ms or 0:.1f} ms"
            report(f"{function}: {memory_mb} MB, {phase} ({what})", fraction)

        return done

    try:
        for memory_mb in sizes:
            tier_t0 = time.monotonic()
            report(f"{function}: {memory_mb} MB, setting MemorySize", steps / total_steps)
            _set_memory(client, function, memory_mb)
            warm = _batch(
                client, function, payload, warmups, parallel, counter(memory_mb, "warm-up")
            )
            counted = _batch(client, function, payload, num, parallel, counter(memory_mb, "invoke"))
            tier = _tier_stats(memory_mb, warm, counted, arch, discard, host_cpus)
            tier.elapsed_s = time.monotonic() - tier_t0
            stats.append(tier)
    finally:
        report(f"{function}: restoring MemorySize {original} MB", steps / total_steps)
        _set_memory(client, function, original)

    good = [s for s in stats if not s.failed]
    power = choose_power(
        [(s.value, s.average_price or 0.0, s.average_duration or 0.0) for s in good],
        strategy,
        balanced_weight,
    )
    best = next((s for s in good if s.value == power), None)
    report(f"{function}: done", 1.0)
    return TuneResult(
        function=function,
        strategy=strategy,
        balanced_weight=min(max(balanced_weight, 0.0), 1.0),
        num=num,
        parallel=parallel,
        arch=arch,
        original_memory=original,
        discard_top_bottom=discard,
        stats=stats,
        power=power,
        cost=best.average_price if best else None,
        duration=best.average_duration if best else None,
        host_cpus=host_cpus,
        started_at=started,
        elapsed_s=time.monotonic() - t0,
    )


# output ----------------------------------------------------------------------------------------
def _strategy_label(result: TuneResult) -> str:
    if result.strategy == "balanced":
        return f"balanced, weight {result.balanced_weight:g}"
    return result.strategy


def _vcpu_text(s: TierStats) -> str:
    if s.cpu_capped:
        return f"{s.vcpus:.2f} of {s.lambda_vcpus:.2f} (capped)"
    return f"{s.vcpus:.2f}"


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _rows(result: TuneResult) -> list[list[str]]:
    rows = []
    for s in result.stats:
        per_million = s.to_json()["averagePricePerMillion"]
        errors = str(s.errors)
        if s.error_types:
            errors += " (" + ", ".join(f"{k} x{v}" for k, v in s.error_types.items()) + ")"
        if s.warmup_errors:
            errors += f", {s.warmup_errors} in warm-up"
        rows.append(
            [
                str(s.value),
                _vcpu_text(s),
                "failed" if s.failed else _fmt(s.average_duration, ".1f"),
                _fmt(s.average_billed_duration, ".1f"),
                _fmt(s.average_price, ".3e"),
                _fmt(per_million, ".2f"),
                _fmt(s.init_duration, ".0f"),
                "-" if s.max_memory_used is None else str(s.max_memory_used),
                errors,
                "best" if s.value == result.power else "",
            ]
        )
    return rows


_HEADERS = [
    "Memory (MB)",
    "vCPU",
    "Avg duration (ms)",
    "Avg billed (ms)",
    "$ / invoke (compute)",
    "$ / 1M (incl. requests)",
    "Init (ms)",
    "Max mem (MB)",
    "Errors",
    "",
]


def render_table(result: TuneResult) -> Table:
    """The per-tier statistics as a rich table, the chosen tier highlighted."""
    from rich.table import Table

    title = f"Power tuning of {result.function} (strategy: {_strategy_label(result)})"
    table = Table(title=title, title_justify="left")
    for i, header in enumerate(_HEADERS):
        table.add_column(header, justify="right" if 0 < i < len(_HEADERS) - 2 else "left")
    table.columns[0].justify = "right"
    for s, row in zip(result.stats, _rows(result), strict=True):
        if s.value == result.power:
            style = "bold green"
        elif s.failed:
            style = "red"
        elif s.cpu_capped:
            style = "yellow"
        else:
            style = None
        table.add_row(*row, style=style)
    table.caption = _summary(result)
    return table


def _summary(result: TuneResult) -> str:
    parts = []
    if result.ok:
        parts.append(
            f"best: {result.power} MB, {result.duration:.1f} ms, ${result.cost:.3e} per invoke"
        )
    else:
        parts.append("no tier succeeded: nothing to choose")
    parts.append(
        f"{result.num} invokes per tier, {'in parallel' if result.parallel else 'in series'}, "
        f"{int(result.discard_top_bottom * 100)}% trimmed each end; {result.arch}; "
        f"on Lambda this run costs ${result.lambda_cost:.2e}"
    )
    if result.capped_tiers:
        parts.append(
            f"CPU capped on this {result.host_cpus}-core host at "
            f"{', '.join(map(str, result.capped_tiers))} MB: those tiers run slower than on Lambda"
        )
    if result.failed_tiers:
        parts.append(f"failed: {', '.join(map(str, result.failed_tiers))} MB")
    return "\n".join(parts)


def _chart_png(result: TuneResult) -> bytes:
    import matplotlib

    matplotlib.use("Agg")  # no display; explicit, so no backend warning
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    dur_color, cost_color, best_color = "#1f6fb4", "#d9661f", "#2a9d3a"
    cap_color, fail_color = "#e9b949", "#c0392b"
    good = [s for s in result.stats if not s.failed]
    xs = [s.value for s in good]
    durations = [s.average_duration or 0.0 for s in good]
    costs = [(s.average_price or 0.0) * 1e6 for s in good]
    all_x = [s.value for s in result.stats]

    fig = Figure(figsize=(10, 6), dpi=120, layout="constrained")
    ax = fig.add_subplot()
    ax2 = ax.twinx()
    ax.plot(xs, durations, "o-", color=dur_color, lw=2, ms=7, zorder=4)
    ax2.plot(xs, costs, "s--", color=cost_color, lw=2, ms=7, zorder=4)
    label_box = {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85}
    for x, d, c in zip(xs, durations, costs, strict=True):
        lift = 15 if x == result.power else 9  # clear of the chosen tier's star
        ax.annotate(
            f"{d:,.1f} ms",
            (x, d),
            xytext=(0, lift),
            textcoords="offset points",
            ha="center",
            fontsize=8,
            color=dur_color,
            bbox=label_box,
            zorder=6,
        )
        ax2.annotate(
            f"${c:,.2f}",
            (x, c),
            xytext=(0, -15),
            textcoords="offset points",
            ha="center",
            fontsize=8,
            color=cost_color,
            bbox=label_box,
            zorder=6,
        )

    ax.set_xscale("log", base=2)  # memory tiers roughly double: even spacing
    ax.set_xticks(all_x, [str(x) for x in all_x])
    ax.minorticks_off()
    ax.set_xlim(min(all_x) / 1.3, max(all_x) * 1.3)
    ax.set_xlabel("memory (MB)")
    ax.set_ylabel("average duration (ms, trimmed mean)", color=dur_color)
    ax2.set_ylabel("$ per 1M invocations (compute)", color=cost_color)
    ax.tick_params(axis="y", colors=dur_color)
    ax2.tick_params(axis="y", colors=cost_color)
    headroom = 1.35 if any(s.cpu_capped for s in result.stats) else 1.2  # room for the notes
    ax.set_ylim(0, (max(durations, default=0.0) or 1.0) * headroom)
    ax2.set_ylim(0, (max(costs, default=0.0) or 1.0) * headroom)
    ax.grid(True, alpha=0.3)

    handles: list[Any] = [
        Line2D([], [], color=dur_color, marker="o", lw=2, label="avg duration (ms)"),
        Line2D([], [], color=cost_color, marker="s", ls="--", lw=2, label="$ per 1M (compute)"),
    ]
    best = next((s for s in good if s.value == result.power), None)
    if best is not None and best.average_duration is not None:
        ax.axvline(best.value, color=best_color, lw=1.5, ls=":", zorder=1)
        ax.plot(
            [best.value],
            [best.average_duration],
            marker="*",
            ms=22,
            color=best_color,
            markeredgecolor="black",
            ls="none",
            zorder=5,
        )
        handles.append(
            Line2D(
                [],
                [],
                color=best_color,
                marker="*",
                ms=14,
                ls="none",
                markeredgecolor="black",
                label=f"chosen: {best.value} MB ({_strategy_label(result)})",
            )
        )
    capped = [s for s in result.stats if s.cpu_capped]
    for s in capped:
        ax.axvspan(s.value / 1.12, s.value * 1.12, color=cap_color, alpha=0.25, zorder=0)
        ax.annotate(
            f"capped\n{s.vcpus:.2f} of {s.lambda_vcpus:.2f}\nvCPU",
            xy=(s.value, 1),
            xycoords=ax.get_xaxis_transform(),  # x in data, y in axes: at the top
            xytext=(0, -4),
            textcoords="offset points",
            ha="center",
            va="top",
            fontsize=8,
            color="#7a5a10",
            zorder=6,
        )
    if capped:
        handles.append(Patch(color=cap_color, alpha=0.4, label="CPU capped on this host"))
    failed = [s for s in result.stats if s.failed]
    for s in failed:
        ax.axvline(s.value, color=fail_color, lw=1.2, ls="--", zorder=1)
        ax.annotate(
            f"failed ({s.errors}/{s.invocations} errors)",
            xy=(s.value, 0),
            xytext=(4, 8),
            textcoords="offset points",
            rotation=90,
            color=fail_color,
            fontsize=9,
            va="bottom",
        )
    if failed:
        handles.append(Line2D([], [], color=fail_color, ls="--", label="tier failed"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=9)
    fig.suptitle(
        f"sandbox tune {result.function}: duration and cost against memory",
        x=0.01,
        ha="left",
        fontsize=13,
    )
    ax.set_title(
        f"{result.num} invokes per tier ({'parallel' if result.parallel else 'in series'}), "
        f"{int(result.discard_top_bottom * 100)}% trimmed at each end, {result.arch}, "
        f"host: {result.host_cpus} CPUs",
        fontsize=9,
        loc="left",
        color="#555555",
    )
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _html(result: TuneResult, png: bytes) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in _HEADERS)
    body = []
    for s, row in zip(result.stats, _rows(result), strict=True):
        cls = "best" if s.value == result.power else "failed" if s.failed else ""
        cls = cls or ("capped" if s.cpu_capped else "")
        cells = "".join(f"<td>{esc(c)}</td>" for c in row)
        body.append(f'<tr class="{cls}">{cells}</tr>')
    summary = "".join(f"<p>{esc(line)}</p>" for line in _summary(result).splitlines())
    image = base64.b64encode(png).decode()
    title = esc(f"sandbox tune {result.function}")
    url = esc(result.visualization())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 4px 10px; text-align: right; }}
th {{ background: #f3f3f3; }}
tr.best {{ background: #dff3e0; font-weight: bold; }}
tr.capped {{ background: #fdf3d8; }}
tr.failed {{ background: #f8d7d3; }}
img {{ max-width: 100%; }}
</style></head>
<body>
<h1>{title}</h1>
<p>strategy: {esc(_strategy_label(result))}</p>
<img alt="duration and cost against memory" src="data:image/png;base64,{image}">
<table><thead><tr>{head}</tr></thead><tbody>
{chr(10).join(body)}
</tbody></table>
{summary}
<p><small>Power Tuning's own visualization of the same numbers (the data stays in the URL
hash): <a href="{url}">lambda-power-tuning.show</a></small></p>
</body></html>
"""


def write_outputs(result: TuneResult, out_dir: Path) -> dict[str, Path]:
    """Write tune-<fn>.json (Power Tuning's keys and the sandbox's extras), tune-<fn>.png (the
    chart) and tune-<fn>.html (the chart and the table in one file). Returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"tune-{result.function}"
    paths = {
        "json": out_dir / f"{stem}.json",
        "png": out_dir / f"{stem}.png",
        "html": out_dir / f"{stem}.html",
    }
    png = _chart_png(result)
    paths["png"].write_bytes(png)
    paths["html"].write_text(_html(result, png), encoding="utf-8")
    data = result.to_json()
    data["sandbox"]["charts"] = {"png": str(paths["png"]), "html": str(paths["html"])}
    paths["json"].write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return paths
