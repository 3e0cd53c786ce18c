"""The benchmark report's charts: duration, cold start and cost against memory per function;
fidelity ratios against Lambda's memory-to-CPU rule; $ per 1M by architecture (PNG bytes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lambda_sandbox.reports.bench_data import Bench
from lambda_sandbox.reports.charts import (
    ARM_COLOR,
    CAP_COLOR,
    COST_COLOR,
    DURATION_COLOR,
    FAIL_COLOR,
    INIT_COLOR,
    MUTED,
    P95_COLOR,
    failed_marks,
    figure,
    label,
    ms_text,
    pct,
    plain_log_axis,
    png,
    tier_axis,
    usd,
)

if TYPE_CHECKING:
    pass

__all__ = ["architecture_chart", "draw_charts", "fidelity_chart", "snapstart_chart", "tier_chart"]


def tier_chart(function: str, rows: list[dict[str, Any]], host_cpus: int | None) -> bytes:
    """Warm duration, cold start and $ per 1M against memory, for one function."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig = figure(14, 4.8)
    ax_d, ax_i, ax_c = fig.subplots(1, 3)
    warm = [(i, r["warm"]) for i, r in enumerate(rows) if (r.get("warm") or {}).get("p50_ms")]
    xs = [i for i, _ in warm]
    p50, p95 = [w["p50_ms"] for _, w in warm], [w["p95_ms"] for _, w in warm]
    ax_d.plot(xs, p95, "v--", color=P95_COLOR, lw=1.5, ms=5)
    ax_d.plot(xs, p50, "o-", color=DURATION_COLOR, lw=2, ms=6)
    for i, value in zip(xs, p50, strict=True):
        label(ax_d, i, value, ms_text(value), DURATION_COLOR, dy=-9)
    if p50 and max(p95) / max(min(p50), 1e-3) > 20:  # sub-ms and 100 ms on one axis
        ax_d.set_yscale("log")
        ax_d.set_ylim(min(p50) / 2, max(p95) * 1.6)
        plain_log_axis(ax_d)
    else:
        ax_d.set_ylim(0, max(p95, default=1.0) * 1.15)
    ax_d.set_title("warm Duration (ms)", loc="left", fontsize=10)

    suppressed = False
    tops = [0.0]
    for i, r in enumerate(rows):
        cold = r.get("cold") or {}
        if cold.get("init_suppressed") and cold.get("billed_ms") is not None:
            suppressed, value = True, cold["billed_ms"] / 1000
            ax_i.bar(i, value, color="white", edgecolor=INIT_COLOR, hatch="//", width=0.6)
            label(ax_i, i, value, f"{value:.1f} s\nsuppressed", INIT_COLOR, dy=3)
        elif cold.get("init_ms") is not None:
            value = cold["init_ms"] / 1000
            ax_i.bar(i, value, color=INIT_COLOR, width=0.6)
            label(ax_i, i, value, f"{value:.2f} s" if value < 10 else f"{value:.1f} s", MUTED, 3)
        else:
            continue
        tops.append(value)
    if max(tops) > 5:  # the INIT limit is in sight
        ax_i.axhline(10, color=FAIL_COLOR, lw=1, ls=":", zorder=1)
        ax_i.annotate(
            "INIT limit 10 s",
            xy=(1, 10),
            xycoords=("axes fraction", "data"),
            xytext=(-3, 3),
            textcoords="offset points",
            ha="right",
            fontsize=7.5,
            color=FAIL_COLOR,
        )
    ax_i.set_ylim(0, max(max(tops), 10 if max(tops) > 5 else 0) * 1.25 or 1.0)
    ax_i.set_title("cold start: Init Duration (s)", loc="left", fontsize=10)

    costs = {
        arch: [
            (i, r[f"usd_per_million_{arch}"])
            for i, r in enumerate(rows)
            if r.get(f"usd_per_million_{arch}")
        ]
        for arch in ("x86_64", "arm64")
    }
    x86, arm = costs["x86_64"], costs["arm64"]
    ax_c.plot([i for i, _ in x86], [v for _, v in x86], "s-", color=COST_COLOR, lw=2, ms=6)
    ax_c.plot([i for i, _ in arm], [v for _, v in arm], "D--", color=ARM_COLOR, lw=1.5, ms=5)
    for i, v in x86:
        label(ax_c, i, v, usd(v), COST_COLOR, dy=7)
    if x86:
        best = min(x86, key=lambda p: p[1])
        ax_c.plot([best[0]], [best[1]], "*", ms=18, color="#2a9d3a", mec="black", zorder=5)
    ax_c.set_ylim(0, max([v for _, v in x86] + [0.0]) * 1.25 or 1.0)
    rate = next((r["cold_start_rate"] for r in rows if r.get("cold_start_rate") is not None), None)
    ax_c.set_title(
        f"$ per 1M invocations ({pct(rate, '.0f')} cold starts)", loc="left", fontsize=10
    )

    capped = [bool(r.get("capped")) for r in rows]
    for ax in (ax_d, ax_i, ax_c):
        tier_axis(ax, [int(r["memory_mb"]) for r in rows], capped)
        failed_marks(ax, rows)
    handles: list[Any] = [
        Line2D([], [], color=DURATION_COLOR, marker="o", lw=2, label="warm p50 (ms)"),
        Line2D([], [], color=P95_COLOR, marker="v", ls="--", lw=1.5, label="warm p95 (ms)"),
        Patch(color=INIT_COLOR, label="Init Duration (s)"),
    ]
    if suppressed:
        handles.append(Patch(fc="white", ec=INIT_COLOR, hatch="//", label="INIT > 10 s: retried"))
    handles += [
        Line2D([], [], color=COST_COLOR, marker="s", lw=2, label="$/1M x86_64"),
        Line2D([], [], color=ARM_COLOR, marker="D", ls="--", label="$/1M arm64 (x86 duration)"),
        Line2D(
            [], [], color="#2a9d3a", marker="*", ms=12, mec="black", ls="none", label="cheapest"
        ),
    ]
    if any(capped):
        handles.append(Patch(color=CAP_COLOR, alpha=0.4, label="CPU capped on this host"))
    if any(r.get("status") == "failed" for r in rows):
        handles.append(Line2D([], [], color=FAIL_COLOR, ls="--", label="tier failed"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8)
    invokes = max((int((r.get("warm") or {}).get("n") or 0) for r in rows), default=0)
    fig.suptitle(
        f"{function}: warm duration, cold start and cost per memory tier "
        f"({invokes} warm invokes per tier, host: {host_cpus or '?'} CPUs)",
        x=0.01,
        ha="left",
        fontsize=12,
    )
    return png(fig)


def fidelity_chart(fidelity: dict[str, Any]) -> bytes:
    """The fidelity ratio per tier against the rule, and the vCPUs delivered against asked."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    rows = fidelity.get("rows", [])
    memories = [int(r["memory_mb"]) for r in rows]
    capped = [bool(r.get("capped")) for r in rows]
    xs = list(range(len(rows)))
    fig = figure(13, 4.8)
    ax_r, ax_v = fig.subplots(1, 2, width_ratios=[1.5, 1])

    low, high = 0.7, 1.3
    ax_r.axhspan(0.95, 1.05, color="#2a9d3a", alpha=0.12, zorder=0)
    ax_r.axhline(1.0, color="#2a9d3a", lw=1.5, zorder=1)
    for i, r in zip(xs, rows, strict=True):
        ratio = float(r["ratio"])
        color = CAP_COLOR if r.get("capped") else DURATION_COLOR
        if ratio > high:
            ax_r.annotate(
                f"{ratio:.2f} ({r['deviation_pct']:+.0f}%)\nvs Lambda",
                xy=(i, high),
                xytext=(i, high - 0.07),
                ha="center",
                va="top",
                fontsize=7.5,
                color="#7a5a10",
                arrowprops={"arrowstyle": "->", "color": "#7a5a10"},
            )
        else:
            ax_r.plot([i], [ratio], "o", color=color, ms=8, zorder=4)
            label(ax_r, i, ratio, f"{r['deviation_pct']:+.1f}%", MUTED, dy=-10)
        if r.get("capped"):
            ax_r.plot([i], [r["ratio_host"]], "D", color=MUTED, ms=6, zorder=5)
            label(ax_r, i, r["ratio_host"], f"{r['deviation_host_pct']:+.1f}%", MUTED, dy=8)
    tier_axis(ax_r, memories, capped)
    ax_r.set_ylim(low, high)
    ax_r.set_ylabel("duration x vCPU, relative to 1,769 MB")
    ax_r.set_title(
        "ratio to the rule (1.00 = duration scales as 1 / vCPU)", loc="left", fontsize=10
    )

    asked = [float(r["lambda_vcpus"]) for r in rows]
    got = [float(r["lambda_vcpus"]) / float(r["ratio"]) for r in rows]
    line = [min(asked) * 0.8, max(asked) * 1.25]
    ax_v.plot(line, line, color="#2a9d3a", lw=1.5, label="Lambda's rule")
    if fidelity.get("host_cpus"):
        ax_v.axhline(fidelity["host_cpus"], color=CAP_COLOR, lw=1.5, ls="--")
        ax_v.annotate(
            f"host: {fidelity['host_cpus']} CPUs",
            xy=(0.02, fidelity["host_cpus"]),
            xycoords=("axes fraction", "data"),
            xytext=(0, 4),
            textcoords="offset points",
            fontsize=8,
            color="#7a5a10",
        )
    for a, g, m, c in zip(asked, got, memories, capped, strict=True):
        ax_v.plot([a], [g], "o", color=CAP_COLOR if c else DURATION_COLOR, ms=7, zorder=4)
        ax_v.annotate(f"{m}", (a, g), xytext=(5, -9), textcoords="offset points", fontsize=7)
    ax_v.set_xscale("log")
    ax_v.set_yscale("log")
    plain_log_axis(ax_v, "x")
    plain_log_axis(ax_v, "y")
    ax_v.set_xlabel("vCPU Lambda gives the tier")
    ax_v.set_ylabel("vCPU delivered (from the duration)")
    ax_v.grid(True, which="both", alpha=0.3)
    ax_v.set_title("delivered against asked (log-log)", loc="left", fontsize=10)

    handles: list[Any] = [
        Line2D([], [], color=DURATION_COLOR, marker="o", ls="none", label="tier"),
        Line2D([], [], color="#2a9d3a", lw=1.5, label="the rule (±5% band)"),
    ]
    if any(capped):
        handles += [
            Line2D([], [], color=CAP_COLOR, marker="o", ls="none", label="capped tier vs Lambda"),
            Line2D([], [], color=MUTED, marker="D", ls="none", label="capped tier vs host share"),
            Patch(color=CAP_COLOR, alpha=0.4, label="CPU capped on this host"),
        ]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8)
    fig.suptitle(
        f"CPU fidelity: the same work at each tier, fastest of {fidelity.get('rounds', '?')} "
        "interleaved runs",
        x=0.01,
        ha="left",
        fontsize=12,
    )
    return png(fig)


def architecture_chart(architecture: list[dict[str, Any]]) -> bytes:
    """$ per 1M inferences per platform, one panel per function; estimates hatched."""
    from matplotlib.patches import Patch

    fig = figure(13, 1.2 + 0.45 * max(len(a.get("rows", [])) for a in architecture) * 1.0)
    axes = fig.subplots(1, len(architecture), squeeze=False)[0]
    for ax, arch in zip(axes, architecture, strict=True):
        rows = list(reversed(arch.get("rows", [])))
        labels = [f"{r['platform']} {r['arch']}" for r in rows]
        values = [float(r["usd_per_million"]) for r in rows]
        for i, (r, v) in enumerate(zip(rows, values, strict=True)):
            lam = r["platform"].startswith("Lambda")
            color = COST_COLOR if lam else DURATION_COLOR
            estimated = r["basis"] == "estimated"
            ax.barh(
                i,
                v,
                color="white" if estimated else color,
                edgecolor=color,
                hatch="//" if estimated else None,
                height=0.6,
            )
            text = usd(v)
            if r.get("break_even_ips") is not None and (r.get("break_even_utilization") or 0) <= 1:
                text += f"  (cheaper than Lambda x86_64 above {r['break_even_ips']:.0f}/s)"
            ax.annotate(
                text,
                (v, i),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )
        ax.set_yticks(range(len(rows)), labels, fontsize=8)
        ax.set_xlim(0, max(values, default=1.0) * 1.35)
        ax.set_xlabel("$ per 1M inferences")
        ax.grid(True, axis="x", alpha=0.3)
        ax.set_title(
            f"{arch['function']} (Lambda at {arch['chosen_memory_mb']} MB)", loc="left", fontsize=10
        )
    fig.legend(
        handles=[
            Patch(color=COST_COLOR, label="Lambda, measured"),
            Patch(fc="white", ec=COST_COLOR, hatch="//", label="Lambda, estimated"),
            Patch(fc="white", ec=DURATION_COLOR, hatch="//", label="EC2, estimated (100% busy)"),
        ],
        loc="outside lower center",
        ncols=3,
        fontsize=8,
    )
    fig.suptitle("$ per 1M inferences by architecture", x=0.01, ha="left", fontsize=12)
    return png(fig)


def _timed_rows(info: dict[str, Any]) -> list[dict[str, Any]]:
    """The SnapStart rows with an Init or a Restore Duration to draw."""
    return [r for r in info.get("rows", []) if r.get("init_ms") or r.get("restore_ms")]


def snapstart_chart(info: dict[str, Any]) -> bytes:
    """Per function, the on-demand Init Duration against the Restore Duration (log scale)."""
    from matplotlib.patches import Patch

    rows = _timed_rows(info)
    fig = figure(10, 1.4 + 0.62 * len(rows))
    ax = fig.subplots()
    for i, r in enumerate(reversed(rows)):
        for dy, key, color in (
            (0.18, "init_ms", INIT_COLOR),
            (-0.18, "restore_ms", DURATION_COLOR),
        ):
            value = r.get(key)
            if value:
                ax.barh(i + dy, value, height=0.34, color=color)
                ax.annotate(ms_text(float(value)), (value, i + dy), xytext=(4, 0),
                            textcoords="offset points", va="center", fontsize=8)  # fmt: skip
        if r.get("speedup"):
            ax.annotate(f"{r['speedup']:.0f}x", (1, i), xytext=(-4, 0), ha="right", va="center",
                        xycoords=("axes fraction", "data"), textcoords="offset points",
                        fontsize=9, color=MUTED)  # fmt: skip
    ax.set_yticks(range(len(rows)), [r["function"] for r in reversed(rows)], fontsize=9)
    ax.set_xscale("log")
    longest = max(float(r.get("init_ms") or r.get("restore_ms") or 1) for r in rows)
    ax.set_xlim(right=longest * 4)  # room for the labels and the ratio
    plain_log_axis(ax, "x")
    ax.set_xlabel("ms (log scale)")
    ax.grid(True, axis="x", alpha=0.3)
    fig.legend(
        handles=[Patch(color=INIT_COLOR, label="Init Duration (on-demand cold start)"),
                 Patch(color=DURATION_COLOR, label="Restore Duration (SnapStart)")],
        loc="outside lower center", ncols=2, fontsize=8,
    )  # fmt: skip
    fig.suptitle("SnapStart: restore against INIT", x=0.01, ha="left", fontsize=12)
    return png(fig)


def draw_charts(bench: Bench) -> dict[str, bytes]:
    """Every chart the data allows, by name (the file is bench-<name>.png)."""
    charts = {
        f"tiers-{fn}": tier_chart(fn, rows, bench.host_cpus) for fn, rows in bench.tiers.items()
    }
    if bench.fidelity and bench.fidelity.get("rows"):
        charts["fidelity"] = fidelity_chart(bench.fidelity)
    if bench.architecture:
        charts["arch"] = architecture_chart(bench.architecture)
    if bench.snapstart and _timed_rows(bench.snapstart):
        charts["snapstart"] = snapstart_chart(bench.snapstart)
    return charts
