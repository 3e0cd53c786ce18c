"""`sandbox up` (serve functions until Ctrl-C, reloading on code changes) and `sandbox images`."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import click
from rich.table import Table

from lambda_sandbox.cli.common import (
    Project,
    console,
    err,
    fail,
    progress,
    project_options,
    run_async,
)
from lambda_sandbox.exceptions import SandboxError

__all__ = ["images", "up"]


@click.command()
@project_options
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9000, show_default=True, type=int, help="The Lambda API's port.")
@click.option(
    "--api-port",
    type=int,
    default=None,
    help="Port of the API Gateway routes [default: --port + 1]; function URLs follow it.",
)
@click.option(
    "--aws-endpoint",
    default=None,
    help="Use this AWS endpoint (e.g. LocalStack) instead of the embedded moto server.",
)
@click.option(
    "--aws-port",
    type=int,
    default=None,
    help="Port of the embedded AWS side (moto) [default: a free one].",
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
    "--watch/--no-watch",
    default=True,
    show_default=True,
    help="Reload a function when its code or definition changes.",
)
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
    project: Project,
    host: str,
    port: int,
    api_port: int | None,
    aws_endpoint: str | None,
    aws_port: int | None,
    no_aws: bool,
    only: tuple[str, ...],
    account_concurrency: int | None,
    keep_alive: float | None,
    watch: bool,
    backend: str,
    docker_base: str | None,
    docker_network: str | None,
) -> None:
    """Serve the functions with Lambda's limits until Ctrl-C: the Lambda API, API Gateway
    routes and function URLs, reloading a function when its code changes."""
    from lambda_sandbox.runner import Sandbox

    try:
        options = project.sandbox_options(
            host=host,
            port=port,
            api_port=api_port,
            only=list(only) or None,
            aws_endpoint=aws_endpoint,
            aws_port=aws_port,
            embedded_aws=not no_aws,
            account_concurrency=account_concurrency,
            keep_alive_s=keep_alive,
            backend=backend,
            docker_base=docker_base or None,  # compose passes "" for "not set"
            docker_network=docker_network or None,
        )
    except SandboxError as exc:
        fail(str(exc))
    sandbox = Sandbox(options)
    served = str(project.template or project.functions_dir)

    async def serve() -> None:
        from lambda_sandbox.discovery import Running, register, unregister
        from lambda_sandbox.hot_reload import watch as watch_code

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        with progress("starting the sandbox") as say:
            try:
                await sandbox.start(say)
            except BaseException:
                await sandbox.stop()  # what did start (AWS side, containers) goes
                raise
        print_endpoints(sandbox)
        gateway = sandbox.gateway
        assert gateway is not None and sandbox.service is not None
        register(
            Running(
                url=sandbox.url,
                pid=os.getpid(),
                project_dir=str(Path.cwd().resolve()),
                functions=served,
                backend=backend,
                api_url=gateway.api_url,
                function_urls=dict(gateway.function_urls),
                aws_endpoint=sandbox.service.aws.endpoint_url,
            )
        )
        watcher = None
        if watch:
            watcher = asyncio.ensure_future(watch_code(sandbox, stop, _say_reload))
            err.print("watching the functions' code: a change reloads them (--no-watch: off)")
        try:
            await stop.wait()
        finally:
            err.print("stopping: killing environments, removing cgroups")
            unregister()
            if watcher is not None:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
            await sandbox.stop()

    try:
        run_async(serve())
    except SandboxError as exc:
        fail(str(exc))


def _say_reload(message: str) -> None:
    err.print(message, highlight=False, markup=False)


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
        with progress("building images", interval_s=0) as say:
            built = build_images(
                names or IMAGES, rebuild=rebuild, python_versions=python_versions, say=say
            )
    except SandboxError as exc:
        fail(str(exc))
    for name in built:
        console.print(f"[green]ready[/] {name}")


def print_endpoints(sandbox: object) -> None:
    """What `sandbox up` serves, as SAM CLI lists it: every function with its invoke URL,
    every API Gateway route, every function URL, the AWS side, and what is not enforced."""
    from lambda_sandbox.runner import Sandbox

    assert isinstance(sandbox, Sandbox) and sandbox.service is not None
    service = sandbox.service
    gateway = sandbox.gateway
    assert gateway is not None
    table = Table(title=f"Lambda sandbox on {sandbox.url}", title_justify="left")
    for col in ("function", "memory", "vCPU", "timeout", "/tmp", "bundle", "invoke"):
        table.add_column(col, overflow="fold")
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
        err.print(f"[bold yellow]NOT served:[/] {name}: {why.splitlines()[0]}")
    for name, properties in sandbox.not_emulated.items():
        err.print(f"{name}: accepted, not emulated: {', '.join(properties)}", highlight=False)
    for route in gateway.routes:
        method = "ANY" if route.method == "ANY" else route.method
        path = "/{proxy+}" if route.path == "$default" else route.path
        api = "REST API" if route.kind == "rest" else "HTTP API"
        console.print(
            f"  {method} {gateway.api_url}{path} -> {route.function} ({api})", highlight=False
        )
    for name, url in gateway.function_urls.items():
        console.print(f"  function URL {url} -> {name}", highlight=False)
    console.print(f"AWS side: {service.aws.endpoint_url or 'none'}", highlight=False)
    enforcement = service.backend.enforcement
    err.print(f"limits enforced: {enforcement.summary()}", highlight=False)
    err.print(
        "IAM: roles, policies and resource policies (AddPermission) are kept, not enforced: "
        "any caller may invoke any function",
        highlight=False,
    )
    for note in enforcement.notes:
        err.print(f"[bold yellow]WARNING:[/] {note}")
    console.print(
        f'boto3: boto3.client("lambda", endpoint_url="{sandbox.url}", region_name="us-east-1")',
        highlight=False,
    )
