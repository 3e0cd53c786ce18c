"""The tools over a sandbox: `tune`, `fit`, `load`, `report`, `demo`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lambda_sandbox.cli.common import (
    console,
    fail,
    lambda_client,
    running_url,
    sandbox_for,
    select,
)
from lambda_sandbox.exceptions import SandboxError

# ---------------------------------------------------------------------------------- tune
__all__ = ["demo", "fit", "load", "report", "tune"]


@click.command()
@click.argument("function")
@click.option(
    "--memory",
    default="128,256,512,1024,1769,3008",
    show_default=True,
    help="Memory sizes to try, in MB, comma-separated.",
)
@click.option("--num", default=10, show_default=True, help="Invocations per memory size.")
@click.option("--payload", default="{}", help="JSON, or @file to read it from a file.")
@click.option(
    "--strategy",
    type=click.Choice(["cost", "speed", "balanced"]),
    default="cost",
    show_default=True,
)
@click.option("--balanced-weight", default=0.5, show_default=True, type=float)
@click.option("--parallel", is_flag=True, help="Invoke each memory size's batch concurrently.")
@click.option(
    "--endpoint",
    default=None,
    help="A running sandbox (default: `sandbox up`'s, else a throwaway one).",
)
@click.option("--functions", "functions_dir", type=click.Path(path_type=Path), default="functions")
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
    endpoint: str | None,
    functions_dir: Path,
    out_dir: Path,
) -> None:
    """Find FUNCTION's cheapest / fastest / balanced memory size, like AWS Lambda Power
    Tuning, locally: each size really limits memory and CPU here."""
    from rich.progress import Progress

    from lambda_sandbox.tools.tune import render_table, write_outputs
    from lambda_sandbox.tools.tune import tune as run_tune

    data = Path(payload[1:]).read_bytes() if payload.startswith("@") else payload.encode()
    sizes = [int(m) for m in memory.split(",") if m.strip()]
    url, thread = sandbox_for(function, endpoint, functions_dir)
    try:
        with Progress(console=console) as bar:
            task = bar.add_task(f"tuning {function}", total=1.0)
            result = run_tune(
                lambda_client(url),
                function,
                sizes,
                num,
                data,
                strategy=strategy,
                balanced_weight=balanced_weight,
                parallel=parallel,
                progress=lambda msg, frac: bar.update(task, completed=frac, description=msg),
            )
        console.print(render_table(result))
        paths = write_outputs(result, out_dir)
        if result.ok:
            console.print(f"[bold green]best ({strategy}): {result.power} MB[/]")
        else:
            console.print("[bold red]every memory size failed[/]")
        for kind, path in paths.items():
            console.print(f"{kind}: {path}")
    except (SandboxError, ValueError) as exc:
        fail(str(exc))
    finally:
        if thread is not None:
            thread.stop()


@click.command()
@click.argument("function")
@click.option("--memory", type=int, default=None, help="MemorySize to measure at [its own].")
@click.option("--invokes", default=3, show_default=True, help="Warm invokes per variant.")
@click.option("--functions", "functions_dir", type=click.Path(path_type=Path), default="functions")
@click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), default="reports", show_default=True
)
def fit(
    function: str, memory: int | None, invokes: int, functions_dir: Path, out_dir: Path
) -> None:
    """Does FUNCTION's model fit Lambda? Storage, peak memory and latency of each variant in
    its function.yaml's Fit section, measured here, against Lambda's limits."""
    from rich.progress import Progress

    from lambda_sandbox.config import discover_functions
    from lambda_sandbox.tools.fit import fit as run_fit
    from lambda_sandbox.tools.fit import fit_spec, rich_tables, write_outputs

    try:
        (config,) = select(discover_functions(functions_dir), function, f"in {functions_dir}")
        fit_spec(config)  # a function without variants fails before any work starts
        with Progress(console=console) as bar:
            task = bar.add_task(f"fit {function}", total=1.0)
            result = run_fit(
                config,
                memory_mb=memory,
                invokes=invokes,
                progress=lambda msg, frac: bar.update(task, completed=frac, description=msg),
            )
        for table in rich_tables(result):
            console.print(table)
        for kind, path in write_outputs(result, out_dir).items():
            console.print(f"{kind}: {path}")
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
@click.option("--endpoint", default=None, help="A running sandbox (default: `sandbox up`'s).")
@click.option("--workers", type=int, default=0, help="Locust worker processes.")
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
    endpoint: str | None,
    workers: int,
    out_dir: Path,
) -> None:
    """Load-test TARGET (a function name, or a function URL) with a seed study's Locust
    scenario; report client and server side together, and reconcile the counts."""
    from lambda_sandbox.tools.load import invocations_url, run_load

    data = Path(payload[1:]).read_bytes() if payload.startswith("@") else payload.encode()
    api = endpoint or running_url()
    if api is None:
        fail("no running sandbox here: start `sandbox up` (or pass --endpoint)")
        return
    function = None if target.startswith("http") else target
    url = target if function is None else invocations_url(api, target)
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
    )
    for line in result.reconciliation_lines:
        console.print(line)
    console.print(f"report: {out_dir}")
    if not result.reconciled:
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
    for path in write_report(bench_json, out).values():
        console.print(str(path))


# ---------------------------------------------------------------------------------- demo
@click.command()
@click.option("--functions", "functions_dir", type=click.Path(path_type=Path), default="functions")
def demo(functions_dir: Path) -> None:
    """Start the sandbox, invoke the example functions, show what Lambda would do."""
    from lambda_sandbox.tools.demo import run_demo

    try:
        run_demo(functions_dir, console)
    except SandboxError as exc:
        fail(str(exc))
