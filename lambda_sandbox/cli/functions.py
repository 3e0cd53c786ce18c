"""Commands about a project's functions: `ls`, `build`, `models build`, `invoke`, `logs`,
`stats`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
from rich.table import Table

from lambda_sandbox.cli.common import (
    console,
    fail,
    lambda_client,
    running_url,
    sandbox_for,
    select,
)
from lambda_sandbox.exceptions import SandboxError

# --------------------------------------------------------------------------- build / ls
__all__ = ["build", "invoke", "list_functions", "logs", "models", "stats"]


@click.command()
@click.argument("function", required=False)
@click.option("--functions", "functions_dir", type=click.Path(path_type=Path), default="functions")
def build(function: str | None, functions_dir: Path) -> None:
    """Build bundles (code + requirements) like `sam build`, and check them against 250 MB."""
    from lambda_sandbox.build.bundle import build_bundle
    from lambda_sandbox.config import discover_functions

    try:
        configs = select(discover_functions(functions_dir), function, f"in {functions_dir}")
        for config in configs:
            with console.status(f"building {config.name}") as status:
                bundle = build_bundle(config, Path(".sandbox/build"), lambda m: status.update(m))
            style = "red" if bundle.over_limit else "green"
            console.print(f"[{style}]{bundle.describe()}[/] -> {bundle.path}")
    except SandboxError as exc:
        fail(str(exc))


@click.group()
def models() -> None:
    """Model artifacts of functions that declare `Models` in function.yaml."""


@models.command(name="build")
@click.argument("function", required=False)
@click.option("--functions", "functions_dir", type=click.Path(path_type=Path), default="functions")
def models_build(function: str | None, functions_dir: Path) -> None:
    """Build (or find in the cache) the model artifacts of FUNCTION, or of every function."""
    from lambda_sandbox.build.model_artifacts import ensure_models, model_spec
    from lambda_sandbox.config import discover_functions

    try:
        configs = [c for c in discover_functions(functions_dir) if model_spec(c) is not None]
        configs = select(configs, function, f"with Models in {functions_dir}")
        for config in configs:
            with console.status(f"{config.name}: models") as status:
                path = ensure_models(config, lambda m: status.update(m))
            assert path is not None
            spec = model_spec(config)
            assert spec is not None
            size = sum((path / a).stat().st_size for a in spec.artifacts) / 1e6
            fits = "fits" if size <= config.ephemeral_mb * 1.048576 else "does NOT fit"
            console.print(
                f"[green]{config.name}[/]: {size:.1f} MB in {path} ({fits} in its "
                f"{config.ephemeral_mb} MB /tmp)"
            )
    except SandboxError as exc:
        fail(str(exc))


@click.command(name="ls")
@click.option("--functions", "functions_dir", type=click.Path(path_type=Path), default="functions")
def list_functions(functions_dir: Path) -> None:
    """List the functions and their configuration."""
    from lambda_sandbox.config import discover_functions
    from lambda_sandbox.limits import load_limits

    limits = load_limits()
    try:
        configs = discover_functions(functions_dir)
    except SandboxError as exc:
        fail(str(exc))
        return
    table = Table()
    table.add_column("function", no_wrap=True)
    for col in (
        "handler",
        "runtime",
        "memory",
        "vCPU (Lambda)",
        "timeout",
        "/tmp",
        "reserved",
        "URL",
    ):
        table.add_column(col)
    for c in configs:
        table.add_row(
            c.name,
            c.handler,
            c.runtime,
            f"{c.memory_mb} MB",
            f"{limits.vcpus_for(c.memory_mb):.2f}",
            f"{c.timeout_s:.0f} s",
            f"{c.ephemeral_mb} MB",
            "-" if c.reserved_concurrency is None else str(c.reserved_concurrency),
            "yes" if c.function_url is not None else "-",
        )
    console.print(table)


@click.command()
@click.argument("function")
@click.option("--payload", default="{}", help="JSON, or @file to read it from a file.")
@click.option(
    "--endpoint",
    default=None,
    help="A running sandbox (default: the one `sandbox up` started here, else a throwaway one).",
)
@click.option("--functions", "functions_dir", type=click.Path(path_type=Path), default="functions")
def invoke(function: str, payload: str, endpoint: str | None, functions_dir: Path) -> None:
    """Invoke FUNCTION once and print its answer and log tail."""
    import base64

    data = Path(payload[1:]).read_bytes() if payload.startswith("@") else payload.encode()
    url, thread = sandbox_for(function, endpoint, functions_dir)
    try:
        client = lambda_client(url)
        t0 = time.perf_counter()
        resp = client.invoke(FunctionName=function, Payload=data, LogType="Tail")
        elapsed = (time.perf_counter() - t0) * 1000
        body = resp["Payload"].read().decode()
        console.print(base64.b64decode(resp.get("LogResult", "")).decode(), end="")
        style = "red" if resp.get("FunctionError") else "green"
        console.print(f"[{style}]{body}[/]")
        console.print(f"round trip {elapsed:.1f} ms")
    except Exception as exc:  # boto3 ClientError and friends: say it and exit 1
        fail(str(exc))
    finally:
        if thread is not None:
            thread.stop()


# --------------------------------------------------------------------------------- stats
@click.command()
@click.option("--endpoint", default=None, help="A running sandbox (default: `sandbox up`'s).")
@click.option("--watch", "-w", is_flag=True, help="Refresh every second.")
def stats(endpoint: str | None, watch: bool) -> None:
    """Per-function metrics, CloudWatch-style: invocations, errors, throttles, durations."""
    import urllib.request

    from rich.live import Live

    url = endpoint or running_url()
    if url is None:
        fail("no running sandbox here: start `sandbox up`, or pass --endpoint")
        return

    def table() -> Table:
        with urllib.request.urlopen(f"{url}/_sandbox/metrics", timeout=5) as resp:
            data = json.load(resp)
        t = Table(title=f"{url}  {time.strftime('%H:%M:%S')}")
        for col in (
            "function",
            "invocations",
            "errors",
            "throttles",
            "cold starts",
            "concurrent (max)",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "init p50 ms",
            "max mem MB",
            "envs idle/busy",
        ):
            t.add_column(col, no_wrap=col == "function")

        def ms(v: float | None) -> str:
            return "-" if v is None else f"{v:.1f}"

        for name, m in data.items():
            t.add_row(
                name,
                str(m["Invocations"]),
                str(m["Errors"]),
                str(m["Throttles"]),
                str(m["ColdStarts"]),
                f"{m['ConcurrentExecutions']} ({m['MaxConcurrentExecutions']})",
                ms(m["Duration"]["p50"]),
                ms(m["Duration"]["p95"]),
                ms(m["Duration"]["p99"]),
                ms(m["InitDuration"]["p50"]),
                ms(m["MaxMemoryUsed"]["max"]),
                f"{m['Environments']['idle']}/{m['Environments']['busy']}",
            )
        return t

    try:
        if not watch:
            console.print(table())
            return
        with Live(table(), console=console, refresh_per_second=2) as live:
            while True:
                time.sleep(1)
                live.update(table())
    except KeyboardInterrupt:
        return
    except OSError as exc:
        fail(f"cannot read metrics from {url}: {exc}")


# ---------------------------------------------------------------------------------- logs
@click.command()
@click.argument("function")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines.")
@click.option("--lines", "-n", default=50, show_default=True)
def logs(function: str, follow: bool, lines: int) -> None:
    """Print FUNCTION's log stream (START, END, REPORT and the function's output)."""
    path = Path(".sandbox") / "logs" / f"{function}.log"
    if not path.exists():
        fail(f"no log for {function!r} yet ({path}); invoke it first")
    with open(path, encoding="utf-8") as f:
        for line in f.readlines()[-lines:]:
            sys.stdout.write(line)
        sys.stdout.flush()
        while follow:
            line = f.readline()
            if line:
                sys.stdout.write(line)
                sys.stdout.flush()
            else:
                time.sleep(0.2)
