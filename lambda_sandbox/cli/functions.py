"""Commands about a project's functions: `ls`, `build`, `models build`, `invoke`, `logs`,
`stats`."""

from __future__ import annotations

import base64
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from lambda_sandbox.cli.common import (
    Project,
    console,
    endpoint_option,
    fail,
    find_url,
    lambda_client,
    output_option,
    progress,
    project_options,
    read_payload,
    sandbox_for,
    select,
)
from lambda_sandbox.exceptions import SandboxError

__all__ = ["build", "invoke", "list_functions", "logs", "models", "stats"]


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


# --------------------------------------------------------------------------- build / ls
@click.command()
@click.argument("function", required=False)
@project_options
def build(
    function: str | None,
    project: Project,
) -> None:
    """Build bundles (code + requirements) like `sam build`, and check them against 250 MB."""
    from lambda_sandbox.build.bundle import build_bundle
    from lambda_sandbox.paths import project_build_dir

    try:
        configs = select(project.configs(), function, project.where)
        for config in configs:
            with progress(f"building {config.name}") as say:
                bundle = build_bundle(config, project_build_dir(Path.cwd()), say)
            style = "red" if bundle.over_limit else "green"
            console.print(f"[{style}]{bundle.describe()}[/] -> {bundle.path}", highlight=False)
    except SandboxError as exc:
        fail(str(exc))


@click.group()
def models() -> None:
    """Model artifacts of functions that declare `Models` in function.yaml."""


@models.command(name="build")
@click.argument("function", required=False)
@project_options
def models_build(
    function: str | None,
    project: Project,
) -> None:
    """Build (or find in the cache) the model artifacts of FUNCTION, or of every function."""
    from lambda_sandbox.build.model_artifacts import ensure_models, model_spec

    try:
        configs = [c for c in project.configs() if model_spec(c) is not None]
        configs = select(configs, function, f"with Models {project.where}")
        for config in configs:
            with progress(f"{config.name}: models") as say:
                path = ensure_models(config, say)
            assert path is not None
            spec = model_spec(config)
            assert spec is not None
            size = sum((path / a).stat().st_size for a in spec.artifacts) / 1e6
            fits = "fits" if size <= config.ephemeral_mb * 1.048576 else "does NOT fit"
            console.print(
                f"[green]{config.name}[/]: {size:.1f} MB in {path} ({fits} in its "
                f"{config.ephemeral_mb} MB /tmp)",
                highlight=False,
            )
    except SandboxError as exc:
        fail(str(exc))


@click.command(name="ls")
@project_options
@output_option
def list_functions(
    project: Project,
    output: str,
) -> None:
    """List the functions and their configuration."""
    from lambda_sandbox.limits import load_limits

    limits = load_limits()
    try:
        configs = project.configs()
    except SandboxError as exc:
        fail(str(exc))
    rows = [
        {
            "function": c.name,
            "handler": c.handler,
            "runtime": c.runtime,
            "memory_mb": c.memory_mb,
            "lambda_vcpus": round(limits.vcpus_for(c.memory_mb), 3),
            "timeout_s": c.timeout_s,
            "ephemeral_mb": c.ephemeral_mb,
            "reserved_concurrency": c.reserved_concurrency,
            "function_url": c.function_url is not None,
            "source": str(c.source),
        }
        for c in configs
    ]
    if output == "json":
        _print_json(rows)
        return
    table = Table(title=f"functions {project.where}", title_justify="left")
    headers = ("function", "handler", "runtime", "memory", "vCPU (Lambda)", "timeout", "/tmp")
    for col in (*headers, "reserved", "URL"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            str(r["function"]),
            str(r["handler"]),
            str(r["runtime"]),
            f"{r['memory_mb']} MB",
            f"{r['lambda_vcpus']:.2f}",
            f"{r['timeout_s']:.0f} s",
            f"{r['ephemeral_mb']} MB",
            "-" if r["reserved_concurrency"] is None else str(r["reserved_concurrency"]),
            "yes" if r["function_url"] else "-",
        )
    console.print(table)


