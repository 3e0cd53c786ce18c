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
from lambda_sandbox.tools.tune.cold_starts import ColdStartOptions, measure_snapstart
from lambda_sandbox.tools.tune.power_tuning import (
    DEFAULT_BALANCED_WEIGHT,
    DISCARD_TOP_BOTTOM,
    MAX_DISCARD_TOP_BOTTOM,
    STRATEGIES,
    Invocation,
    TierStats,
    TuneResult,
    choose_power,
    price_with_cold_starts,
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
    payloads: list[bytes],
    parallel: bool,
    done: Callable[[Invocation], None],
    *,
    sleep_ms: int = 0,
    before_each: Callable[[], None] | None = None,
) -> list[Invocation]:
    def one(i: int) -> Invocation:
        if before_each is not None and not parallel:
            before_each()
        inv = _invoke(client, function, payloads[i])
        done(inv)
        if sleep_ms and not parallel:  # Power Tuning's sleepBetweenRunsMs: series only
            time.sleep(sleep_ms / 1000)
        return inv

    if not parallel or len(payloads) == 1:
        return [one(i) for i in range(len(payloads))]
    if before_each is not None:  # every concurrent invoke gets a new environment anyway
        before_each()
    with ThreadPoolExecutor(max_workers=len(payloads), thread_name_prefix="tune") as pool:
        return list(pool.map(one, range(len(payloads))))


def _fresh_environments(client: Any, function: str) -> None:
    """Make the next invoke a cold start (onlyColdStarts): a configuration change retires the
    function's warm environments, as a new version does on Lambda."""
    client.update_function_configuration(
        FunctionName=function, Description=f"sandbox tune: cold start {time.monotonic_ns()}"
    )


def tune(
    client: Any,
    function: str,
    memory_sizes: list[int],
    num: int,
    payload: bytes | list[bytes],
    strategy: str = "cost",
    balanced_weight: float = DEFAULT_BALANCED_WEIGHT,
    parallel: bool = False,
    progress: ProgressFraction | None = None,
    arch: str | None = None,
    *,
    discard_top_bottom: float = DISCARD_TOP_BOTTOM,
    only_cold_starts: bool = False,
    sleep_between_runs_ms: int = 0,
    cold_start_rate: float = 0.01,
    snapstart: bool = False,
    monthly_invocations: int = 1_000_000,
) -> TuneResult:
    """Tune `function` over `memory_sizes` with `num` counted invokes each (see the module's
    docstring). `client` is a boto3 Lambda client; `payload` is one payload or `num` of them
    (weighted, from `generate_payloads`); `progress(message, fraction)` is called as the run
    goes. With `only_cold_starts` every counted invoke is a cold start (and nothing is
    trimmed), as Power Tuning's onlyColdStarts. A tier whose warm-up and first invoke fail
    for the same reason (INIT over 10 s, out of memory, the timeout) is stopped there and says
    why. The function's MemorySize is restored at the end, also on error."""
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
    discard = 0.0 if only_cold_starts else min(max(discard_top_bottom, 0.0), MAX_DISCARD_TOP_BOTTOM)
    payloads = payload if isinstance(payload, list) else [payload] * num
    if len(payloads) != num:
        raise ValueError(f"{len(payloads)} payloads for {num} invocations")
    host_cpus = os.cpu_count() or 1

    config = client.get_function_configuration(FunctionName=function)
    original = int(config["MemorySize"])
    arch = arch or (config.get("Architectures") or ["x86_64"])[0]
    warmups = 0 if only_cold_starts else (num if parallel else 1)
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
                client, function, payloads[:warmups], parallel, counter(memory_mb, "warm-up")
            )
            fresh = (lambda: _fresh_environments(client, function)) if only_cold_starts else None
            pacing: dict[str, Any] = {"sleep_ms": sleep_between_runs_ms, "before_each": fresh}
            done = counter(memory_mb, "invoke")
            stopped = None
            first = warm[0] if warm and all(w.error == warm[0].error for w in warm) else None
            if first is not None and first.error and first.reason:
                # the warm-up failed for a cause that repeats at this size: one counted
                # invoke to confirm it, and not `num` more
                counted = _batch(client, function, payloads[:1], False, done, before_each=fresh)
                if counted[0].error == first.error:
                    stopped = f"{first.reason} (the warm-up and the first invoke: {first.error})"
                    steps += num - 1
                else:
                    rest = payloads[1:]
                    counted += _batch(client, function, rest, parallel, done, **pacing)
            else:
                counted = _batch(client, function, payloads, parallel, done, **pacing)
            tier = tier_stats(memory_mb, warm, counted, arch, discard, host_cpus)
            if only_cold_starts:  # INIT comes from the counted invokes, all of them cold
                inits = [i.init_ms for i in counted if i.init_ms is not None]
                tier.init_duration = sum(inits) / len(inits) if inits else None
            tier.stopped = stopped
            tier.price_with_cold_starts = price_with_cold_starts(tier, cold_start_rate, arch)
            tier.elapsed_s = time.monotonic() - tier_t0
            stats.append(tier)
        good = [s for s in stats if not s.failed]
        power = choose_power(
            [(s.value, s.average_price or 0.0, s.average_duration or 0.0) for s in good],
            strategy,
            balanced_weight,
        )
        best = next((s for s in good if s.value == power), None)
        cold = None
        if best is not None:
            cold = ColdStartOptions(
                best.value, monthly_invocations, cold_start_rate, arch,
                best.average_billed_duration or best.average_duration or 0.0, best.init_duration,
            )  # fmt: skip
            if snapstart:
                report(f"{function}: a SnapStart restore at {best.value} MB", steps / total_steps)
                set_memory(client, function, best.value, UPDATE_WAIT_S)
                cold.restore_ms, cold.billed_restore_ms, cold.snapstart_note = measure_snapstart(
                    client, function, payloads[0]
                )
            else:
                cold.snapstart_note = "not measured (sandbox tune --snapstart measures a restore)"
    finally:
        report(f"{function}: restoring MemorySize {original} MB", steps / total_steps)
        set_memory(client, function, original, UPDATE_WAIT_S)
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
        cold_start_rate=cold_start_rate,
        only_cold_starts=only_cold_starts,
        cold_starts=cold,
    )
