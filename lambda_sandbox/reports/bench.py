"""The benchmark report: `python -m lambda_sandbox.reports.bench reports/bench.json --out reports/`.

Reads what `tox -e bench` wrote (pytest-benchmark's JSON; the measurements are in each
benchmark's extra_info, tagged by `kind`) and writes:

- bench.md: Markdown tables: each function per memory tier (warm Duration p50/p95, billed ms,
  $ per 1M on x86_64 and arm64, the share of INIT at the assumed cold-start rate, capped and
  failed tiers marked), the CPU fidelity against the memory-to-CPU rule, the architecture
  comparison (Lambda against EC2), the invoke overhead against the AWS RIE, and tokens/s per
  memory tier for generative functions (the AWS llama.cpp post's Table 1);
- bench-*.png: the charts (duration, cold start and cost against memory per function; the
  fidelity ratios against the rule; $ per 1M by architecture), linked from bench.md;
- bench.html: the same tables and charts in one self-contained page (PNGs as base64).

matplotlib is imported only when charts are drawn (Agg backend, no display needed).
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambda_sandbox.reports.charts import draw_charts, pct, usd
from lambda_sandbox.tools.tune import choose_power

__all__ = ["Bench", "Table", "build_tables", "draw_charts", "load", "main", "write_report"]

SEQUENTIAL_GOAL = 1.0  # issue 2: sandbox p50 <= RIE p50
THROUGHPUT_GOAL = 1.5  # issue 2: sandbox two-client throughput >= 1.5x the RIE's best


# reading ---------------------------------------------------------------------------------------
@dataclass
class Bench:
    """The measurements of one `tox -e bench` run, by kind."""

    when: str = ""
    machine: dict[str, Any] = field(default_factory=dict)
    commit: dict[str, Any] = field(default_factory=dict)
    tiers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # function -> rows
    not_run: list[dict[str, Any]] = field(default_factory=list)
    fidelity: dict[str, Any] | None = None
    architecture: list[dict[str, Any]] = field(default_factory=list)
    sequential: dict[str, Any] | None = None  # test_invoke_overhead: p50 sandbox vs RIE
    throughput: dict[str, Any] | None = None  # test_invoke_overhead: two clients
    tokens: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # llm_tier rows
    scaling: list[dict[str, Any]] = field(default_factory=list)  # image_gen_scaling entries

    @property
    def host_cpus(self) -> int | None:
        for rows in self.tiers.values():
            for row in rows:
                if row.get("host_cpus"):
                    return int(row["host_cpus"])
        count = self.machine.get("cpu", {}).get("count")
        return int(count) if count else None

    @property
    def cold_start_rate(self) -> float | None:
        for rows in self.tiers.values():
            for row in rows:
                if row.get("cold_start_rate") is not None:
                    return float(row["cold_start_rate"])
        for arch in self.architecture:
            if arch.get("cold_start_rate") is not None:
                return float(arch["cold_start_rate"])
        return None


def parse(data: dict[str, Any]) -> Bench:
    """Sort pytest-benchmark's entries by what they measured."""
    bench = Bench(
        when=str(data.get("datetime", "")),
        machine=dict(data.get("machine_info") or {}),
        commit=dict(data.get("commit_info") or {}),
    )
    not_run: dict[int, dict[str, Any]] = {}
    for entry in data.get("benchmarks", []):
        info = entry.get("extra_info") or {}
        kind = info.get("kind")
        if kind == "ml_tier":
            bench.tiers.setdefault(str(info["function"]), []).append(info)
            for tier in info.get("tiers_not_run") or []:
                not_run[int(tier["memory_mb"])] = tier
        elif kind == "fidelity":
            bench.fidelity = info
        elif kind == "architecture":
            bench.architecture.append(info)
        elif kind == "llm_tier":
            bench.tokens.setdefault(str(info["function"]), []).append(info)
        elif kind == "image_gen_scaling":
            bench.scaling.append(info)
        elif "rie_p50_ms" in info:
            bench.sequential = info
        elif "rie_one_client" in info:
            bench.throughput = info
    for rows in [*bench.tiers.values(), *bench.tokens.values()]:
        rows.sort(key=lambda r: int(r["memory_mb"]))
    bench.not_run = [not_run[m] for m in sorted(not_run)]
    return bench


