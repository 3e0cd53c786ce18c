"""`sandbox up` (serve functions until Ctrl-C) and `sandbox images` (the offline images)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import click
from rich.table import Table

from lambda_sandbox.cli.common import (
    STATE_FILE,
    console,
    fail,
    run_async,
)
from lambda_sandbox.exceptions import SandboxError

# ------------------------------------------------------------------------------------ up
__all__ = ["images", "up"]


@click.command()
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
    from lambda_sandbox.runner import Sandbox, SandboxOptions

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
        run_async(serve())
    except SandboxError as exc:
        fail(str(exc))


@click.command()
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
    from lambda_sandbox.build.offline_images import IMAGES, build_images

    try:
        with console.status("building images") as status:

            def say(message: str) -> None:
                status.update(message)
                console.print(f"[dim]{message}[/]")

            built = build_images(
                names or IMAGES, rebuild=rebuild, python_versions=python_versions, say=say
            )
    except SandboxError as exc:
        fail(str(exc))
    for name in built:
        console.print(f"[green]ready[/] {name}")


def _print_endpoints(sandbox: object) -> None:
    from lambda_sandbox.runner import Sandbox

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
