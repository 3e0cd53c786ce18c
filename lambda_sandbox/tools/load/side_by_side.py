"""One load scenario three ways (issue 18): on-demand ($LATEST), SnapStart (a version published
with its snapshot) and provisioned concurrency (a version with N environments initialized
ahead), run one after the other against the same function in one sandbox, each with its own
Locust report, then one page side by side: reports/load-<name>-side-by-side.html (+ .json).

What each mode's column says is measured in its own run: cold starts (INIT), restores,
provisioned invocations and spillovers, Init / Restore Duration p50, client latency, and the
run's AWS cost as its mode is billed (lambda_sandbox.cost): on-demand compute and requests;
SnapStart's cache for the run's length and a restore charge per restore; provisioned
concurrency's configured GB-seconds (in 5-minute blocks, as AWS bills them) and its lower
duration rate, spillovers at the on-demand rate. Versions made for the comparison are
deleted and SnapStart is set back afterwards.
"""

from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambda_sandbox.client import set_snapstart, wait_published
from lambda_sandbox.config.function import snapstart_runtime
from lambda_sandbox.cost import monthly_bill
from lambda_sandbox.limits import load_limits
from lambda_sandbox.reports.charts import (
    COST_COLOR,
    DURATION_COLOR,
    INIT_COLOR,
    P95_COLOR,
    figure,
    png,
    usd,
)
from lambda_sandbox.reports.tables import img_tag
from lambda_sandbox.tools.load.result import LoadResult
from lambda_sandbox.tools.load.run import invocations_url, run_load
from lambda_sandbox.types import Progress

__all__ = ["ModeRun", "run_side_by_side"]

MODES = ("on-demand", "SnapStart", "provisioned")
_READY_WAIT_S = 300.0


@dataclass
class ModeRun:
    mode: str
    qualifier: str | None = None
    result: LoadResult | None = None
    note: str | None = None  # why this mode did not run
    cost_usd: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "qualifier": self.qualifier,
            "note": self.note,
            "costUsd": self.cost_usd,
            "result": self.result.as_json() if self.result else None,
        }


def run_cost(run: ModeRun, provisioned: int, arch: str = "x86_64") -> float | None:
    """The run's AWS cost as its mode is billed."""
    r = run.result
    if r is None or r.memory_mb is None or not r.server:
        return None
    s, gb = r.server, r.memory_mb / 1024
    if run.mode == "on-demand":
        return r.cost_usd
    if run.mode == "SnapStart":
        snap = load_limits().prices["snapstart"]
        extra = gb * r.elapsed_s * snap["cache_gb_second"]
        extra += gb * snap["restore_gb"] * s.get("SnapStartRestores", 0)
        return None if r.cost_usd is None else r.cost_usd + extra
    invocations = int(s.get("Invocations", 0))
    each = s["BilledDurationTotal"] / invocations if invocations else 0.0
    spilled = s.get("ProvisionedConcurrencySpilloverInvocations", 0)
    rate = spilled / invocations if invocations else 0.0
    bill = monthly_bill(invocations, each, r.memory_mb, provisioned=provisioned,
                        provisioned_s=r.elapsed_s, arch=arch, spillover_rate=rate)  # fmt: skip
    return bill.total


def _publish(client: Any, function: str) -> str:
    version = str(client.publish_version(FunctionName=function)["Version"])
    state = wait_published(client, function, version, _READY_WAIT_S)
    if state["State"] != "Active":
        raise RuntimeError(f"version {version} is {state['State']}: {state.get('StateReason')}")
    return version


def _provisioned_ready(client: Any, function: str, version: str) -> dict[str, Any]:
    deadline = time.monotonic() + _READY_WAIT_S
    while True:
        config: dict[str, Any] = client.get_provisioned_concurrency_config(
            FunctionName=function, Qualifier=version
        )
        if config["Status"] != "IN_PROGRESS" or time.monotonic() > deadline:
            return config
        time.sleep(0.2)