def load(path: str | Path) -> Bench:
    return parse(json.loads(Path(path).read_text(encoding="utf-8")))


# formatting ------------------------------------------------------------------------------------
def _num(value: float | None, spec: str = ".1f", unit: str = "") -> str:
    return "-" if value is None else f"{format(value, spec)}{unit}"


def _vcpu(row: dict[str, Any]) -> str:
    if row.get("capped"):
        return f"{row['host_vcpus']:.2f} of {row['lambda_vcpus']:.2f} (capped)"
    return f"{row['lambda_vcpus']:.3f}"


def _errors(errors: dict[str, int]) -> str:
    return ", ".join(f"{k} x{v}" for k, v in errors.items())


@dataclass
class Table:
    """A table for both outputs: Markdown and HTML (row classes: capped, failed, best)."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    classes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    chart: str | None = None  # the name of the chart drawn for it, if any

    def markdown(self, level: int = 3) -> str:
        lines = [f"{'#' * level} {self.title}", ""]
        lines.append("| " + " | ".join(self.headers) + " |")
        lines.append("|" + "|".join("---" for _ in self.headers) + "|")
        for row in self.rows:
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
        if self.notes:
            lines.append("")
            lines.extend(f"- {note}" for note in self.notes)
        return "\n".join(lines) + "\n"

    def html(self, level: int = 3) -> str:
        esc = html.escape
        head = "".join(f"<th>{esc(h)}</th>" for h in self.headers)
        body = []
        for i, row in enumerate(self.rows):
            cls = self.classes[i] if i < len(self.classes) else ""
            cells = "".join(f"<td>{esc(c)}</td>" for c in row)
            body.append(f'<tr class="{cls}">{cells}</tr>' if cls else f"<tr>{cells}</tr>")
        notes = "".join(f"<li>{esc(n)}</li>" for n in self.notes)
        return (
            f"<h{level}>{esc(self.title)}</h{level}>\n<table><thead><tr>{head}</tr></thead>"
            f"<tbody>\n{chr(10).join(body)}\n</tbody></table>\n"
            + (f"<ul class='notes'>{notes}</ul>\n" if notes else "")
        )


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
        return f"suppressed (> 10 s): first invoke {_num(cold.get('billed_ms'), '.0f', ' ms')}"
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
                _num(warm.get("p50_ms"), ".1f", " ms"),
                _num(warm.get("p95_ms"), ".1f", " ms"),
                _num(warm.get("billed_mean_ms"), ".1f", " ms"),
                _num(r.get("max_memory_mb"), ".0f", " MB"),
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
    """Per function: the cheapest and the fastest tier (lambda_sandbox.tools.tune's choice rules)."""
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
            f"Invoke overhead: p50 {_num(seq.get('ratio'), '.2f')}x the RIE's (goal <= "
            f"{SEQUENTIAL_GOAL:g}); two-client throughput {_num(tput.get('ratio'), '.2f')}x "
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
                _num(r["min_duration_ms"], ".1f", " ms"),
                _num(r.get("expected_ms"), ".1f", " ms"),
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
        f"{_num(measured.get('environment_ips'), '.1f')} inferences/s per environment from the "
        f"mean Duration ({_num(arch.get('mean_duration_ms'), '.1f', ' ms')}), "
        f"{_num(measured.get('client_ips'), '.1f')}/s seen by one sequential client "
        f"({arch.get('invokes', '?')} invokes); one vCPU (1,769 MB): "
        f"{_num(measured.get('per_vcpu_ips'), '.1f')}/s "
        f"(mean Duration {_num(arch.get('one_vcpu_mean_ms'), '.1f', ' ms')})."
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
                _num(seq.get("sandbox_p50_ms"), ".3f", " ms"),
                _num(seq.get("rie_p50_ms"), ".3f", " ms"),
                _num(ratio, ".2f"),
                f"<= {SEQUENTIAL_GOAL:g}",
                "yes" if ok else "no",
            ]
        )
        table.classes.append("" if ok else "failed")
        table.rows.append(
            [
                "no-op invoke p99, sequential",
                _num(seq.get("sandbox_p99_ms"), ".3f", " ms"),
                _num(seq.get("rie_p99_ms"), ".3f", " ms"),
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
                _num(ours.get("per_second"), ".0f", "/s"),
                _num(best, ".0f", "/s"),
                _num(ratio, ".2f"),
                f">= {THROUGHPUT_GOAL:g}",
                "yes" if ok else "no",
            ]
        )
        table.classes.append("" if ok else "failed")
        table.notes.append(
            f"The RIE with two clients: {_num(two.get('per_second'), '.0f', '/s')}, "
            f"{_num(two.get('errors'), '.0f')} errors, {survived}; one client in a fresh RIE: "
            f"{_num(one.get('per_second'), '.0f', '/s')}. Sandbox errors: "
            f"{_num(ours.get('errors'), '.0f')}."
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
                _num(r.get("threads"), ".0f"),
                _num(r.get("prompt_tokens_per_s"), ".2f"),
                _num(r.get("tokens_per_s"), ".2f"),
                _num(r.get("billed_ms"), ",.0f", " ms"),
                _num(r.get("billed_gb_s"), ".3f"),
                _num(r.get("usd_per_1k_x86_64"), ".4f"),
                _num(r.get("usd_per_1k_arm64"), ".4f"),
                _num(r.get("max_memory_mb"), ".0f", " MB"),
            ]
        )
        table.classes.append(
            "failed" if r.get("status") == "failed" else "capped" if r.get("capped") else ""
        )
    first = rows[0] if rows else {}
    table.notes.append(
        f"Per request: about {_num(first.get('prompt_tokens'), '.0f')} prompt tokens and "
        f"{_num(first.get('completion_tokens'), '.0f')} generated (temperature 0), median of "
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
                _num(r.get("median_ms"), ",.1f", " ms"),
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
        f"Used {_num(info.get('max_memory_used_mb'), '.0f', ' MB')}."
    )
    return table


