"""The benchmark report's tables: every function per memory tier, the summary, CPU fidelity,
Lambda against EC2, the invoke overhead against the RIE, tokens/s, image-generation scaling,
SnapStart restores against INIT."""

from __future__ import annotations

from typing import Any

from lambda_sandbox.reports.bench_data import Bench
from lambda_sandbox.reports.charts import num, pct, usd
from lambda_sandbox.reports.snapstart_tables import snapstart_bill_table, snapstart_table
from lambda_sandbox.reports.tables import Table
from lambda_sandbox.tools.tune.power_tuning import choose_power

__all__ = ["SEQUENTIAL_GOAL", "THROUGHPUT_GOAL", "architecture_notes", "build_tables", "tier_notes"]

SEQUENTIAL_GOAL = 1.0  # issue 2: sandbox p50 <= RIE p50
THROUGHPUT_GOAL = 1.5  # issue 2: sandbox two-client throughput >= 1.5x the RIE's best


# formatting ------------------------------------------------------------------------------------
def _vcpu(row: dict[str, Any]) -> str:
    if row.get("capped"):
        return f"{row['host_vcpus']:.2f} of {row['lambda_vcpus']:.2f} (capped)"
    return f"{row['lambda_vcpus']:.3f}"


def _errors(errors: dict[str, int]) -> str:
    return ", ".join(f"{k} x{v}" for k, v in errors.items())


# the tables ------------------------------------------------------------------------------------
TIER_HEADERS = [
    "Memory",
    "vCPU",
    "Status",
    "Init Duration",
    "Warm p50",
    "Warm p95",
    "Billed (mean)",
    "Max Memory Used",
    "$/1M x86_64",
    "$/1M arm64",
    "INIT share",
]


def _init_text(row: dict[str, Any]) -> str:
    cold = row.get("cold") or {}
    if cold.get("init_suppressed"):
        return f"suppressed (> 10 s): first invoke {num(cold.get('billed_ms'), '.0f', ' ms')}"
    if cold.get("init_ms") is not None:
        return f"{cold['init_ms']:.0f} ms"
    if cold.get("error"):
        return f"failed ({cold['error']})"
    return "-"