def run_side_by_side(
    client: Any,
    api_url: str,
    function: str,
    scenario: str,
    *,
    provisioned: int,
    out_dir: Path = Path("reports"),
    progress: Progress | None = None,
    **load_kw: Any,
) -> tuple[Path, list[ModeRun]]:
    """Run `scenario` on-demand, with SnapStart and with `provisioned` environments; write the
    page that puts them side by side. `load_kw` goes to each `run_load`."""
    say = progress or (lambda _m: None)
    url, metrics = invocations_url(api_url, function), f"{api_url}/_sandbox/metrics"
    label = load_kw.pop("name", None) or f"{scenario}-{function}"
    runs = [ModeRun(mode) for mode in MODES]

    def load(run: ModeRun) -> None:
        say(f"{run.mode}: {scenario}" + (f" on version {run.qualifier}" if run.qualifier else ""))
        slug = run.mode.lower()
        run.result = run_load(url, scenario, metrics_url=metrics, function=function,
                              qualifier=run.qualifier, name=f"{label}-{slug}", out_dir=out_dir,
                              progress=progress, **load_kw)  # fmt: skip

    load(runs[0])
    config = client.get_function_configuration(FunctionName=function)
    before = {v["Version"] for v in client.list_versions_by_function(FunctionName=function)[
        "Versions"]}  # fmt: skip
    was_on = (config.get("SnapStart") or {}).get("ApplyOn") == "PublishedVersions"
    made: list[str] = []
    try:
        if not snapstart_runtime(str(config.get("Runtime") or "")):
            runs[
                1
            ].note = f"Lambda offers SnapStart on python3.12 and later, not {config['Runtime']}"
        else:
            if not was_on:
                set_snapstart(client, function, "PublishedVersions")
            try:
                runs[1].qualifier = _publish(client, function)
                made.append(runs[1].qualifier)
                load(runs[1])
            except RuntimeError as exc:
                runs[1].note = str(exc)
            finally:
                if not was_on:
                    set_snapstart(client, function, "None")
        if was_on:  # provisioned concurrency takes no SnapStart version
            set_snapstart(client, function, "None")
        runs[2].qualifier = _publish(client, function)
        made.append(runs[2].qualifier)
        client.put_provisioned_concurrency_config(
            FunctionName=function, Qualifier=runs[2].qualifier,
            ProvisionedConcurrentExecutions=provisioned,
        )  # fmt: skip
        say(f"provisioned: {provisioned} environment(s) initializing")
        ready = _provisioned_ready(client, function, runs[2].qualifier)
        if ready["Status"] == "READY":
            load(runs[2])
        else:
            runs[2].note = f"provisioned concurrency {ready['Status']}: {ready.get('StatusReason')}"
    finally:
        for version in made:
            if version not in before:
                if version == runs[2].qualifier:
                    client.delete_provisioned_concurrency_config(
                        FunctionName=function, Qualifier=version
                    )
                client.delete_function(FunctionName=function, Qualifier=version)
        if was_on:
            set_snapstart(client, function, "PublishedVersions")
    for run in runs:
        run.cost_usd = run_cost(run, provisioned)
    return write_side_by_side(runs, label, provisioned, out_dir), runs


# the page -----------------------------------------------------------------------------------
_ROWS: tuple[tuple[str, str, str], ...] = (
    # (label, "client" | "server", key)
    ("requests sent", "client", "requests"),
    ("successes", "client", "successes"),
    ("throttles (429)", "client", "throttles"),
    ("function errors", "client", "function_errors"),
    ("cold starts (INIT or restore)", "server", "ColdStarts"),
    ("of them restores (SnapStart)", "server", "SnapStartRestores"),
    ("provisioned invocations", "server", "ProvisionedConcurrencyInvocations"),
    ("spilled over to on-demand", "server", "ProvisionedConcurrencySpilloverInvocations"),
    ("Init Duration p50 (ms)", "server", "InitDurationP50"),
    ("Restore Duration p50 (ms)", "server", "RestoreDurationP50"),
    ("latency p50 (ms)", "latency", "p50"),
    ("latency p95 (ms)", "latency", "p95"),
    ("latency p99 (ms)", "latency", "p99"),
    ("latency max (ms)", "latency", "max"),
    ("billed duration total (ms)", "server", "BilledDurationTotal"),
)


def _value(result: LoadResult, side: str, key: str) -> Any:
    if side == "client":
        return getattr(result, key)
    if side == "latency":
        return result.latency_ms.get(key)
    return result.server.get(key)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:,.1f}" if isinstance(value, float) else html.escape(str(value))


