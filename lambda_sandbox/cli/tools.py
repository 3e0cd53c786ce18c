"""The tools over a sandbox: `tune`, `fit`, `load`, `report`, `demo`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from lambda_sandbox.cli.common import (
    Project,
    console,
    endpoint_option,
    fail,
    find_url,
    lambda_client,
    progress,
    progress_bar,
    project_options,
    read_payload,
    sandbox_for,
    select,
)
from lambda_sandbox.exceptions import SandboxError

__all__ = ["demo", "fit", "load", "report", "tune"]


# ---------------------------------------------------------------------------------- tune
@click.command()
@click.argument("function")
@click.option(
    "--memory",
    default="128,256,512,1024,1769,3008",
    show_default=True,
    help="Memory sizes to try, in MB, comma-separated.",
)
@click.option("--num", default=10, show_default=True, help="Invocations per memory size.")
@click.option(
    "--payload",
    default="{}",
    help="JSON, or @file; a file may hold Power Tuning's weighted list "
    '[{"payload": ..., "weight": 3}, ...].',
)
@click.option(
    "--strategy",
    type=click.Choice(["cost", "speed", "balanced"]),
    default="cost",
    show_default=True,
)
@click.option("--balanced-weight", default=0.5, show_default=True, type=float)
@click.option("--parallel", is_flag=True, help="Invoke each memory size's batch concurrently.")
@click.option(
    "--only-cold-starts", is_flag=True, help="Every counted invoke is a cold start (no trimming)."
)
@click.option(
    "--discard-top-bottom",
    type=click.FloatRange(0.0, 0.4),
    default=0.2,
    show_default=True,
    help="Share of the fastest and slowest invokes left out of the averages.",
)
@click.option(
    "--sleep-between-runs-ms",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Pause after each invoke (in series), for rate-limited downstreams.",
)
@click.option(
    "--cold-start-rate",
    type=click.FloatRange(0.0, 1.0),
    default=0.01,
    show_default=True,
    help="Share of invocations that are cold starts, for the cost with INIT billed.",
)
@click.option(
    "--snapstart",
    is_flag=True,
    help="Also measure a SnapStart restore at the chosen size (publishes a version, deletes "
    "it after) for the cold-start table: on-demand, SnapStart and provisioned side by side.",
)
@click.option(
    "--monthly-invocations",
    type=click.IntRange(1),
    default=1_000_000,
    show_default=True,
    help="Invocations a month, for the cold-start table's monthly bills.",
)
@click.option(
    "--auto-optimize",
    is_flag=True,
    help="Write the chosen MemorySize into function.yaml or the template (shows the diff).",
)
@endpoint_option
@project_options
@click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), default="reports", show_default=True
)
def tune(
    function: str,
    memory: str,
    num: int,
    payload: str,
    strategy: str,
    balanced_weight: float,
    parallel: bool,
    only_cold_starts: bool,
    discard_top_bottom: float,
    sleep_between_runs_ms: int,
    cold_start_rate: float,
    snapstart: bool,
    monthly_invocations: int,
    auto_optimize: bool,
    endpoint: str | None,
    project: Project,
    out_dir: Path,
) -> None:
    """Find FUNCTION's cheapest / fastest / balanced memory size, like AWS Lambda Power
    Tuning, locally: each size really limits memory and CPU here."""
    from lambda_sandbox.tools.tune import generate_payloads, render_table, write_outputs
    from lambda_sandbox.tools.tune import tune as run_tune

    raw = read_payload(payload)
    try:
        payloads = generate_payloads(num, json.loads(raw or b"{}"))
        sizes = [int(m) for m in memory.split(",") if m.strip()]
    except ValueError as exc:
        fail(f"--payload / --memory: {exc}")
    try:
        url, thread = sandbox_for(function, endpoint, project)
    except SandboxError as exc:
        fail(str(exc))
    try:
        with progress_bar(f"tuning {function}") as bar:
            result = run_tune(
                lambda_client(url),
                function,
                sizes,
                num,
                payloads,
                strategy=strategy,
                balanced_weight=balanced_weight,
                parallel=parallel,
                progress=bar,
                discard_top_bottom=discard_top_bottom,
                only_cold_starts=only_cold_starts,
                sleep_between_runs_ms=sleep_between_runs_ms,
                cold_start_rate=cold_start_rate,
                snapstart=snapstart,
                monthly_invocations=monthly_invocations,
            )
        console.print(render_table(result))
        paths = write_outputs(result, out_dir)
        if result.ok:
            console.print(f"[bold green]best ({strategy}): {result.power} MB[/]")
        else:
            console.print("[bold red]every memory size failed[/]")
        for kind, path in paths.items():
            console.print(f"{kind}: {path}", highlight=False)
        if auto_optimize and result.power is not None:
            _auto_optimize(project, function, result.power)
    except (SandboxError, ValueError) as exc:
        fail(str(exc))
    finally:
        if thread is not None:
            thread.stop()
    if not result.ok:
        sys.exit(1)


def _auto_optimize(project: Project, function: str, memory_mb: int) -> None:
    from lambda_sandbox.tools.tune.auto_optimize import write_memory_size

    (config,) = select(project.configs(), function, project.where)
    path, diff = write_memory_size(config, memory_mb)
    if not diff:
        console.print(f"{path}: MemorySize is already {memory_mb}", highlight=False)
        return
    console.print(f"auto-optimize: MemorySize {memory_mb} written to {path}", highlight=False)
    sys.stdout.write(diff)


# ----------------------------------------------------------------------------------- fit
@click.command()
@click.argument("function")
@click.option("--memory", type=int, default=None, help="MemorySize to measure at [its own].")
@click.option("--invokes", default=3, show_default=True, help="Warm invokes per variant.")
@project_options
@click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), default="reports", show_default=True
)
def fit(
    function: str,
    memory: int | None,
    invokes: int,
    project: Project,
    out_dir: Path,
) -> None:
    """Does FUNCTION's model fit Lambda? Storage, peak memory and latency of each variant in
    its function.yaml's Fit section, measured here, against Lambda's limits."""
    from lambda_sandbox.tools.fit import fit as run_fit
    from lambda_sandbox.tools.fit import fit_spec, rich_tables, write_outputs

    try:
        (config,) = select(project.configs(), function, project.where)
        fit_spec(config)  # a function without variants fails before any work starts
        with progress_bar(f"fit {function}") as bar:
            result = run_fit(config, memory_mb=memory, invokes=invokes, progress=bar)
        for table in rich_tables(result):
            console.print(table)
        for kind, path in write_outputs(result, out_dir).items():
            console.print(f"{kind}: {path}", highlight=False)
    except SandboxError as exc:
        fail(str(exc))


# ---------------------------------------------------------------------------------- load
@click.command()
@click.argument("target")
@click.option(
    "--scenario",
    type=click.Choice(["bursty", "medium", "heavy", "ramp"]),
    default="bursty",
    show_default=True,
)
@click.option("--users", type=int, default=None, help="Override the scenario's users.")
@click.option("--spawn-rate", type=float, default=None, help="Users started per second.")
@click.option("--duration", type=float, default=None, help="Seconds (override the scenario).")
@click.option(
    "--scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Shorten every duration and wait (e.g. 0.1 for a quick run).",
)
@click.option("--payload", default="{}", help="JSON, or @file to read it from a file.")
@click.option("--workers", type=int, default=0, help="Locust worker processes.")
@click.option(
    "--side-by-side",
    is_flag=True,
    help="Run the scenario three times: on-demand, on a SnapStart version and on a version "
    "with provisioned concurrency; one page compares them.",
)
@click.option(
    "--provisioned",
    type=click.IntRange(min=1),
    default=None,
    help="Provisioned environments for --side-by-side [default: the scenario's users].",
)
@endpoint_option
@project_options
@click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), default="reports", show_default=True
)
def load(
    target: str,
    scenario: str,
    users: int | None,
    spawn_rate: float | None,
    duration: float | None,
    scale: float,
    payload: str,
    workers: int,
    side_by_side: bool,
    provisioned: int | None,
    endpoint: str | None,
    project: Project,
    out_dir: Path,
) -> None:
    """Load-test TARGET (a function name, or a function URL) with a seed study's Locust
    scenario; report client and server side together, and reconcile the counts. With no
    sandbox running, a throwaway one serves the function."""
    from lambda_sandbox.extras import require
    from lambda_sandbox.tools.load import SCENARIOS, invocations_url, run_load

    try:
        require("load", "sandbox load")  # before a throwaway sandbox starts for nothing
    except SandboxError as exc:
        fail(str(exc))
    data = read_payload(payload)
    function = None if target.startswith("http") else target
    if side_by_side and function is None:
        fail("--side-by-side needs a function name (it publishes versions of it), not a URL")
    if side_by_side and function is not None:
        _load_side_by_side(
            function, scenario, provisioned or users or SCENARIOS[scenario].users, endpoint,
            project, out_dir, users=users, spawn_rate=spawn_rate, duration_s=duration,
            scale=scale, payload=data, workers=workers,
        )  # fmt: skip
        return
    thread = None
    if function is None:
        api = find_url(endpoint)
        if api is None:
            fail("a function URL target needs its running sandbox: pass --endpoint")
    else:
        try:
            api, thread = sandbox_for(function, endpoint, project)
        except SandboxError as exc:
            fail(str(exc))
    url = target if function is None else invocations_url(api, target)
    try:
        with progress(f"load {scenario}: {target}", interval_s=5.0) as say:
            result = run_load(
                url,
                scenario,
                users=users,
                spawn_rate=spawn_rate,
                duration_s=duration,
                scale=scale,
                payload=data,
                out_dir=out_dir,
                metrics_url=f"{api}/_sandbox/metrics",
                workers=workers,
                function=function,
                progress=say,
            )
    except SandboxError as exc:
        fail(str(exc))
    finally:
        if thread is not None:
            thread.stop()
    for line in result.reconciliation_lines:
        console.print(line, highlight=False)
    console.print(f"report: {result.report_html}", highlight=False)
    if result.locust_html:
        console.print(f"Locust's report: {result.locust_html}", highlight=False)
    if not result.reconciled:
        sys.exit(1)


def _load_side_by_side(
    function: str,
    scenario: str,
    provisioned: int,
    endpoint: str | None,
    project: Project,
    out_dir: Path,
    **load_kw: Any,
) -> None:
    from lambda_sandbox.client import lambda_client
    from lambda_sandbox.tools.load.side_by_side import run_side_by_side

    try:
        api, thread = sandbox_for(function, endpoint, project)
    except SandboxError as exc:
        fail(str(exc))
    try:
        with progress(f"load {scenario} side by side: {function}", interval_s=5.0) as say:
            page, runs = run_side_by_side(
                lambda_client(api), api, function, scenario, provisioned=provisioned,
                out_dir=out_dir, progress=say, **load_kw,
            )  # fmt: skip
    except (SandboxError, RuntimeError) as exc:
        fail(str(exc))
    except Exception as exc:  # botocore's ClientError: the API's own answer, AWS-shaped
        fail(f"{type(exc).__name__}: {exc}")
    finally:
        if thread is not None:
            thread.stop()
    for run in runs:
        r = run.result
        if r is None:
            console.print(f"{run.mode}: not run ({run.note})", highlight=False)
            continue
        s = r.server
        console.print(
            f"{run.mode}: {r.requests} requests, p95 {r.latency_ms.get('p95')} ms, "
            f"{s.get('ColdStarts')} cold starts, {s.get('SnapStartRestores')} restores, "
            f"{s.get('ProvisionedConcurrencySpilloverInvocations')} spilled over, "
            f"reconciled {r.reconciled}",
            highlight=False,
        )
    console.print(f"report: {page}", highlight=False)
    if not all(r.result is None or r.result.reconciled for r in runs):
        sys.exit(1)


# -------------------------------------------------------------------------------- report
@click.command()
@click.argument("bench_json", type=click.Path(path_type=Path), default="reports/bench.json")
@click.option("--out", type=click.Path(path_type=Path), default="reports", show_default=True)
def report(bench_json: Path, out: Path) -> None:
    """Turn `tox -e bench` results into reports/bench.md and bench.html (with charts)."""
    from lambda_sandbox.reports.bench import write_report

    if not bench_json.exists():
        fail(f"{bench_json} not found: run `./dev bench` first")
    try:
        for path in write_report(bench_json, out).values():
            console.print(str(path), highlight=False)
    except SandboxError as exc:
        fail(str(exc))


# ---------------------------------------------------------------------------------- demo
@click.command()
@project_options
def demo(
    project: Project,
) -> None:
    """Start the sandbox, invoke the example functions, show what Lambda would do."""
    from lambda_sandbox.tools.demo import run_demo

    try:
        run_demo(project.functions_dir, console)
    except SandboxError as exc:
        fail(str(exc))
