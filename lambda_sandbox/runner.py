"""Assembles a running sandbox: bundles, the AWS side, a backend, the service and the gateway.

`Sandbox` is the async whole; `SandboxThread` runs one on its own event loop (uvloop when
available) in a background thread, for synchronous callers: the CLI, the pytest plugin, benches.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from lambda_sandbox.aws_side import EmbeddedAws
from lambda_sandbox.build.bundle import Bundle, build_bundle, dir_size
from lambda_sandbox.build.filesystem import build_filesystem
from lambda_sandbox.build.model_artifacts import ensure_models, upload_models
from lambda_sandbox.config import (
    SERVABLE_RUNTIMES,
    FunctionConfig,
    discover_functions,
    load_sam_template,
)
from lambda_sandbox.environments.base import Backend
from lambda_sandbox.environments.docker import DockerBackend
from lambda_sandbox.environments.process import ProcessBackend
from lambda_sandbox.exceptions import BuildError, ConfigError, SandboxError
from lambda_sandbox.faces.app import Gateway
from lambda_sandbox.limits import Limits, load_limits
from lambda_sandbox.paths import (
    default_state_dir,
    project_build_dir,
    project_events_dir,
    project_functions_dir,
    project_logs_dir,
)
from lambda_sandbox.service.environment_variables import AwsSide
from lambda_sandbox.service.function_lifecycle import config_from_parameters
from lambda_sandbox.service.lambda_service import LambdaService
from lambda_sandbox.sessions import new_session_id, reap_processes, session_alive
from lambda_sandbox.types import Filesystem, Progress

__all__ = ["Sandbox", "SandboxOptions", "SandboxThread", "default_state_dir", "new_session_id"]

T = TypeVar("T")


@dataclass
class SandboxOptions:
    functions_dir: Path = Path("functions")
    host: str = "127.0.0.1"
    port: int = 9000
    api_port: int | None = None  # API Gateway routes; default port + 1 (or free when port is 0)
    template: Path | None = None  # an AWS SAM template instead of functions_dir
    parameters: dict[str, str] | None = None  # the template's parameter values
    layer_arns: dict[str, str] | None = None  # layer ARN -> a local folder or zip
    only: list[str] | None = None  # serve only these functions
    aws_endpoint: str | None = None  # None: start the embedded moto server
    embedded_aws: bool = True
    aws_port: int | None = None  # the embedded moto server's port (None: a free one)
    project_dir: Path = field(default_factory=Path.cwd)
    state_dir: Path = field(default_factory=default_state_dir)
    account_concurrency: int | None = None
    keep_alive_s: float | None = None
    init_limit_s: float | None = None
    host_cpus: int | None = None
    configs: list[FunctionConfig] | None = None  # instead of discovering functions_dir
    backend: str = "process"  # "process" (default, no Docker) or "docker"
    # docker: the base image for function images; "{version}" stands for the runtime's Python
    # version (public.ecr.aws/lambda/python:{version}). None: the offline stand-in,
    # lambda-sandbox/python:{version}, built on first use when missing (`sandbox images`)
    docker_base: str | None = None
    docker_network: str | None = None  # the sandbox runs in a container of this network


class Sandbox:
    def __init__(self, options: SandboxOptions) -> None:
        self.options = options
        self.session = new_session_id()
        self.aws: EmbeddedAws | None = None
        self.service: LambdaService | None = None
        self.gateway: Gateway | None = None
        self.bundles: dict[str, Bundle] = {}
        self.models: dict[str, Path] = {}  # function -> its built model artifacts
        self.filesystems: dict[str, Filesystem] = {}  # function -> /var/task, /opt, ...
        self._backend: Backend | None = None  # opened, and closed by the service (or stop())
        self.not_served: dict[str, str] = {}  # function -> why it is not served
        self.not_emulated: dict[str, tuple[str, ...]] = {}  # function -> properties accepted

    @property
    def url(self) -> str:
        assert self.gateway is not None
        return self.gateway.url

    @property
    def build_root(self) -> Path:
        return project_build_dir(self.options.project_dir)

    def read_configs(self) -> list[FunctionConfig]:
        """The functions to serve, read from the folder or template (again on each call)."""
        opts = self.options
        if opts.configs is not None:
            configs = opts.configs
        elif opts.template is not None:
            configs = load_sam_template(
                opts.template, parameters=opts.parameters, layer_arns=opts.layer_arns
            )
        else:
            configs = discover_functions(opts.functions_dir)
        if opts.only:
            missing = set(opts.only) - {c.name for c in configs}
            if missing:
                where = opts.template or opts.functions_dir
                known = ", ".join(sorted(c.name for c in configs)) or "none"
                raise ConfigError(
                    f"no such function(s) in {where}: {sorted(missing)} (there: {known})"
                )
            configs = [c for c in configs if c.name in opts.only]
        return configs

    def _servable(self, configs: list[FunctionConfig], say: Progress) -> list[FunctionConfig]:
        """The functions this backend can run; the others are NOT served, saying why."""
        servable = []
        for config in configs:
            why = None
            if config.is_image and self.options.backend != "docker":
                why = "an image function (PackageType: Image): serve it with --backend docker"
            elif not config.is_image and config.runtime not in SERVABLE_RUNTIMES:
                why = (
                    f"the sandbox runs Python and provided (custom) runtimes, not {config.runtime}"
                )
            if why is None:
                servable.append(config)
                continue
            if self.options.only and config.name in self.options.only and len(configs) == 1:
                raise ConfigError(f"{config.name}: {why}")
            self.not_served[config.name] = why
            say(f"{config.name}: NOT served: {why}")
        if configs and not servable:
            raise ConfigError(
                "no function can be served here: "
                + "; ".join(f"{n}: {w}" for n, w in self.not_served.items())
            )
        return servable

    def build_function(
        self, config: FunctionConfig, say: Progress | None = None, limits: Limits | None = None
    ) -> tuple[Bundle, Filesystem]:
        """The function's bundle and what its environments see at Lambda's paths (its layers
        count in the bundle's size); kept for serving."""
        bundle = build_bundle(config, self.build_root, say, limits)
        filesystem = build_filesystem(config, bundle.path, self.build_root, say)
        if filesystem.opt is not None:
            bundle = replace(bundle, layers_bytes=dir_size(filesystem.opt))
        self.bundles[config.name] = bundle
        self.filesystems[config.name] = filesystem
        return bundle, filesystem

    async def start(self, progress: Progress | None = None) -> None:
        say = progress or (lambda _m: None)
        opts = self.options
        limits = load_limits()
        for pid, session in await asyncio.to_thread(reap_processes):
            say(f"stopped process {pid}, left behind by a sandbox that crashed ({session})")
        configs = self._servable(self.read_configs(), say)
        for config in configs:
            if not config.is_image:  # an image function is built by the docker backend
                await asyncio.to_thread(self.build_function, config, say, limits)
            artifacts = await asyncio.to_thread(ensure_models, config, say)
            if artifacts is not None:
                self.models[config.name] = artifacts
        backend: Backend
        aws_host = opts.host
        if opts.backend == "docker":
            backend = DockerBackend(
                {}, self.session, network=opts.docker_network, state_dir=opts.state_dir
            )
            say("connecting to the Docker engine")
            await backend.open()
            self._backend = backend
            # functions in containers reach a host-side AWS endpoint at the network's gateway
            aws_host = "0.0.0.0" if opts.docker_network else backend.gateway_address()
            servable = []
            for config in configs:
                try:
                    filesystem = self.filesystems.get(config.name)
                    opt = filesystem.opt if filesystem is not None else None
                    image = await asyncio.to_thread(
                        _function_image, backend.client, config, opts.docker_base, say, opt
                    )
                    backend.images[config.name] = image
                    backend.run_options[config.name] = image_run_options(config)
                    if config.is_image:
                        self.bundles[config.name] = _image_bundle(backend.client, config, image)
                    servable.append(config)
                except BuildError as exc:
                    # one function that cannot become an image (a requirement with no wheel
                    # for Lambda's platform, say) does not keep the others from being served
                    if len(configs) == 1 or opts.only:
                        raise
                    self.not_served[config.name] = str(exc)
                    say(f"{config.name}: NOT served on the docker backend: {exc}")
            configs = servable
        elif opts.backend == "process":
            backend = ProcessBackend(
                opts.state_dir,
                self.session,
                limits.q("payload", "sync_response_bytes")
                + limits.q("payload", "response_allowance_bytes"),
                max_stream_bytes=limits.q("payload", "streamed_response_bytes"),
            )
        else:
            raise ConfigError(f"no backend {opts.backend!r}: choose process or docker")
        endpoint = opts.aws_endpoint
        if endpoint is None and opts.embedded_aws:
            say("starting the embedded AWS side (moto server)")
            self.aws = EmbeddedAws(aws_host, opts.aws_port or None, session=self.session)
            await asyncio.to_thread(self.aws.start)
            endpoint = self.aws.endpoint_url
        if endpoint is not None:
            by_name = {c.name: c for c in configs}
            for name, artifacts in self.models.items():
                if name in by_name:  # not for a function that is not served
                    await asyncio.to_thread(upload_models, by_name[name], artifacts, endpoint, say)
        say("preparing execution environments")
        if self._backend is None:
            await backend.open()
            self._backend = backend
        self.service = LambdaService(
            backend,
            aws=AwsSide(endpoint_url=endpoint),
            limits=limits,
            logs_dir=project_logs_dir(opts.project_dir),
            account_concurrency=opts.account_concurrency,
            keep_alive_s=opts.keep_alive_s,
            init_limit_s=opts.init_limit_s,
            host_cpus=opts.host_cpus,
            code_builder=self._build_api_function,
            functions_store=project_functions_dir(opts.project_dir),
            fetch_s3=(lambda b, k, v=None: _s3_object(endpoint, b, k, v)) if endpoint else None,
            events_dir=project_events_dir(opts.project_dir),
            session=self.session,
        )
        for config in configs:
            self.service.register(
                config, self.bundles[config.name].path, self.filesystems.get(config.name)
            )
            not_emulated = config.not_emulated
            if config.snap_start and not self.service.snapstart.available:
                not_emulated += ("SnapStart (needs --backend process)",)
            if not_emulated:
                self.not_emulated[config.name] = not_emulated
            self.service.auto_publish(config.name)
        await self._restore_api_functions(say)
        resumed, kept = self.service.resume_events(session_alive)
        if resumed:
            say(f"{resumed} async events an earlier run accepted and did not finish: resumed")
        for name, count in kept.items():
            say(f"{count} queued async events for {name}, which is not served now: kept")
        self.gateway = Gateway(self.service, opts.host, opts.port, opts.api_port)
        await self.gateway.start()
        if opts.backend == "process":  # containers reach the host at another address
            self.service.specs.lambda_endpoint_url = f"http://127.0.0.1:{self.gateway.port}"

    async def _build_api_function(self, config: FunctionConfig) -> tuple[Path, Filesystem]:
        """The service's CodeBuilder: an uploaded zip as a bundle (and, on the docker
        backend, an image)."""
        bundle, filesystem = await asyncio.to_thread(self.build_function, config)
        if isinstance(self._backend, DockerBackend):
            image = await asyncio.to_thread(
                _function_image, self._backend.client, config, self.options.docker_base,
                lambda _m: None, filesystem.opt,
            )  # fmt: skip
            self._backend.images[config.name] = image
        return bundle.path, filesystem

    async def _restore_api_functions(self, say: Progress) -> None:
        """Functions an earlier run created through the API come back, built again."""
        assert self.service is not None
        for params, zip_path in self.service.load_stored_functions():
            name = str(params.get("FunctionName"))
            if name in self.service.functions:
                say(f"{name}: kept from CreateFunction, but the project defines it: not loaded")
                continue
            try:
                config = config_from_parameters(
                    params, zip_path, zip_path.with_name("function.json"), self.service.limits
                )
                bundle_dir, filesystem = await self._build_api_function(config)
            except SandboxError as exc:
                say(f"{name}: kept from CreateFunction, but it does not build: {exc}")
                continue
            self.service.register(config, bundle_dir, filesystem).created_by_api = True

    async def stop(self) -> None:
        # new requests get a 503 while the service stops; those in flight are answered (an
        # environment killed under an invoke answers it with its exit), then the ports close
        if self.gateway is not None:
            self.gateway.draining = True
        if self.service is not None:
            await self.service.close()
        if self.gateway is not None:
            await self.gateway.stop()
        if self.service is None and self._backend is not None:  # start() failed early
            await self._backend.close()
        if self.aws is not None:
            await asyncio.to_thread(self.aws.stop)


class SandboxThread:
    """A Sandbox on a background event loop, controlled from synchronous code."""

    def __init__(self, options: SandboxOptions) -> None:
        self.sandbox = Sandbox(options)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return self.sandbox.url

    @property
    def service(self) -> LambdaService:
        assert self.sandbox.service is not None
        return self.sandbox.service

    @property
    def gateway(self) -> Gateway:
        assert self.sandbox.gateway is not None
        return self.sandbox.gateway

    def start(self, progress: Progress | None = None, timeout_s: float = 3600) -> SandboxThread:
        self._thread = threading.Thread(
            target=self._run, args=(progress,), name="lambda-sandbox", daemon=True
        )
        self._thread.start()
        ready = self._ready.wait(timeout_s)
        if self._error is not None:
            raise self._error
        if not ready:
            raise SandboxError(
                f"the sandbox did not start within {timeout_s:g} s (still building bundles or "
                "models?): run `sandbox build` first, then try again"
            )
        return self

    def _run(self, progress: Progress | None) -> None:
        try:
            import uvloop

            loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        except ImportError:
            loop = asyncio.new_event_loop()
        self.loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main(progress))
        finally:
            loop.close()

    async def _main(self, progress: Progress | None) -> None:
        self._stop = asyncio.Event()
        try:
            await self.sandbox.start(progress)
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            await self.sandbox.stop()
            await _cancel_pending()
            return
        self._ready.set()
        await self._stop.wait()
        await self.sandbox.stop()
        await _cancel_pending()

    def call(self, coro_factory: Callable[[], Coroutine[Any, Any, T]], timeout_s: float = 600) -> T:
        """Run a coroutine on the sandbox's loop and wait for its result."""
        assert self.loop is not None
        fut = asyncio.run_coroutine_threadsafe(coro_factory(), self.loop)
        return fut.result(timeout_s)

    def stop(self, timeout_s: float = 60) -> None:
        if self.loop is not None and self._stop is not None and self.loop.is_running():
            self.loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout_s)

    def __enter__(self) -> SandboxThread:
        # `with SandboxThread(o).start(timeout_s=...) as s:` must not start a second sandbox
        return self if self._thread is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _cancel_pending() -> None:
    """Let handlers still waiting (a runtime's /next, a client's request) finish cancelling."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _function_image(
    client: object, config: FunctionConfig, base: str | None, say: Progress, opt: Path | None
) -> str:
    """The function's image for the docker backend, FROM the base for its runtime (the offline
    stand-in is built when missing); its id."""
    from lambda_sandbox.build.function_image import build_function_image
    from lambda_sandbox.build.offline_images import build_images, lambda_base_image
    from lambda_sandbox.build.rie_binary import host_architecture

    version = config.runtime.removeprefix("python")
    if base is None:
        base_image = lambda_base_image(config.runtime)
        build_images(["lambda"], python_versions=[version], say=say)
    else:
        base_image = base.format(version=version)
    return build_function_image(client, config, host_architecture(), base_image, say, opt)


def _s3_object(endpoint: str, bucket: str, key: str, version: str | None = None) -> bytes:
    """CreateFunction's S3Bucket/S3Key, from the AWS side the functions use."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from lambda_sandbox.exceptions import InvalidParameterValueException

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")  # fmt: skip
    try:
        extra = {"VersionId": version} if version else {}
        return bytes(s3.get_object(Bucket=bucket, Key=key, **extra)["Body"].read())
    except (BotoCoreError, ClientError) as exc:
        raise InvalidParameterValueException(
            f"Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: {exc}"
        ) from exc


def image_run_options(config: FunctionConfig) -> dict[str, Any]:
    """ImageConfig as the container's command, entry point and working folder."""
    image_config = config.image_config
    options: dict[str, Any] = {}
    if image_config.get("Command"):
        options["command"] = [str(c) for c in image_config["Command"]]
    if image_config.get("EntryPoint"):
        options["entrypoint"] = [str(c) for c in image_config["EntryPoint"]]
    if image_config.get("WorkingDirectory"):
        options["working_dir"] = str(image_config["WorkingDirectory"])
    return options


def _image_bundle(client: Any, config: FunctionConfig, image: str) -> Bundle:
    """An image function's size against Lambda's 10 GB image limit."""
    size = int(client.images.get(image).attrs.get("Size") or 0)
    limit = load_limits().q("package", "image_mb") << 20
    return Bundle(config.name, config.code_dir, size, limit, kind="image")
