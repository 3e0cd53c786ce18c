"""`sandbox tune`'s outputs: a rich table, tune-<fn>.json (Power Tuning's keys), a chart, HTML."""

from __future__ import annotations

import html
import io
import json
from pathlib import Path
from typing import Any

from lambda_sandbox.exceptions import MissingExtraError
from lambda_sandbox.extras import require
from lambda_sandbox.reports.tables import Table, html_page, img_tag
from lambda_sandbox.tools.tune.power_tuning import TierStats, TuneResult

__all__ = ["cold_start_table", "render_table", "table", "write_outputs"]


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
        if s.stopped:
            errors += f"; stopped: {s.stopped}"
        with_cold = s.price_with_cold_starts
        rows.append(
            [
                str(s.value),
                _vcpu_text(s),
                "failed" if s.failed else _fmt(s.average_duration, ".1f"),
                _fmt(s.average_billed_duration, ".1f"),
                _fmt(s.average_price, ".3e"),
                _fmt(per_million, ".2f"),
                _fmt(None if with_cold is None else (with_cold + s.request_price) * 1e6, ".2f"),
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
    "$ / 1M with cold starts",
    "Init (ms)",
    "Max mem (MB)",
    "Errors",
    "",
]


def table(result: TuneResult) -> Table:
    """The per-tier statistics; the chosen tier is `best`, failed and capped tiers marked."""
    classes = [
        "best" if s.value == result.power else "failed" if s.failed else "capped" * s.cpu_capped
        for s in result.stats
    ]
    title = f"Power tuning of {result.function} (strategy: {_strategy_label(result)})"
    return Table(title, list(_HEADERS), _rows(result), classes, _summary(result).splitlines())


def cold_start_table(result: TuneResult) -> Table | None:
    """At the chosen size: the month on-demand, with SnapStart and with provisioned concurrency."""
    cold = result.cold_starts
    if cold is None:
        return None
    bills = cold.bills()
    rows = [
        ["on-demand", _ms_text(cold.init_ms, "Init Duration"), _usd(bills["onDemand"])],
        ["SnapStart", _ms_text(cold.restore_ms, "Restore Duration")
         if cold.restore_ms is not None else (cold.snapstart_note or "-"),
         _usd(bills["snapStart"])],
        ["provisioned (1 environment)", "none: initialized ahead", _usd(bills["provisioned"])],
    ]  # fmt: skip
    title = (
        f"Cold starts at {cold.memory_mb} MB: {cold.monthly_invocations:,} invocations a month, "
        f"{cold.cold_start_rate:.1%} of them cold"
    )
    notes = [
        f"Warm Billed Duration {cold.warm_ms:.1f} ms. SnapStart adds its cache for the month and "
        "a restore charge per cold start; provisioned concurrency bills its environment all "
        "month and a lower duration rate (lambda_sandbox.cost.monthly_bill, prices in "
        "limits/prices.toml)."
    ]
    return Table(title, ["cold start", "what it costs in time", "$ a month"], rows, [], notes)


def _ms_text(value: float | None, what: str) -> str:
    return "-" if value is None else f"{what} {value:.1f} ms"


def _usd(value: float | None) -> str:
    return "-" if value is None else f"${value:,.2f}" if value >= 1 else f"${value:.4f}"


def render_table(result: TuneResult) -> Any:
    """The per-tier statistics as a rich table, the chosen tier highlighted, and the cold
    starts three ways at the chosen size."""
    from rich.console import Group

    cold = cold_start_table(result)
    main = table(result).rich()
    return main if cold is None else Group(main, cold.rich())


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
    parts.append(
        "every invoke a cold start (onlyColdStarts)"
        if result.only_cold_starts
        else f"'with cold starts': {result.cold_start_rate:.1%} of invocations bill their INIT"
    )
    for s in result.stats:
        if s.stopped:
            parts.append(f"{s.value} MB stopped early: {s.stopped}")
    if result.capped_tiers:
        parts.append(
            f"CPU capped on this {result.host_cpus}-core host at "
            f"{', '.join(map(str, result.capped_tiers))} MB: those tiers run slower than on Lambda"
        )
    if result.failed_tiers:
        parts.append(f"failed: {', '.join(map(str, result.failed_tiers))} MB")
    return "\n".join(parts)


def _init_panel(ax: Any, result: TuneResult, init_color: str, fail_color: str) -> None:
    """Init Duration per tier (the warm-up's cold start): for ML functions the biggest cost."""
    xs = [s.value for s in result.stats if s.init_duration is not None]
    inits = [s.init_duration or 0.0 for s in result.stats if s.init_duration is not None]
    widths = [x * 0.35 for x in xs]  # a log axis: bars as wide as their tier
    ax.bar(xs, inits, width=widths, color=init_color, alpha=0.75, zorder=3)
    for x, v in zip(xs, inits, strict=True):
        label = f"{v / 1000:,.1f} s" if v >= 1000 else f"{v:,.0f} ms"
        ax.annotate(label, (x, v), xytext=(0, 3), textcoords="offset points", ha="center",
                    fontsize=8, color=init_color)  # fmt: skip
    for s in result.stats:
        if s.stopped:
            ax.annotate("stopped", (s.value, 0), xytext=(0, 4), textcoords="offset points",
                        ha="center", fontsize=8, color=fail_color)  # fmt: skip
    ax.set_ylabel("Init Duration (ms)", color=init_color)
    ax.tick_params(axis="y", colors=init_color)
    ax.set_ylim(0, (max(inits, default=0.0) or 1.0) * 1.3)
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_xlabel("memory (MB)")


def _chart_png(result: TuneResult) -> bytes:
    require("reports", "the tune chart")
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
    cold_costs = [(s.price_with_cold_starts or 0.0) * 1e6 for s in good]
    all_x = [s.value for s in result.stats]

    fig = Figure(figsize=(10, 7.6), dpi=120, layout="constrained")
    ax, ax_init = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1.3])
    ax2 = ax.twinx()
    ax.plot(xs, durations, "o-", color=dur_color, lw=2, ms=7, zorder=4)
    ax2.plot(xs, costs, "s--", color=cost_color, lw=2, ms=7, zorder=4)
    if any(cold_costs) and not result.only_cold_starts:
        ax2.plot(xs, cold_costs, "^:", color=cost_color, lw=1.5, ms=6, alpha=0.8, zorder=3)
    _init_panel(ax_init, result, init_color="#8e5bb5", fail_color=fail_color)
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
    if any(cold_costs) and not result.only_cold_starts:
        handles.append(
            Line2D(
                [],
                [],
                color=cost_color,
                marker="^",
                ls=":",
                lw=1.5,
                label=f"$ per 1M, {result.cold_start_rate:.1%} cold starts",
            )
        )
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


