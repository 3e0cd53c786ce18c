"""Every function of functions/ at every memory tier, through a running sandbox (`sandbox up`),
then the architecture comparison for the ML functions at their cheapest tier.

Per function and tier (UpdateFunctionConfiguration switches the tier, which retires the warm
environments): the cold start (Init Duration; an INIT past the 10 s limit is retried inside the
first invoke, "suppressed", and has no Init Duration), then warm invokes timed by the benchmark,
each read from its REPORT line (LogType=Tail): Duration p50/p95, Billed Duration, Max Memory
Used, and $ per 1M invocations on x86_64 and arm64
(lambda_sandbox.tools.ec2_comparison.lambda_cost, from the mean billed duration: cost is linear
in it) with INIT billed for an assumed share of cold starts
(COLD_START_RATE, 1%). A tier the function cannot run at (out of memory: Runtime.ExitError; past
its timeout: Sandbox.Timedout) is recorded as failed with its error types, not raised. Tiers the
host cannot give in full are marked capped, or left out and listed (benchmarks/measure.py).

Everything lands in extra_info (kind "ml_tier" / "architecture"), so in reports/bench.json;
`python -m lambda_sandbox.reports.bench reports/bench.json --out reports` turns it into tables
and charts.
"""

from __future__ import annotations

import os
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from benchmarks.conftest import SandboxProcess
from benchmarks.measure import Call, bench_tiers, cpu_info, invoke, percentile, set_memory
from lambda_sandbox.pytest_plugin import make_lambda_client
from lambda_sandbox.tools.ec2_comparison import (
    COLD_START_RATE,
    Measured,
    compare,
    host_arch,
    lambda_cost,
)
from lambda_sandbox.tools.tune import choose_power

ROOT = Path(__file__).parents[1]
FUNCTIONS = ("hello", "sentiment", "image-classifier")
ML_FUNCTIONS = ("sentiment", "image-classifier")
TIERS, NOT_RUN = bench_tiers()
WARM_INVOKES = int(os.environ.get("SANDBOX_BENCH_INVOKES", "30"))
THROUGHPUT_S = 4.0  # how long the throughput run at the chosen tier lasts
ONE_VCPU_MB = 1769  # the tier that gets exactly one vCPU: the per-vCPU throughput
STRATEGY = "cost"  # Power Tuning's default: the cheapest tier (ties: the fastest)

# the sweep's rows, for the architecture comparison that runs after it (same module, in order)
_SWEEP: dict[str, dict[int, dict[str, Any]]] = {}


def _event(function: str) -> bytes:
    path = ROOT / "functions" / function / "events" / "direct.json"
    return path.read_bytes() if path.exists() else b"{}"


@pytest.fixture(scope="module")
def client(ml_sandbox: SandboxProcess) -> Iterator[Any]:
    yield make_lambda_client(ml_sandbox.url)