def chart(runs: list[ModeRun]) -> bytes:
    done = [r for r in runs if r.result is not None]
    fig = figure(8, 3.4)
    ax = fig.add_subplot()
    width = 0.25
    keys = (("p50", DURATION_COLOR), ("p95", P95_COLOR), ("p99", COST_COLOR))
    for i, (key, color) in enumerate(keys):
        xs = [n + (i - 1) * width for n in range(len(done))]
        ax.bar(xs, [(r.result.latency_ms.get(key) or 0) if r.result else 0 for r in done],
               width, color=color, label=f"client {key}")  # fmt: skip
    ax.set_xticks(range(len(done)), [r.mode for r in done])
    ax.set_ylabel("latency (ms)")
    ax.grid(True, axis="y", alpha=0.3)
    ax2 = ax.twinx()
    starts = [r.result.server.get("ColdStarts", 0) if r.result else 0 for r in done]
    ax2.plot(range(len(done)), starts, "o", color=INIT_COLOR, label="cold starts (INIT or restore)")
    ax2.set_ylabel("cold starts")
    ax2.set_ylim(bottom=0)
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="upper right", fontsize=8)
    ax.set_title("one scenario: on-demand, SnapStart, provisioned (client latency)", fontsize=10)
    return png(fig)


def write_side_by_side(runs: list[ModeRun], label: str, provisioned: int, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    page, data = (
        out_dir / f"load-{label}-side-by-side.html",
        out_dir / f"load-{label}-side-by-side.json",
    )
    head = "".join(f"<th>{html.escape(r.mode)}</th>" for r in runs)
    body = ""
    for name, side, key in _ROWS:
        cells = "".join(
            f"<td>{_cell(_value(r.result, side, key)) if r.result else '-'}</td>" for r in runs
        )
        body += f"<tr><th>{html.escape(name)}</th>{cells}</tr>"
    body += "<tr><th>reconciled</th>" + "".join(
        f"<td>{'yes' if r.result and r.result.reconciled else 'no'}</td>" for r in runs
    ) + "</tr>"  # fmt: skip
    body += "<tr><th>AWS cost of this run</th>" + "".join(
        f"<td><b>{usd(r.cost_usd)}</b></td>" if r.cost_usd is not None else "<td>-</td>"
        for r in runs
    ) + "</tr>"  # fmt: skip
    links = "".join(
        f'<li>{html.escape(r.mode)}: <a href="{html.escape(Path(r.result.report_html).name)}">'
        f"{html.escape(Path(r.result.report_html).name)}</a>"
        + (f" (version {html.escape(r.qualifier)})" if r.qualifier else "")
        + "</li>"
        if r.result and r.result.report_html
        else f"<li>{html.escape(r.mode)}: not run ({html.escape(r.note or '?')})</li>"
        for r in runs
    )
    first = next((r.result for r in runs if r.result), None)
    about = (
        f"scenario <b>{html.escape(first.scenario)}</b> (scale {first.scale:g}), {first.users} "
        f"users, {first.duration_s:g} s each, function <code>{html.escape(first.function or '')}"
        f"</code> at {first.memory_mb} MB"
        if first
        else ""
    )
    png_bytes = chart(runs)
    (out_dir / f"load-{label}-side-by-side.png").write_bytes(png_bytes)
    page.write_text(f"""<!doctype html>
<html><head><meta charset="utf-8"><title>load {html.escape(label)} side by side</title>
<style>body{{font-family:sans-serif;max-width:62rem;margin:1.5rem auto}}
table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}}img{{max-width:100%}}
</style></head><body>
<h1>Load test {html.escape(label)}: on-demand, SnapStart, provisioned</h1>
<p>{about}; the three runs one after the other in one sandbox, provisioned concurrency
{provisioned}. Costs are this run's, as each mode is billed (SnapStart: the cache for the
run's length and a restore charge per restore; provisioned: {provisioned} environment(s) in
5-minute blocks, spillovers at the on-demand rate).</p>
<table><tr><th></th>{head}</tr>{body}</table>
{img_tag("side-by-side", png_bytes)}
<h2>Each run's own report</h2><ul>{links}</ul>
</body></html>
""")
    summary = {"label": label, "provisioned": provisioned, "runs": [r.to_json() for r in runs]}
    data.write_text(json.dumps(summary, indent=2, default=str))
    return page