# -------------------------------------------------------------------------------- invoke
@click.command()
@click.argument("function")
@click.option("--payload", "-p", default="{}", help="JSON, @file for a file's, - for stdin's.")
@click.option("--qualifier", default=None, help="A version or alias to invoke.")
@click.option("--quiet", "-q", is_flag=True, help="Only the payload: no log tail on stderr.")
@endpoint_option
@project_options
def invoke(
    function: str,
    payload: str,
    qualifier: str | None,
    quiet: bool,
    endpoint: str | None,
    project: Project,
) -> None:
    """Invoke FUNCTION once. The payload goes to stdout exactly as the function answered it,
    the log tail to stderr; the exit code is 1 on a function error, as `sam local invoke`."""
    from botocore.exceptions import BotoCoreError, ClientError

    data = read_payload(payload)
    try:
        url, thread = sandbox_for(function, endpoint, project)
    except SandboxError as exc:
        fail(str(exc))
    try:
        client = lambda_client(url)
        extra = {"Qualifier": qualifier} if qualifier else {}
        try:
            resp = client.invoke(FunctionName=function, Payload=data, LogType="Tail", **extra)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            fail(f"{error.get('Code', 'Error')}: {error.get('Message', exc)}")
        except BotoCoreError as exc:
            fail(f"cannot reach the sandbox at {url}: {exc}")
        body = resp["Payload"].read()
        if not quiet:
            log = base64.b64decode(resp.get("LogResult") or b"").decode("utf-8", "replace")
            # the runtime writes a multi-line record (a traceback) as one line with \r in it
            sys.stderr.write(log.replace("\r", "\n"))
            sys.stderr.flush()
        sys.stdout.buffer.write(body)
        if sys.stdout.isatty() and not body.endswith(b"\n"):
            sys.stdout.buffer.write(b"\n")
        sys.stdout.flush()
        if resp.get("FunctionError"):
            sys.exit(1)
    finally:
        if thread is not None:
            thread.stop()


# ---------------------------------------------------------------------------------- logs
def _get_json(url: str, timeout_s: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout_s) as resp:
        return json.load(resp)


def _stamp(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


@click.command()
@click.argument("function")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines.")
@click.option("--lines", "-n", default=50, show_default=True, help="How many recent lines.")
@endpoint_option
def logs(function: str, follow: bool, lines: int, endpoint: str | None) -> None:
    """Print FUNCTION's log stream (START, END, REPORT and the function's output), read from
    the running sandbox, here or anywhere (compose, the docker backend)."""
    url = find_url(endpoint)
    if url is None:
        fail("no sandbox is running: start `sandbox up`, or pass --endpoint URL")
    base = f"{url}/_sandbox/logs/{function}"
    try:
        if not follow:
            for event in _get_json(f"{base}?limit={lines}")["events"]:
                print(f"{_stamp(event['timestamp'])} {event['message']}")
            return
        with urllib.request.urlopen(f"{base}?limit={lines}&follow=1", timeout=None) as resp:
            for raw in resp:
                event = json.loads(raw)
                print(f"{_stamp(event['timestamp'])} {event['message']}", flush=True)
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read())
            message = body.get("Message") or body.get("message") or str(exc)
        except ValueError:
            message = str(exc)
        fail(f"{url}: {message}")
    except OSError as exc:
        fail(f"cannot read logs from {url}: {exc}")
    except KeyboardInterrupt:
        return


# --------------------------------------------------------------------------------- stats
def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _restores(m: dict[str, Any]) -> str:
    """SnapStart restores, and their Restore Duration p50."""
    count = m.get("SnapStartRestores") or 0
    if not count:
        return "-"
    return f"{count} ({_ms((m.get('RestoreDuration') or {}).get('p50'))})"


def _stats_table(url: str, data: dict[str, Any]) -> Table:
    t = Table(title=f"{url}  {time.strftime('%H:%M:%S')}", title_justify="left")
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
        "restores (p50 ms)",
        "max mem MB",
        "envs idle/busy",
    ):
        t.add_column(col, no_wrap=col == "function")
    for name, m in data.items():
        t.add_row(
            name,
            str(m["Invocations"]),
            str(m["Errors"]),
            str(m["Throttles"]),
            str(m["ColdStarts"]),
            f"{m['ConcurrentExecutions']} ({m['MaxConcurrentExecutions']})",
            _ms(m["Duration"]["p50"]),
            _ms(m["Duration"]["p95"]),
            _ms(m["Duration"]["p99"]),
            _ms(m["InitDuration"]["p50"]),
            _restores(m),
            _ms(m["MaxMemoryUsed"]["max"]),
            f"{m['Environments']['idle']}/{m['Environments']['busy']}",
        )
    return t


@click.command()
@endpoint_option
@click.option("--watch", "-w", is_flag=True, help="Refresh every second.")
@output_option
def stats(endpoint: str | None, watch: bool, output: str) -> None:
    """Per-function metrics, CloudWatch-style: invocations, errors, throttles, durations."""
    from rich.live import Live

    url = find_url(endpoint)
    if url is None:
        fail("no sandbox is running: start `sandbox up`, or pass --endpoint URL")
    try:
        if output == "json":
            _print_json(_get_json(f"{url}/_sandbox/metrics"))
            return
        if not watch:
            console.print(_stats_table(url, _get_json(f"{url}/_sandbox/metrics")))
            return
        with Live(console=console, refresh_per_second=2) as live:
            while True:
                live.update(_stats_table(url, _get_json(f"{url}/_sandbox/metrics")))
                time.sleep(1)
    except KeyboardInterrupt:
        return
    except OSError as exc:
        fail(f"cannot read metrics from {url}: {exc}")
