"""The `sandbox` command: up, invoke, build, logs, ls, demo."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from sandbox.exceptions import SandboxError

console = Console()
err = Console(stderr=True)

STATE_FILE = Path(".sandbox") / "state.json"


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}")
    sys.exit(1)


def _select(configs: list[Any], function: str | None, where: str) -> list[Any]:
    """All of `configs`, or only FUNCTION's (exits with an error when there is none)."""
    if not function:
        return configs
    chosen = [c for c in configs if c.name == function]
    if not chosen:
        _fail(f"no function {function!r} {where}")
    return chosen


@click.group()
@click.version_option(package_name="lambda-sandbox")
def main() -> None:
    """A local AWS Lambda for ML workloads: real limits, cold starts and cost, offline."""


# ------------------------------------------------------------------------------------ up
@main.command()
@click.option(
    "--functions",
    "functions_dir",
    type=click.Path(path_type=Path),
    default="functions",
    show_default=True,
    help="Folder of functions (one folder with function.yaml each).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9000, show_default=True, type=int)
@click.option(
    "--aws-endpoint",
    default=None,
    help="Use this AWS endpoint (e.g. LocalStack) instead of the embedded moto server.",
)
@click.option(
    "--api-port",
    type=int,
    default=None,
    help="Port of the API Gateway routes (default: --port + 1).",
)
@click.option(
    "--template",
    type=click.Path(path_type=Path, exists=True),
    default=None,
    help="An AWS SAM template to read functions from, instead of --functions.",
)
@click.option("--no-aws", is_flag=True, help="Start no AWS side (functions that call none).")
@click.option("--function", "only", multiple=True, help="Serve only this function (repeatable).")
@click.option(
    "--account-concurrency",
    type=int,
    default=None,
    help="Account concurrency limit (default: Lambda's 1,000).",
)
@click.option("--keep-alive", type=float, default=None, help="Seconds an idle environment lives.")
@click.option(
    "--backend",
    type=click.Choice(["process", "docker"]),
    default=lambda: os.environ.get("SANDBOX_BACKEND", "process"),
    show_default="process, or $SANDBOX_BACKEND",
    help="process: a limited child process per environment (no Docker); docker: a container "
    "of the function's image per environment, with the real RIE inside.",
)
@click.option(
    "--docker-base",
    default=lambda: os.environ.get("SANDBOX_DOCKER_BASE"),
    help="Base image of function images, '{version}' = the runtime's Python version, e.g. "
    "public.ecr.aws/lambda/python:{version} (default: the offline lambda-sandbox/python).",
)
@click.option(
    "--docker-network",
    default=lambda: os.environ.get("SANDBOX_DOCKER_NETWORK"),
    help="Docker network for function containers (when the sandbox itself runs in one).",
)
def up(
    functions_dir: Path,
    host: str,
    port: int,
    aws_endpoint: str | None,
    no_aws: bool,
    api_port: int | None,
    template: Path | None,
    only: tuple[str, ...],
    account_concurrency: int | None,
    keep_alive: float | None,
    backend: str,
    docker_base: str | None,
    docker_network: str | None,
) -> None:
    """Serve every function under FUNCTIONS with Lambda's limits, until Ctrl-C."""
    from sandbox.runner import Sandbox, SandboxOptions

    options = SandboxOptions(
        functions_dir=functions_dir,
        host=host,
        port=port,
        only=list(only) or None,
        aws_endpoint=aws_endpoint,
        embedded_aws=not no_aws,
        api_port=api_port,
        template=template,
        account_concurrency=account_concurrency,
        keep_alive_s=keep_alive,
        backend=backend,
        docker_base=docker_base or None,  # compose passes "" for "not set"
        docker_network=docker_network or None,
    )
    sandbox = Sandbox(options)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        with console.status("starting the sandbox") as status:
            try:
                await sandbox.start(lambda m: status.update(m))
            except BaseException:
                await sandbox.stop()  # what did start (AWS side, containers) goes
                raise
        _print_endpoints(sandbox)
        STATE_FILE.parent.mkdir(exist_ok=True)
        STATE_FILE.write_text(json.dumps({"url": sandbox.url, "pid": __import__("os").getpid()}))
        try:
            await stop.wait()
        finally:
            console.print("stopping: killing environments, removing cgroups")
            STATE_FILE.unlink(missing_ok=True)
            await sandbox.stop()

    try:
        _run(serve())
    except SandboxError as exc:
        _fail(str(exc))


@main.command()
@click.argument("names", nargs=-1, type=click.Choice(["debian", "lambda", "sandbox", "localstack"]))
@click.option("--rebuild", multiple=True, help="Build this image again even if it exists.")
@click.option(
    "--python",
    "python_versions",
    multiple=True,
    default=("3.12", "3.11"),
    show_default=True,
    help="Python versions of the Lambda base images (repeatable).",
)
def images(
    names: tuple[str, ...], rebuild: tuple[str, ...], python_versions: tuple[str, ...]
) -> None:
    """Build the Docker images with no registry: a Debian base (debootstrap), Lambda base
    images with the real RIE, the sandbox and LocalStack for compose. Default: all of them."""
    from sandbox.offline_images import IMAGES, build_images

    try:
        with console.status("building images") as status:
            built = build_images(
                names or IMAGES,
                rebuild=rebuild,
                python_versions=python_versions,
                say=lambda m: (status.update(m), console.print(f"[dim]{m}[/]")),
            )
    except SandboxError as exc:
        _fail(str(exc))
    for name in built:
        console.print(f"[green]ready[/] {name}")


def _run(coro: object) -> None:
    try:
        import uvloop

        uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:
        asyncio.run(coro)  # type: ignore[arg-type]


def _print_endpoints(sandbox: object) -> None:
    from sandbox.runner import Sandbox

    assert isinstance(sandbox, Sandbox) and sandbox.service is not None
    service = sandbox.service
    enforcement = service.backend.enforcement
    table = Table(title=f"Lambda sandbox on {sandbox.url}")
    for col in ("function", "memory", "vCPU", "timeout", "/tmp", "bundle", "invoke"):
        table.add_column(col)
    for name, state in service.functions.items():
        cfg = state.config
        spec = service.spec(state)
        note = " (capped)" if service.limits.host_capped_vcpus(cfg.memory_mb)[1] else ""
        table.add_row(
            name,
            f"{cfg.memory_mb} MB",
            f"{spec.vcpus:.2f}{note}",
            f"{cfg.timeout_s:.0f} s",
            f"{cfg.ephemeral_mb} MB",
            sandbox.bundles[name].describe().split(": ", 1)[1],
            f"POST {sandbox.url}/2015-03-31/functions/{name}/invocations",
        )
    console.print(table)
    for name, why in sandbox.not_served.items():
        console.print(f"[bold yellow]NOT served:[/] {name}: {why.splitlines()[0]}")
    gateway = sandbox.gateway
    assert gateway is not None
    if gateway.api_url:
        console.print(f"API Gateway routes on {gateway.api_url}")
    for name, url in gateway.function_urls.items():
        console.print(f"function URL of {name}: {url}")
    console.print(f"limits enforced: {enforcement.summary()}")
    for note in enforcement.notes:
        console.print(f"[bold yellow]WARNING:[/] {note}")
    console.print(f"AWS side: {service.aws.endpoint_url or 'none'}")
    console.print(
        f'boto3: boto3.client("lambda", endpoint_url="{sandbox.url}", region_name="us-east-1")'
    )


# -------------------------------------------------------------------------------- invoke
def _running_url() -> str | None:
    try:
        state = json.loads(STATE_FILE.read_text())
    except (OSError, ValueError):
        return None
    pid = state.get("pid")
    if pid and Path(f"/proc/{pid}").exists():
        return state.get("url")
    return None


def _sandbox_for(function: str, endpoint: str | None, functions_dir: Path) -> tuple[str, Any]:
    """The sandbox to talk to: --endpoint, the one `sandbox up` runs here, or a throwaway one
    serving just FUNCTION (returned too, so the caller stops it)."""
    url = endpoint or _running_url()
    if url is not None:
        return url, None
    from sandbox.runner import SandboxOptions, SandboxThread

    with console.status("starting a throwaway sandbox"):
        thread = SandboxThread(
            SandboxOptions(functions_dir=functions_dir, only=[function], port=0)
        ).start()
    return thread.url, thread


@main.command()
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
    url, thread = _sandbox_for(function, endpoint, functions_dir)
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
        _fail(str(exc))
    finally:
        if thread is not None:
            thread.stop()


def lambda_client(url: str) -> object:
    from sandbox.pytest_plugin import make_lambda_client

    return make_lambda_client(url)


# --------------------------------------------------------------------------- build / ls
@main.command()
@click.argument("function", required=False)
@click.option("--functions", "functions_dir", type=click.Path(path_type=Path), default="functions")
def build(function: str | None, functions_dir: Path) -> None:
    """Build bundles (code + requirements) like `sam build`, and check them against 250 MB."""
    from sandbox.build import build_bundle
    from sandbox.definitions import discover_functions

    try:
        configs = _select(discover_functions(functions_dir), function, f"in {functions_dir}")
        for config in configs:
            with console.status(f"building {config.name}") as status:
                bundle = build_bundle(config, Path(".sandbox/build"), lambda m: status.update(m))
            style = "red" if bundle.over_limit else "green"
            console.print(f"[{style}]{bundle.describe()}[/] -> {bundle.path}")
    except SandboxError as exc:
        _fail(str(exc))


@main.group()
def models() -> None:
    """Model artifacts of functions that declare `Models` in function.yaml."""


@models.command(name="build")
@click.argument("function", required=False)
@click.option("--functions", "functions_dir", type=click.Path(path_type=Path), default="functions")
def models_build(function: str | None, functions_dir: Path) -> None:
    """Build (or find in the cache) the model artifacts of FUNCTION, or of every function."""
    from sandbox.definitions import discover_functions
    from sandbox.models import ensure_models, model_spec

    try:
        configs = [c for c in discover_functions(functions_dir) if model_spec(c) is not None]
        configs = _select(configs, function, f"with Models in {functions_dir}")
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
        _fail(str(exc))


@main.command(name="ls")
@click.option("--functions", "functions_dir", type=click.Path(path_type=Path), default="functions")
def list_functions(functions_dir: Path) -> None:
    """List the functions and their configuration."""
    from sandbox.definitions import discover_functions
    from sandbox.limits import load_limits

    limits = load_limits()
    try:
        configs = discover_functions(functions_dir)
    except SandboxError as exc:
        _fail(str(exc))
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


# ---------------------------------------------------------------------------------- tune
@main.command()
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

    from sandbox.tune import render_table, write_outputs
    from sandbox.tune import tune as run_tune

    data = Path(payload[1:]).read_bytes() if payload.startswith("@") else payload.encode()
    sizes = [int(m) for m in memory.split(",") if m.strip()]
    url, thread = _sandbox_for(function, endpoint, functions_dir)
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
        _fail(str(exc))
    finally:
        if thread is not None:
            thread.stop()


@main.command()
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

    from sandbox.definitions import discover_functions
    from sandbox.fit import fit as run_fit
    from sandbox.fit import fit_spec, rich_tables, write_outputs

    try:
        (config,) = _select(discover_functions(functions_dir), function, f"in {functions_dir}")
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
        _fail(str(exc))


# ------------------------------------------------------------------------------- promote
@main.command(name="promote")
@click.argument("function")
@click.option("--to", "target", type=click.Choice(["aws"]), required=True)
@click.option("--region", default=None)
@click.option("--profile", default=None)
@click.option("--role-arn", default=None)
@click.option("--create-role", is_flag=True)
@click.option("--package", type=click.Choice(["zip", "image"]), default="zip", show_default=True)
@click.option("--image-uri", default=None, help="An image already pushed to ECR (--package image).")
@click.option(
    "--base-image",
    default=None,
    help="BASE of the generated Dockerfile (default public.ecr.aws/lambda/python:<version>).",
)
@click.option(
    "--registry",
    envvar="SANDBOX_PROMOTE_REGISTRY",
    default=None,
    help="HOST[:PORT] to push the image to instead of ECR's (tests, LocalStack).",
)
@click.option("--architecture", type=click.Choice(["x86_64", "arm64"]), default=None)
@click.option("--model-bucket", default=None)
@click.option("--code-bucket", default=None, help="For zips over the 50 MB direct-upload limit.")
@click.option("--duration-ms", type=float, default=None, help="Duration measured locally.")
@click.option("--endpoint-url", default=None, help="LocalStack or moto's server instead of AWS.")
@click.option("--no-smoke-test", is_flag=True)
@click.option("--dry-run", is_flag=True, help="Print the plan as a diff; change nothing.")
@click.option("--yes", is_flag=True, help="Apply without asking.")
@click.option("--functions", "functions_dir", type=click.Path(path_type=Path), default="functions")
@click.option("--template", type=click.Path(path_type=Path, exists=True), default=None)
def promote(
    function: str,
    target: str,
    region: str | None,
    profile: str | None,
    role_arn: str | None,
    create_role: bool,
    package: str,
    image_uri: str | None,
    base_image: str | None,
    registry: str | None,
    architecture: str | None,
    model_bucket: str | None,
    code_bucket: str | None,
    duration_ms: float | None,
    endpoint_url: str | None,
    no_smoke_test: bool,
    dry_run: bool,
    yes: bool,
    functions_dir: Path,
    template: Path | None,
) -> None:
    """Deploy FUNCTION to AWS Lambda with the same configuration (credentials from boto3's
    standard chain; never printed)."""
    from sandbox.promote import PromoteOptions, run_promote

    options = PromoteOptions(
        region=region,
        profile=profile,
        endpoint_url=endpoint_url,
        role_arn=role_arn,
        create_role=create_role,
        package=package,
        image_uri=image_uri,
        base_image=base_image,
        registry=registry,
        architecture=architecture,
        model_bucket=model_bucket,
        code_bucket=code_bucket,
        duration_ms=duration_ms,
        smoke_test=not no_smoke_test,
        dry_run=dry_run,
    )
    sys.exit(
        run_promote(
            function,
            options,
            functions_dir=functions_dir,
            template=template,
            yes=yes,
            console=console,
        )
    )


# ---------------------------------------------------------------------------------- load
@main.command()
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
    from sandbox.load import invocations_url, run_load

    data = Path(payload[1:]).read_bytes() if payload.startswith("@") else payload.encode()
    api = endpoint or _running_url()
    if api is None:
        _fail("no running sandbox here: start `sandbox up` (or pass --endpoint)")
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
@main.command()
@click.argument("bench_json", type=click.Path(path_type=Path), default="reports/bench.json")
@click.option("--out", type=click.Path(path_type=Path), default="reports", show_default=True)
def report(bench_json: Path, out: Path) -> None:
    """Turn `tox -e bench` results into reports/bench.md and bench.html (with charts)."""
    from sandbox.report import write_report

    if not bench_json.exists():
        _fail(f"{bench_json} not found: run `./dev bench` first")
    for path in write_report(bench_json, out).values():
        console.print(str(path))


# --------------------------------------------------------------------------------- stats
@main.command()
@click.option("--endpoint", default=None, help="A running sandbox (default: `sandbox up`'s).")
@click.option("--watch", "-w", is_flag=True, help="Refresh every second.")
def stats(endpoint: str | None, watch: bool) -> None:
    """Per-function metrics, CloudWatch-style: invocations, errors, throttles, durations."""
    import urllib.request

    from rich.live import Live

    url = endpoint or _running_url()
    if url is None:
        _fail("no running sandbox here: start `sandbox up`, or pass --endpoint")
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
        _fail(f"cannot read metrics from {url}: {exc}")


# ---------------------------------------------------------------------------------- logs
@main.command()
@click.argument("function")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines.")
@click.option("--lines", "-n", default=50, show_default=True)
def logs(function: str, follow: bool, lines: int) -> None:
    """Print FUNCTION's log stream (START, END, REPORT and the function's output)."""
    path = Path(".sandbox") / "logs" / f"{function}.log"
    if not path.exists():
        _fail(f"no log for {function!r} yet ({path}); invoke it first")
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


# ---------------------------------------------------------------------------------- demo
@main.command()
@click.option("--functions", "functions_dir", type=click.Path(path_type=Path), default="functions")
def demo(functions_dir: Path) -> None:
    """Start the sandbox, invoke the example functions, show what Lambda would do."""
    from sandbox.demo import run_demo

    try:
        run_demo(functions_dir, console)
    except SandboxError as exc:
        _fail(str(exc))


if __name__ == "__main__":
    main()