def summarize(
    function: str, memory_mb: int, cold: list[Call], warm: list[Call], cold_rate: float
) -> dict[str, Any]:
    """One tier's row (the JSON the report reads)."""
    first = cold[0]
    warm_ok = [c for c in warm if c.ok and c.init_ms is None]  # a cold start among them: not warm
    durations = [c.duration_ms for c in warm_ok if c.duration_ms is not None]
    billed = [c.billed_ms for c in warm_ok if c.billed_ms is not None]
    calls = [*cold, *warm]
    errors = Counter(c.error for c in calls if c.error)
    succeeded = any(c.ok for c in calls)
    status = "ok" if not errors else ("partial" if succeeded else "failed")
    memories = [c.max_memory_mb for c in calls if c.max_memory_mb is not None]
    notes = sorted({c.note for c in calls if c.note})
    row: dict[str, Any] = {
        "kind": "ml_tier",
        "function": function,
        "memory_mb": memory_mb,
        **cpu_info(memory_mb),
        "status": status,
        "errors": dict(errors),
        "invocations": len(calls),
        "cold": {
            "init_ms": first.init_ms,
            "duration_ms": first.duration_ms,
            "billed_ms": first.billed_ms,
            "error": first.error,
            # INIT past the 10 s limit: Lambda retries it inside the first invoke, whose
            # Duration then holds it, and the REPORT has no Init Duration
            "init_suppressed": first.ok and first.init_ms is None,
            "attempts": len(cold),
        },
        "warm": {
            "n": len(durations),
            "cold_starts_among": sum(1 for c in warm if c.init_ms is not None),
            "p50_ms": statistics.median(durations) if durations else None,
            "p95_ms": percentile(durations, 95),
            "mean_ms": statistics.fmean(durations) if durations else None,
            "min_ms": min(durations, default=None),
            "max_ms": max(durations, default=None),
            "billed_mean_ms": statistics.fmean(billed) if billed else None,
            "billed_p50_ms": statistics.median(billed) if billed else None,
            "durations_ms": [round(d, 3) for d in durations],
        },
        "max_memory_mb": max(memories, default=None),
        "notes": notes,
        "cold_start_rate": cold_rate,
        "tiers_not_run": NOT_RUN,
    }
    if billed:
        if first.init_ms is not None:
            extra = first.init_ms
        elif first.ok and first.billed_ms is not None:  # suppressed init: the first invoke's extra
            extra = max(first.billed_ms - row["warm"]["billed_mean_ms"], 0.0)
        else:
            extra = 0.0
        row["cold_extra_ms"] = extra
        for arch in ("x86_64", "arm64"):
            cost = lambda_cost(
                row["warm"]["billed_mean_ms"],
                memory_mb,
                arch=arch,
                cold_extra_ms=extra,
                cold_rate=cold_rate,
            )
            row[f"usd_per_million_{arch}"] = cost.per_million
            row[f"usd_per_million_warm_{arch}"] = cost.warm_per_million
            row[f"init_share_{arch}"] = cost.init_share
    return row


def _line(row: dict[str, Any]) -> str:
    head = f"{row['function']:>16} {row['memory_mb']:>5} MB"
    if row["capped"]:
        head += f" (capped {row['host_vcpus']:.2f}/{row['lambda_vcpus']:.2f} vCPU)"
    w, c = row["warm"], row["cold"]
    if not w["n"] or "usd_per_million_x86_64" not in row:
        return f"{head}: {row['status']} {row['errors']}"
    init = "suppressed (> 10 s)" if c["init_suppressed"] else f"{c['init_ms'] or 0:.0f} ms"
    text = (
        f"{head}: init {init}, p50 {w['p50_ms']:.1f} ms, p95 {w['p95_ms']:.1f} ms, "
        f"billed {w['billed_mean_ms']:.1f} ms, max mem {row['max_memory_mb']} MB, "
        f"$/1M x86 {row['usd_per_million_x86_64']:.3f} arm64 {row['usd_per_million_arm64']:.3f}"
        f" (INIT {row['init_share_x86_64']:.0%})"
    )
    if row["errors"]:
        text += f", errors {row['errors']}"
    return text


@pytest.mark.parametrize("memory", TIERS)
@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_at_tier(
    benchmark: Any, client: Any, capsys: pytest.CaptureFixture[str], function: str, memory: int
) -> None:
    event = _event(function)
    benchmark.group = f"tiers: {function}"
    set_memory(client, function, memory)
    cold = [invoke(client, function, event)]
    if not cold[0].ok:  # one more cold start: an OOM may depend on timing
        cold.append(invoke(client, function, event))
    usable = any(c.ok for c in cold)
    warm: list[Call] = []
    benchmark.pedantic(
        lambda: warm.append(invoke(client, function, event)),
        rounds=WARM_INVOKES if usable else 1,
        iterations=1,
    )
    row = summarize(function, memory, cold, warm, COLD_START_RATE)
    benchmark.extra_info.update(row)
    _SWEEP.setdefault(function, {})[memory] = row
    with capsys.disabled():
        print("\n" + _line(row), end="")
    # a function that cannot run at a small tier is a result, not a failure of the benchmark;
    # failing at 1,024 MB (what the examples are configured with) or more is
    assert row["status"] != "failed" or memory < 1024, f"{function} failed: {row['errors']}"