def build_tables(bench: Bench) -> dict[str, list[Table]]:
    """The report's tables by section."""
    return {
        "summary": [summary_table(bench)] if bench.tiers else [],
        "tiers": [tier_table(fn, rows) for fn, rows in bench.tiers.items()],
        "fidelity": [fidelity_table(bench.fidelity)] if bench.fidelity else [],
        "architecture": [architecture_table(a) for a in bench.architecture],
        "overhead": [t for t in [overhead_table(bench)] if t is not None],
        "tokens": [token_table(fn, rows) for fn, rows in bench.tokens.items()],
        "scaling": [scaling_table(info) for info in bench.scaling],
    }


# the documents ---------------------------------------------------------------------------------
SECTIONS = [
    ("summary", "Summary"),
    ("tiers", "Functions across memory tiers"),
    ("fidelity", "Fidelity: CPU share against Lambda's memory-to-CPU rule"),
    ("architecture", "Architecture comparison: $ per 1M inferences"),
    ("overhead", "Invoke overhead against the AWS RIE"),
    ("tokens", "Tokens per second across memory tiers"),
    ("scaling", "Image generation: time against pixels x steps"),
]


def _section_notes(bench: Bench, key: str) -> list[str]:
    if key == "tiers":
        return tier_notes(bench)
    if key == "architecture":
        return architecture_notes()
    return []


def _heading(bench: Bench) -> list[str]:
    cpu = bench.machine.get("cpu", {})
    host = ", ".join(
        str(v)
        for v in (
            cpu.get("brand_raw"),
            f"{bench.host_cpus} CPUs" if bench.host_cpus else None,
            bench.machine.get("python_implementation", "")
            + " "
            + str(bench.machine.get("python_version", "")),
        )
        if v and str(v).strip()
    )
    commit = bench.commit.get("id")
    lines = [f"Run {bench.when or '?'} on {host or 'an unknown host'}."]
    if commit:
        dirty = " (with uncommitted changes)" if bench.commit.get("dirty") else ""
        lines.append(f"Commit {str(commit)[:10]}{dirty}.")
    return lines