def tier_table(function: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(function, TIER_HEADERS, [], chart=f"tiers-{function}")
    for r in rows:
        warm = r.get("warm") or {}
        status = str(r.get("status", "ok"))
        if r.get("errors"):
            status += f": {_errors(r['errors'])}"
        table.rows.append(
            [
                f"{r['memory_mb']} MB",
                _vcpu(r),
                status,
                _init_text(r),
                num(warm.get("p50_ms"), ".1f", " ms"),
                num(warm.get("p95_ms"), ".1f", " ms"),
                num(warm.get("billed_mean_ms"), ".1f", " ms"),
                num(r.get("max_memory_mb"), ".0f", " MB"),
                usd(r.get("usd_per_million_x86_64")),
                usd(r.get("usd_per_million_arm64")),
                pct(r.get("init_share_x86_64")),
            ]
        )
        table.classes.append(
            "failed" if r.get("status") == "failed" else "capped" if r.get("capped") else ""
        )
    capped = [str(r["memory_mb"]) for r in rows if r.get("capped")]
    if capped:
        table.notes.append(
            f"CPU capped by this host at {', '.join(capped)} MB: slower than on Lambda there."
        )
    failed = [f"{r['memory_mb']} MB ({_errors(r['errors'])})" for r in rows if r.get("errors")]
    if failed:
        table.notes.append("Errors: " + "; ".join(failed) + ".")
    notes = sorted({n for r in rows for n in r.get("notes") or []})
    if notes:
        table.notes.append("The sandbox says: " + "; ".join(notes) + ".")
    return table


def tier_notes(bench: Bench) -> list[str]:
    rate = bench.cold_start_rate
    notes = [
        "Warm p50/p95: the Duration of the REPORT lines (LogType=Tail) of the warm invokes; "
        "Init Duration: the cold start after UpdateFunctionConfiguration switched the tier.",
        "$ per 1M invocations: requests + GB-s of the mean billed duration (prices: "
        "limits/prices.toml, us-east-1), with INIT billed for "
        f"{pct(rate, '.0f')} cold starts (assumed, as in the AWS Compute Blog's example, "
        "seeds/004); INIT share: the part of the x86_64 cost that pays for INIT.",
        "arm64: the x86_64 durations at the arm64 price (Graviton speed is not measured here).",
        "Short invokes at small tiers can finish inside one 100 ms CFS period's quota and then "
        "run at full speed: their durations look better than Lambda's would (limits/lambda.toml "
        "[cpu]).",
    ]
    if bench.not_run:
        first, last = bench.not_run[0], bench.not_run[-1]
        notes.append(
            f"Not run: {', '.join(str(t['memory_mb']) for t in bench.not_run)} MB, capped on "
            f"this {bench.host_cpus}-core host ({first['host_vcpus']:.2f} of "
            f"{first['lambda_vcpus']:.2f}-{last['lambda_vcpus']:.2f} vCPU); "
            "SANDBOX_BENCH_EXTENDED=1 runs them, marked capped."
        )
    return notes


def summary_table(bench: Bench) -> Table:
    """Per function: the cheapest and the fastest tier (Power Tuning's choice rules)."""
    table = Table(
        "Summary",
        [
            "Function",
            "Cheapest tier (x86_64)",
            "$/1M x86_64",
            "$/1M arm64",
            "INIT share",
            "Fastest tier (p50)",
            "Tiers with errors",
        ],
        [],
    )
    for function, rows in bench.tiers.items():
        good = [
            r
            for r in rows
            if r.get("status") == "ok" and r.get("usd_per_million_x86_64") and not r.get("capped")
        ]
        by_memory = {int(r["memory_mb"]): r for r in good}
        points = [
            (m, r["usd_per_million_x86_64"], r["warm"]["p50_ms"]) for m, r in by_memory.items()
        ]
        cheap, fast = choose_power(points, "cost"), choose_power(points, "speed")
        c = by_memory.get(cheap or -1, {})
        f = by_memory.get(fast or -1, {})
        failed = [f"{r['memory_mb']} MB ({r['status']})" for r in rows if r.get("status") != "ok"]
        table.rows.append(
            [
                function,
                f"{cheap} MB" if c else "-",
                usd(c.get("usd_per_million_x86_64")),
                usd(c.get("usd_per_million_arm64")),
                pct(c.get("init_share_x86_64")),
                f"{fast} MB: {f['warm']['p50_ms']:.1f} ms" if f else "-",
                ", ".join(failed) or "none",
            ]
        )
    if any(r.get("capped") for rows in bench.tiers.values() for r in rows):
        table.notes.append("Capped tiers are left out of the choice: not Lambda's speed.")
    if bench.fidelity:
        uncapped = [r for r in bench.fidelity.get("rows", []) if not r.get("capped")]
        if uncapped:
            lo = min(uncapped, key=lambda r: r["deviation_pct"])
            hi = max(uncapped, key=lambda r: r["deviation_pct"])
            table.notes.append(
                f"CPU fidelity (uncapped tiers): {lo['deviation_pct']:+.1f}% ({lo['memory_mb']} "
                f"MB) to {hi['deviation_pct']:+.1f}% ({hi['memory_mb']} MB) from Lambda's rule."
            )
    if bench.sequential or bench.throughput:
        seq, tput = bench.sequential or {}, bench.throughput or {}
        table.notes.append(
            f"Invoke overhead: p50 {num(seq.get('ratio'), '.2f')}x the RIE's (goal <= "
            f"{SEQUENTIAL_GOAL:g}); two-client throughput {num(tput.get('ratio'), '.2f')}x "
            f"the RIE's best (goal >= {THROUGHPUT_GOAL:g})."
        )
    return table


FIDELITY_HEADERS = [
    "Memory",
    "Lambda vCPU",
    "Host vCPU",
    "Threads",
    "Fastest run",
    "Rule",
    "Duration x vCPU (ratio)",
    "Deviation",
    "CPU time / wall",
    "Against the host's share",
]


def fidelity_table(fidelity: dict[str, Any]) -> Table:
    title = f"The same work at each tier, fastest of {fidelity.get('rounds', '?')} runs"
    table = Table(title, FIDELITY_HEADERS, [], chart="fidelity")
    for r in fidelity.get("rows", []):
        capped = bool(r.get("capped"))
        table.rows.append(
            [
                f"{r['memory_mb']} MB",
                f"{r['lambda_vcpus']:.3f}",
                f"{r['host_vcpus']:.3f}" + (" (capped)" if capped else ""),
                str(r["threads"]),
                num(r["min_duration_ms"], ".1f", " ms"),
                num(r.get("expected_ms"), ".1f", " ms"),
                f"{r['ratio']:.3f}",
                f"{r['deviation_pct']:+.1f}%",
                f"{r['delivered_vcpus']:.3f}",
                f"{r['ratio_host']:.3f} ({r['deviation_host_pct']:+.1f}%)" if capped else "-",
            ]
        )
        table.classes.append("capped" if capped else "")
    rows = fidelity.get("rows", [])
    uncapped = [r for r in rows if not r.get("capped")]
    if uncapped:
        worst = max(uncapped, key=lambda r: abs(r["deviation_pct"]))
        table.notes.append(
            f"Largest deviation where the host gives the full share: {worst['memory_mb']} MB, "
            f"{worst['deviation_pct']:+.1f}% (negative: faster than the rule)."
        )
    table.notes += [
        f"Same CPU-bound work at every tier ({fidelity.get('reference', 'the reference')}), "
        f"sized to about {fidelity.get('target_s', 0):g} s per run; the fastest of "
        f"{fidelity.get('rounds', '?')} interleaved rounds; the rule's anchor: "
        f"{fidelity.get('anchor_mb', 1769)} MB = 1 vCPU.",
        "Ratio = (ms per unit x Lambda's vCPUs) / the same at the anchor: 1.000 is Lambda's "
        "rule. CPU time / wall: the vCPUs the handler's process actually got.",
        "Capped tiers want more vCPUs than the host has: their ratio against Lambda's share is "
        "what capping costs; against the host's share it checks the cap itself.",
    ]
    return table


ARCH_HEADERS = ["Platform", "Arch", "vCPU", "Inferences/s", "$/1M inferences", "Basis", "How"]


def architecture_table(arch: dict[str, Any]) -> Table:
    measured = arch.get("measured") or {}
    table = Table(f"{arch['function']} at {arch['chosen_memory_mb']} MB", ARCH_HEADERS, [])
    for r in arch.get("rows", []):
        how = str(r["how"])
        if r.get("break_even_ips") is not None:
            util = r.get("break_even_utilization") or 0.0
            if util <= 1:
                how += (
                    f"; cheaper than Lambda x86_64 above {r['break_even_ips']:.1f}/s "
                    f"({util:.0%} busy)"
                )
            else:
                how += "; never cheaper than Lambda x86_64 at this throughput"
        table.rows.append(
            [
                r["platform"],
                r["arch"],
                f"{r['vcpus']:.2f}".rstrip("0").rstrip("."),
                f"{r['inferences_per_second']:.1f}",
                usd(r["usd_per_million"]),
                r["basis"],
                how,
            ]
        )
        table.classes.append("estimated" if r["basis"] == "estimated" else "")
    table.notes.append(
        f"Tier: {arch.get('chosen_why', '')}. Through the sandbox there: "
        f"{num(measured.get('environment_ips'), '.1f')} inferences/s per environment from the "
        f"mean Duration ({num(arch.get('mean_duration_ms'), '.1f', ' ms')}), "
        f"{num(measured.get('client_ips'), '.1f')}/s seen by one sequential client "
        f"({arch.get('invokes', '?')} invokes); one vCPU (1,769 MB): "
        f"{num(measured.get('per_vcpu_ips'), '.1f')}/s "
        f"(mean Duration {num(arch.get('one_vcpu_mean_ms'), '.1f', ' ms')})."
    )
    return table


def architecture_notes() -> list[str]:
    return [
        "Lambda is measured (billed duration through the sandbox, priced by lambda_sandbox.cost); "
        "EC2 is estimated: the throughput measured on one vCPU times the instance's vCPUs, "
        "one single-threaded worker per vCPU, 100% busy around the clock, on-demand price "
        "(lambda_sandbox.cost.ec2_cost_per_million). An instance that is less busy costs more per "
        "inference in proportion; Lambda costs the same at any traffic.",
        "g4dn.xlarge: its T4 GPU cannot be measured here and the functions run onnxruntime's "
        "CPU provider, so its row counts its 4 vCPUs only (an upper bound on its cost).",
    ]


def overhead_table(bench: Bench) -> Table | None:
    seq, tput = bench.sequential, bench.throughput
    if seq is None and tput is None:
        return None
    table = Table(
        "The no-op function, side by side",
        ["Measure", "Sandbox", "AWS RIE", "Ratio", "Goal", "Met"],
        [],
    )
    if seq is not None:
        ratio = seq.get("ratio")
        ok = ratio is not None and ratio <= SEQUENTIAL_GOAL
        table.rows.append(
            [
                "no-op invoke p50, sequential",
                num(seq.get("sandbox_p50_ms"), ".3f", " ms"),
                num(seq.get("rie_p50_ms"), ".3f", " ms"),
                num(ratio, ".2f"),
                f"<= {SEQUENTIAL_GOAL:g}",
                "yes" if ok else "no",
            ]
        )
        table.classes.append("" if ok else "failed")
        table.rows.append(
            [
                "no-op invoke p99, sequential",
                num(seq.get("sandbox_p99_ms"), ".3f", " ms"),
                num(seq.get("rie_p99_ms"), ".3f", " ms"),
                "-",
                "-",
                "-",
            ]
        )
        table.classes.append("")
    if tput is not None:
        ours = tput.get("sandbox") or {}
        two = tput.get("rie_two_clients") or {}
        one = tput.get("rie_one_client") or {}
        best = max(float(two.get("per_second") or 0), float(one.get("per_second") or 0))
        ratio = tput.get("ratio")
        ok = ratio is not None and ratio >= THROUGHPUT_GOAL
        survived = "survived" if tput.get("rie_survived_two_clients") else "crashed"
        table.rows.append(
            [
                "invokes/s, two clients (RIE: its best of two clients / one client)",
                num(ours.get("per_second"), ".0f", "/s"),
                num(best, ".0f", "/s"),
                num(ratio, ".2f"),
                f">= {THROUGHPUT_GOAL:g}",
                "yes" if ok else "no",
            ]
        )
        table.classes.append("" if ok else "failed")
        table.notes.append(
            f"The RIE with two clients: {num(two.get('per_second'), '.0f', '/s')}, "
            f"{num(two.get('errors'), '.0f')} errors, {survived}; one client in a fresh RIE: "
            f"{num(one.get('per_second'), '.0f', '/s')}. Sandbox errors: "
            f"{num(ours.get('errors'), '.0f')}."
        )
    table.notes.append(
        "Same no-op handler, same runtime client (awslambdaric), same keep-alive HTTP client "
        "(benchmarks/test_invoke_overhead.py); goals from issue 2."
    )
    return table


TOKEN_HEADERS = [
    "Memory Size",
    "vCPU",
    "Threads",
    "Tokens evaluated per second",
    "Tokens generated per second",
    "Billed Duration",
    "Billed GB-seconds",
    "$ per 1k requests (x86_64)",
    "$ per 1k requests (arm64)",
    "Max Memory Used",
]


def token_table(function: str, rows: list[dict[str, Any]]) -> Table:
    """Table 1 of the AWS llama.cpp post (seeds/004), for one function, largest tier first."""
    table = Table(f"{function}: tokens per second", TOKEN_HEADERS, [])
    for r in sorted(rows, key=lambda r: -int(r["memory_mb"])):
        table.rows.append(
            [
                f"{r['memory_mb']} MB",
                _vcpu(r),
                num(r.get("threads"), ".0f"),
                num(r.get("prompt_tokens_per_s"), ".2f"),
                num(r.get("tokens_per_s"), ".2f"),
                num(r.get("billed_ms"), ",.0f", " ms"),
                num(r.get("billed_gb_s"), ".3f"),
                num(r.get("usd_per_1k_x86_64"), ".4f"),
                num(r.get("usd_per_1k_arm64"), ".4f"),
                num(r.get("max_memory_mb"), ".0f", " MB"),
            ]
        )
        table.classes.append(
            "failed" if r.get("status") == "failed" else "capped" if r.get("capped") else ""
        )
    first = rows[0] if rows else {}
    table.notes.append(
        f"Per request: about {num(first.get('prompt_tokens'), '.0f')} prompt tokens and "
        f"{num(first.get('completion_tokens'), '.0f')} generated (temperature 0), median of "
        f"{first.get('n', '?')} warm invokes per tier; rates from llama.cpp's own counters, "
        "billed duration and memory from the REPORT lines; $ = requests + GB-s (us-east-1)."
    )
    loads = [r["host_load_1m"] for r in rows if r.get("host_load_1m") is not None]
    if loads:
        table.notes.append(
            f"Host load average (1 min) after each tier: {min(loads):.2f}-{max(loads):.2f} on "
            f"{first.get('host_cpus', '?')} CPUs; above the tier's vCPUs, other work competed."
        )
    capped = [str(r["memory_mb"]) for r in rows if r.get("capped")]
    if capped:
        table.notes.append(
            f"CPU capped by this {first.get('host_cpus', '?')}-core host at "
            f"{', '.join(capped)} MB: those rows show the host's speed, not Lambda's."
        )
    failed = [f"{r['memory_mb']} MB ({_errors(r['errors'])})" for r in rows if r.get("errors")]
    if failed:
        table.notes.append("Errors: " + "; ".join(failed) + ".")
    return table


SCALING_HEADERS = ["Size", "Steps", "Pixels x steps", "Work vs base", "Median", "Time vs base"]


def scaling_table(info: dict[str, Any]) -> Table:
    """Time against pixels x steps for an image generator (REPORT Duration, medians)."""
    title = f"{info.get('function', '?')}: time against pixels x steps at {info['memory_mb']} MB"
    table = Table(title, SCALING_HEADERS, [])
    for r in sorted(info.get("rows", []), key=lambda r: (r["pixels_x_steps"], r["steps"])):
        table.rows.append(
            [
                f"{r['width']}x{r['height']}",
                str(r["steps"]),
                f"{r['pixels_x_steps']:,}",
                f"{r['work_vs_base']:.0f}x",
                num(r.get("median_ms"), ",.1f", " ms"),
                f"{r['time_vs_base']:.2f}x",
            ]
        )
    for ratio in info.get("ratios", []):
        table.notes.append(
            f"Doubling {ratio['doubles']}: {ratio['ratio']:.2f}x the time "
            f"({'x'.join(map(str, ratio['of']))} -> {'x'.join(map(str, ratio['to']))})."
        )
    table.notes.append(
        f"Median of {info.get('rounds', '?')} rounds, configurations interleaved; Max Memory "
        f"Used {num(info.get('max_memory_used_mb'), '.0f', ' MB')}."
    )
    return table


INIT_BURST_HEADERS = [
    "Memory",
    "Invoke vCPU",
    "INIT vCPU",
    "Init Duration",
    "Init ratio (rule)",
    "Handler Duration",
    "Handler ratio (rule)",
]


def init_burst_table(info: dict[str, Any]) -> Table:
    """Init Duration and the handler's Duration of the same work, per tier against 1,769 MB."""
    rounds = info.get("rounds", "?")
    title = f"INIT burst: the same work at INIT and in the handler, fastest of {rounds} cold starts"
    table = Table(title, INIT_BURST_HEADERS, [])
    for r in info.get("rows", []):
        table.rows.append(
            [
                f"{r['memory_mb']} MB",
                _vcpu(r),
                f"{r['init_vcpus']:.3f}",
                num(r["init_ms"], ".1f", " ms"),
                f"{r['init_ratio']:.2f} ({r['init_expected_ratio']:.2f})",
                num(r["duration_ms"], ".1f", " ms"),
                f"{r['duration_ratio']:.2f} ({r['duration_expected_ratio']:.2f})",
            ]
        )
        table.classes.append("capped" if r.get("capped") else "")
    table.notes += [
        f"{info.get('reference', 'The reference')}; {info.get('init_units', '?')} units. "
        f"On-demand INIT runs with at least {info.get('burst_vcpus', 1):g} vCPU at every tier "
        "(limits/lambda.toml [init]), an invoke with the tier's share.",
        f"Ratios against {info.get('anchor_mb', 1769)} MB: the Init ratio's rule is 1.00 (the "
        "burst), the handler's is the inverse of the share the host gives.",
    ]
    return table


def build_tables(bench: Bench) -> dict[str, list[Table]]:
    """The report's tables by section."""
    return {
        "summary": [summary_table(bench)] if bench.tiers else [],
        "tiers": [tier_table(fn, rows) for fn, rows in bench.tiers.items()],
        "fidelity": [
            *([fidelity_table(bench.fidelity)] if bench.fidelity else []),
            *([init_burst_table(bench.init_burst)] if bench.init_burst else []),
        ],
        "architecture": [architecture_table(a) for a in bench.architecture],
        "overhead": [t for t in [overhead_table(bench)] if t is not None],
        "tokens": [token_table(fn, rows) for fn, rows in bench.tokens.items()],
        "scaling": [scaling_table(info) for info in bench.scaling],
        "snapstart": [
            t
            for t in (
                [snapstart_table(bench.snapstart), snapstart_bill_table(bench.snapstart)]
                if bench.snapstart
                else []
            )
            if t is not None
        ],
    }