def _html(result: TuneResult, image: bytes | None, missing: str = "") -> str:
    esc = html.escape
    title = esc(f"sandbox tune {result.function}")
    url = esc(result.visualization())
    cold = cold_start_table(result)
    chart = (
        img_tag("duration and cost against memory", image) if image else f"<p>{esc(missing)}</p>"
    )
    body = f"""<h1>{title}</h1>
<p>strategy: {esc(_strategy_label(result))}</p>
{chart}
{table(result).html(level=2)}
{cold.html(level=2) if cold is not None else ""}
<p><small>Power Tuning's own visualization of the same numbers (the data stays in the URL
hash): <a href="{url}">lambda-power-tuning.show</a></small></p>"""
    return html_page(f"sandbox tune {result.function}", body)


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
    data = result.to_json()
    try:
        image: bytes | None = _chart_png(result)
        missing = ""
    except MissingExtraError as exc:  # the numbers do not need the chart
        image, missing = None, str(exc)
        del paths["png"]
    if image is not None:
        paths["png"].write_bytes(image)
    paths["html"].write_text(_html(result, image, missing), encoding="utf-8")
    data["sandbox"]["charts"] = {k: str(v) for k, v in paths.items() if k != "json"}
    if missing:
        data["sandbox"]["charts"]["missing"] = missing
    paths["json"].write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return paths