def _chosen_tier(function: str) -> tuple[int, str]:
    rows = [
        r
        for r in _SWEEP.get(function, {}).values()
        if r["status"] == "ok" and not r["capped"] and r["warm"]["n"]
    ]
    points = [(r["memory_mb"], r["usd_per_million_x86_64"], r["warm"]["p50_ms"]) for r in rows]
    power = choose_power(points, STRATEGY)
    if power is not None:
        return power, f"the cheapest tier of the sweep (strategy {STRATEGY!r})"
    return 1024, "no sweep in this run: 1,024 MB"


def _run(client: Any, function: str, memory: int, invokes: int) -> tuple[Call, list[Call], float]:
    set_memory(client, function, memory)
    event = _event(function)
    cold = invoke(client, function, event)
    t0 = time.perf_counter()
    calls = [invoke(client, function, event) for _ in range(invokes)]
    return cold, calls, time.perf_counter() - t0


@pytest.mark.parametrize("function", ML_FUNCTIONS)
def test_architecture_comparison(
    benchmark: Any, client: Any, capsys: pytest.CaptureFixture[str], function: str
) -> None:
    """$ per 1M inferences: Lambda (measured) against EC2 instances (estimated)."""
    benchmark.group = "architecture"
    memory, why = _chosen_tier(function)
    swept = _SWEEP.get(function, {}).get(memory)
    p50 = swept["warm"]["p50_ms"] if swept else 50.0
    invokes = int(min(max(THROUGHPUT_S * 1000 / (p50 + 3.0), 20), 400))
    event = _event(function)
    set_memory(client, function, memory)
    cold = invoke(client, function, event)
    calls: list[Call] = []
    t0 = time.perf_counter()
    benchmark.pedantic(
        lambda: calls.append(invoke(client, function, event)), rounds=invokes, iterations=1
    )
    elapsed = time.perf_counter() - t0
    ok = [c for c in calls if c.ok and c.init_ms is None]
    assert ok, f"{function} at {memory} MB: no successful invoke ({calls[0].error})"
    mean_ms = statistics.fmean(c.duration_ms for c in ok if c.duration_ms is not None)
    billed_ms = statistics.fmean(c.billed_ms for c in ok if c.billed_ms is not None)

    # per vCPU: the sweep's warm invokes at 1,769 MB (one vCPU, one onnxruntime thread), or a run
    one = _SWEEP.get(function, {}).get(ONE_VCPU_MB)
    if one and one["status"] == "ok" and one["warm"]["n"] >= 10:
        one_vcpu_ms, one_source = one["warm"]["mean_ms"], "sweep"
    else:
        _, one_calls, _ = _run(client, function, ONE_VCPU_MB, 30)
        one_vcpu_ms = statistics.fmean(c.duration_ms for c in one_calls if c.ok and c.duration_ms)
        one_source = "own run"
    measured = Measured(
        function=function,
        memory_mb=memory,
        warm_billed_ms=billed_ms,
        environment_ips=1000 / mean_ms,
        per_vcpu_ips=1000 / one_vcpu_ms,
        cold_extra_ms=swept.get("cold_extra_ms", 0.0) if swept else cold.init_ms or 0.0,
        client_ips=len(calls) / elapsed,
        arch=host_arch(),
    )
    rows = compare(measured, cold_rate=COLD_START_RATE)
    benchmark.extra_info.update(
        kind="architecture",
        function=function,
        chosen_memory_mb=memory,
        chosen_why=why,
        strategy=STRATEGY,
        cold_start_rate=COLD_START_RATE,
        measured=asdict(measured),
        mean_duration_ms=mean_ms,
        one_vcpu_mean_ms=one_vcpu_ms,
        one_vcpu_source=one_source,
        invokes=len(calls),
        errors=dict(Counter(c.error for c in calls if c.error)),
        **cpu_info(memory),
        rows=[r.to_json() for r in rows],
    )
    with capsys.disabled():
        print(f"\n{function}: {why} = {memory} MB; {measured.environment_ips:.1f} inferences/s per")
        print(f"  environment, {measured.per_vcpu_ips:.1f}/s per vCPU")
        for r in rows:
            print(
                f"  {r.platform:>18} {r.arch:>7} {r.inferences_per_second:8.1f}/s "
                f"${r.usd_per_million:8.3f} per 1M ({r.basis})"
            )
    assert all(r.usd_per_million > 0 for r in rows)
