"""The report of one load run: reports/load-<name>.html (charts inline as base64 PNG, also saved
as load-<name>-<chart>.png), load-<name>.json (the LoadResult) and load-<name>-timeline.csv
(client and server side per second). Charts follow lambda_sandbox.reports.charts' style."""

from __future__ import annotations

import csv
import html
import json
from pathlib import Path
from typing import Any

from lambda_sandbox.reports.charts import (
    COST_COLOR,
    DURATION_COLOR,
    FAIL_COLOR,
    INIT_COLOR,
    MUTED,
    P95_COLOR,
    figure,
    png,
    usd,
)
from lambda_sandbox.reports.tables import img_tag
from lambda_sandbox.tools.load.result import LoadResult

__all__ = ["charts", "write_report"]


def _series(rows: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    pairs = [(row["t"], row[key]) for row in rows if row.get(key) is not None]
    return [p[0] for p in pairs], [float(p[1]) for p in pairs]


def charts(result: LoadResult) -> dict[str, bytes]:
    """users-rps, latency and server charts as PNG bytes."""
    out: dict[str, bytes] = {}
    tl, samples = result.timeline, result.samples

    fig = figure(8, 3.2)
    ax = fig.add_subplot()
    ax.plot(*_series(tl, "users"), color=MUTED, drawstyle="steps-post", label="users")
    ax.set_ylabel("users")
    ax.set_xlabel("time (s)")
    ax.grid(True, alpha=0.3)
    ax2 = ax.twinx()
    ax2.plot(*_series(tl, "rps"), color=DURATION_COLOR, label="requests/s")
    ax2.plot(*_series(tl, "failures_s"), color=FAIL_COLOR, label="failures/s (429s included)")
    ax2.set_ylabel("requests/s")
    ax2.set_ylim(bottom=0)
    ax.set_ylim(bottom=0)
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="upper left", fontsize=8)
    ax.set_title(f"{result.name}: users and throughput (Locust)", fontsize=10)
    out["users-rps"] = png(fig)

    fig = figure(8, 3.2)
    ax = fig.add_subplot()
    for key, color in (("p50", DURATION_COLOR), ("p95", P95_COLOR), ("p99", COST_COLOR)):
        ax.plot(*_series(tl, key), color=color, label=f"client {key}")
    ax.plot(
        *_series(samples, "DurationP95"), color=INIT_COLOR, ls="--", label="server Duration p95"
    )
    ax.set_ylabel("latency (ms)")
    ax.set_xlabel("time (s)")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(f"{result.name}: client latency (Locust, 10 s window)", fontsize=10)
    out["latency"] = png(fig)

    fig = figure(8, 3.2)
    ax = fig.add_subplot()
    ax.plot(
        *_series(samples, "ConcurrentExecutions"),
        color=DURATION_COLOR,
        drawstyle="steps-post",
        label="ConcurrentExecutions",
    )
    envs = [{"t": s["t"], "envs": s["EnvironmentsIdle"] + s["EnvironmentsBusy"]} for s in samples]
    ax.plot(*_series(envs, "envs"), color=MUTED, ls=":", label="live environments")
    ax.set_ylabel("concurrency, environments, cold starts")
    ax.set_xlabel("time (s)")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax2 = ax.twinx()
    if samples:
        base = samples[0]
        cum = [
            {
                "t": s["t"],
                "cold": s["ColdStarts"] - base["ColdStarts"],
                "thr": s["Throttles"] - base["Throttles"],
            }
            for s in samples
        ]
        ax.plot(*_series(cum, "cold"), color=INIT_COLOR, label="cold starts (cumulative)")
        ax2.plot(*_series(cum, "thr"), color=FAIL_COLOR, label="throttles (cumulative)")
    ax2.set_ylabel("throttles since start")
    ax2.set_ylim(bottom=0)
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="upper left", fontsize=8)
    ax.set_title(f"{result.name}: the sandbox's side (/_sandbox/metrics, every 1 s)", fontsize=10)
    out["server"] = png(fig)
    return out


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return html.escape(str(value))


def _table(rows: list[tuple[str, Any, Any]]) -> str:
    body = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{_fmt(c)}</td><td>{_fmt(s)}</td></tr>"
        for k, c, s in rows
    )
    return (
        f"<table><tr><th></th><th>client (Locust)</th><th>server (sandbox)</th></tr>{body}</table>"
    )


def _write_timeline(result: LoadResult, path: Path) -> None:
    keys_c = ["users", "rps", "failures_s", "p50", "p95", "p99", "requests", "failures"]
    keys_s = [k for k in (result.samples[0] if result.samples else {}) if k != "t"]
    rows = [
        {"t": r["t"], "side": "client", **{k: r.get(k) for k in keys_c}} for r in result.timeline
    ]
    rows += [
        {"t": r["t"], "side": "server", **{k: r.get(k) for k in keys_s}} for r in result.samples
    ]
    rows.sort(key=lambda r: r["t"])
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["t", "side", *keys_c, *keys_s])
        writer.writeheader()
        writer.writerows(rows)


