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
- prices come from limits/prices.toml through lambda_sandbox.cost (Power Tuning's template
  rounds the x86 price to $2.1e-9 per ms at 128 MB);
- `stateMachine.executionCost` is 0 (no Step Functions runs), `lambdaCost` also counts the
  warm-up invokes (they are billed too);
- extra keys per tier: the CPU share the host gave (`vcpus`) against Lambda's (`lambdaVcpus`)
  and `cpuCapped` when the host has fewer cores than the tier gets on Lambda, so a capped tier
  is never mistaken for a Lambda measurement; `initDuration`, errors, cold starts among the
  counted invokes, Max Memory Used, the raw durations.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lambda_sandbox.client import invoke, set_memory
from lambda_sandbox.limits import load_limits
from lambda_sandbox.tools.tune.power_tuning import (
    DEFAULT_BALANCED_WEIGHT,
    DISCARD_TOP_BOTTOM,
    MAX_DISCARD_TOP_BOTTOM,
    STRATEGIES,
    Invocation,
    TierStats,
    TuneResult,
    choose_power,
    tier_stats,
)
from lambda_sandbox.types import ProgressFraction

__all__ = ["tune"]

UPDATE_WAIT_S = 60.0  # how long to wait for LastUpdateStatus to leave InProgress


def _invoke(client: Any, function: str, payload: bytes) -> Invocation:
    return Invocation.of(invoke(client, function, payload))


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


def tune(
    client: Any,
    function: str,
    memory_sizes: list[int],
    num: int,
    payload: bytes,
    strategy: str = "cost",
    balanced_weight: float = DEFAULT_BALANCED_WEIGHT,
    parallel: bool = False,
    progress: ProgressFraction | None = None,
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
            set_memory(client, function, memory_mb, UPDATE_WAIT_S)
            warm = _batch(
                client, function, payload, warmups, parallel, counter(memory_mb, "warm-up")
            )
            counted = _batch(client, function, payload, num, parallel, counter(memory_mb, "invoke"))
            tier = tier_stats(memory_mb, warm, counted, arch, discard, host_cpus)
            tier.elapsed_s = time.monotonic() - tier_t0
            stats.append(tier)
    finally:
        report(f"{function}: restoring MemorySize {original} MB", steps / total_steps)
        set_memory(client, function, original, UPDATE_WAIT_S)

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