def render_markdown(bench: Bench, tables: dict[str, list[Table]], charts: Sequence[str]) -> str:
    out = ["# Benchmarks: lambda-sandbox", "", *_heading(bench), ""]
    for key, title in SECTIONS:
        if not tables.get(key):
            continue
        if key != "summary":
            out += [f"## {title}", ""]
        notes = _section_notes(bench, key)
        if notes:
            out += [f"- {n}" for n in notes] + [""]
        for table in tables[key]:
            out.append(table.markdown(level=2 if key == "summary" else 3))
            if table.chart in charts:
                out += [f"![{table.chart}](bench-{table.chart}.png)", ""]
        if key == "architecture" and "arch" in charts:
            out += ["![arch](bench-arch.png)", ""]
    return "\n".join(out).rstrip() + "\n"


CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1500px; }
table { border-collapse: collapse; margin: 0.5em 0 0.3em; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 3px 9px; text-align: right; }
td:first-child, th:first-child { text-align: left; }
td:last-child { text-align: left; }
th { background: #f3f3f3; }
tr.capped { background: #fdf3d8; }
tr.failed { background: #f8d7d3; }
tr.estimated td { color: #444; font-style: italic; }
ul.notes { font-size: 0.88em; color: #444; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
"""


def _img(name: str, png: bytes) -> str:
    data = base64.b64encode(png).decode()
    return f'<img alt="{html.escape(name)}" src="data:image/png;base64,{data}">'


def render_html(bench: Bench, tables: dict[str, list[Table]], charts: dict[str, bytes]) -> str:
    esc = html.escape
    parts = [
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">',
        f"<title>Benchmarks: lambda-sandbox</title><style>{CSS}</style></head><body>",
        "<h1>Benchmarks: lambda-sandbox</h1>",
        *(f"<p>{esc(line)}</p>" for line in _heading(bench)),
    ]
    for key, title in SECTIONS:
        if not tables.get(key):
            continue
        if key != "summary":
            parts.append(f"<h2>{esc(title)}</h2>")
        notes = _section_notes(bench, key)
        if notes:
            parts.append(
                "<ul class='notes'>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>"
            )
        for table in tables[key]:
            parts.append(table.html(level=2 if key == "summary" else 3))
            if table.chart in charts:
                parts.append(_img(table.chart, charts[table.chart]))
        if key == "architecture" and "arch" in charts:
            parts.append(_img("arch", charts["arch"]))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_report(json_path: str | Path, out_dir: str | Path) -> dict[str, Path]:
    """Write bench.md, bench.html and bench-*.png into `out_dir`; returns their paths."""
    bench = load(json_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = build_tables(bench)
    charts = draw_charts(bench)
    paths: dict[str, Path] = {}
    for name, png in charts.items():
        paths[name] = out / f"bench-{name}.png"
        paths[name].write_bytes(png)
    paths["md"] = out / "bench.md"
    paths["md"].write_text(render_markdown(bench, tables, list(charts)), encoding="utf-8")
    paths["html"] = out / "bench.html"
    paths["html"].write_text(render_html(bench, tables, charts), encoding="utf-8")
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lambda_sandbox.reports.bench",
        description="Turn the benchmark JSON of `tox -e bench` into bench.md and bench.html.",
    )
    parser.add_argument("json", type=Path, help="pytest-benchmark JSON (reports/bench.json)")
    parser.add_argument("--out", type=Path, default=Path("reports"), help="output folder")
    args = parser.parse_args(argv)
    if not args.json.exists():
        print(f"no benchmark results at {args.json}: run `tox -e bench` first", file=sys.stderr)
        return 2
    paths = write_report(args.json, args.out)
    for path in paths.values():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