def write_report(result: LoadResult, out_dir: Path) -> Path:
    stem = out_dir / f"load-{result.name}"
    pngs = charts(result)
    files = []
    for key, image in pngs.items():
        path = Path(f"{stem}-{key}.png")
        path.write_bytes(image)
        files.append(str(path))
    timeline_csv = Path(f"{stem}-timeline.csv")
    _write_timeline(result, timeline_csv)
    files.append(str(timeline_csv))
    html_path = Path(f"{stem}.html")
    json_path = Path(f"{stem}.json")
    result.report_html = str(html_path)
    result.files = [*files, str(json_path), str(html_path)]

    r, s, lat = result, result.server, result.latency_ms
    rows: list[tuple[str, Any, Any]] = [
        ("requests sent / seen", r.requests, (s["Invocations"] + s["Throttles"]) if s else None),
        ("invocations", None, s.get("Invocations")),
        ("successes", r.successes, (s["Invocations"] - s["Errors"]) if s else None),
        ("function errors", r.function_errors, s.get("Errors")),
        ("throttles (429)", r.throttles, s.get("Throttles")),
        ("other errors", r.other_errors, None),
        ("requests/s", r.rps, None),
        ("latency p50 (ms) / Duration p50", lat.get("p50"), s.get("DurationP50")),
        ("latency p95 (ms) / Duration p95", lat.get("p95"), s.get("DurationP95")),
        ("latency p99 (ms)", lat.get("p99"), None),
        ("latency max (ms)", lat.get("max"), None),
        ("cold starts", None, s.get("ColdStarts")),
        ("Init Duration p50 (ms)", None, s.get("InitDurationP50")),
        ("max concurrency (1 s samples)", None, s.get("MaxConcurrentExecutionsSeen")),
        ("max live environments", None, s.get("MaxEnvironments")),
        ("billed duration total (ms)", None, s.get("BilledDurationTotal")),
    ]
    verdict = (
        '<p class="ok">reconciled: true</p>'
        if r.reconciled
        else '<p class="bad">reconciled: false</p><ul class="bad">'
        + "".join(f"<li>{html.escape(e)}</li>" for e in r.reconciliation_errors)
        + "</ul>"
    )
    cost = (
        f"<p>Estimated AWS cost of this run: <b>{usd(r.cost_usd)}</b> "
        f"({r.memory_mb} MB, x86_64, {s.get('BilledDurationTotal')} billed ms, "
        f"{s.get('Invocations')} requests; {usd(r.cost_per_million_usd)} per 1M invocations)</p>"
        if r.cost_usd is not None
        else "<p>Estimated AWS cost: unknown (no server metrics or memory size).</p>"
    )
    images = "".join(
        f"<h2>{html.escape(key)}</h2>{img_tag(key, image)}" for key, image in pngs.items()
    )
    other = "".join(
        f"<li>{html.escape(k)}: {v}</li>" for k, v in sorted(r.other_error_kinds.items())
    )
    locust = (
        f'<p>Locust\'s own report: <a href="{html.escape(Path(r.locust_html).name)}">'
        f"{html.escape(Path(r.locust_html).name)}</a></p>"
        if r.locust_html
        else ""
    )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>load {html.escape(r.name)}</title>
<style>body{{font-family:sans-serif;max-width:62rem;margin:1.5rem auto}}
table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}}
.ok{{color:#2a9d3a;font-weight:bold}}.bad{{color:#c0392b;font-weight:bold}}img{{max-width:100%}}
</style></head><body>
<h1>Load test {html.escape(r.name)}</h1>
<p>scenario <b>{html.escape(r.scenario)}</b> (scale {r.scale:g}), {r.users} users at
{r.spawn_rate:g}/s, {r.duration_s:g} s planned, {r.elapsed_s:g} s elapsed, workers {r.workers};
target <code>{html.escape(r.target)}</code> ({html.escape(r.mode)}).</p>
<h2>Reconciliation</h2>{verdict}
<pre>{html.escape(chr(10).join(r.reconciliation_lines))}</pre>
<h2>Statistics</h2>{_table(rows)}
{"<p>other errors:</p><ul>" + other + "</ul>" if other else ""}
<p>Server Duration percentiles cover this run's invocations only
(/_sandbox/metrics?since=its start).</p>
{cost}
{locust}
{images}
</body></html>
"""
    html_path.write_text(page)
    json_path.write_text(json.dumps(result.as_json(), indent=2, default=str))
    return html_path
