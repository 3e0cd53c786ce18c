"""The docker backend: one execution environment = one container of the function's image, with
the real RIE inside, invoked through the RIE's HTTP endpoint.

Each container gets the tier's limits from the engine: memory (no swap) = MemorySize, a CPU
quota of MemorySize / 1,769 vCPU over the same CFS period as the process backend, a /tmp of
EphemeralStorage size, a read-only root filesystem, the pids and nofile limits, and
Lambda's sandbox user (uid 993). /tmp is disk, as on Lambda, when the sandbox runs as root on
the engine's host: the process backend's calibrated ext4 image, loop-mounted on the host and
bound into the container (its pages are not charged to the function's memory); otherwise (a
remote engine, or the sandbox itself in a container) it is a tmpfs, whose files count against
MemorySize, and the enforcement notes say so. Max Memory Used is the container's cgroup peak
(the RIE's own REPORT says Max Memory Used = Memory Size, always).

The RIE starts the runtime lazily, on the first invoke, so INIT runs inside it: that invoke's
answer carries the RIE's "INIT REPORT(durationMs: ...)", and the service reports it as INIT
(`InitOutcome.deferred`). Everything else of the lifecycle (pool, reuse, timeouts, throttles,
logs, metrics) is the service's, the same code as for the process backend.

The sandbox reaches containers at their address on the Docker network (the default bridge, or
`network` when the sandbox itself runs in a container of that network, as under compose).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp

from lambda_sandbox.docker_engine import connect, engine_errors
from lambda_sandbox.environments.base import Backend, Environment, exit_message
from lambda_sandbox.environments.cgroups import oom_kills
from lambda_sandbox.environments.tmp_storage import TmpStorage, loop_mount_available, prepare_tmp
from lambda_sandbox.exceptions import BackendError, FunctionErrorType
from lambda_sandbox.sessions import session_alive
from lambda_sandbox.types import (
    Enforcement,
    EnvironmentSpec,
    InitOutcome,
    Invocation,
    InvocationResult,
)

__all__ = [
    "SANDBOX_UID",
    "DockerBackend",
    "DockerEnvironment",
    "container_environment",
    "network_gateway",
]

RIE_PORT = 8080
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
SANDBOX_UID = "993:990"  # Lambda's sbx_user1051
# the RIE's own lines: its log format, and the START/END/REPORT it writes (the service writes
# the real ones)
_RIE_LINE = re.compile(
    r"^\d\d \w{3} \d{4} [\d:,]+ \[\w+\] \(rapid\)|^(START|END|REPORT) RequestId: "
)
_INIT_REPORT = re.compile(r"\(rapid\) INIT REPORT\(durationMs: ([\d.]+)\)")
_RIE_TIMEOUT = re.compile(rb"^Task timed out after \d+\.\d\d seconds$")  # its 200 answer
# set by the image or the RIE, never passed from the host: they name host paths and the
# process backend's Runtime API
_HOST_ONLY = {
    "PATH", "PYTHONPATH", "LD_LIBRARY_PATH", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
    "_HANDLER", "AWS_LAMBDA_RUNTIME_API", "HOME", "PYTHONNOUSERSITE", "PYTHONDONTWRITEBYTECODE",
    "PYTHONHOME",
}  # fmt: skip
# the process backend's streaming runtime: the RIE cannot stream, so it is not switched on
_STREAM_WRAPPER = "/var/task/lambda-stream-wrapper"


def container_environment(spec: EnvironmentSpec) -> dict[str, str]:
    """The function's Lambda environment as the container sees it."""
    env = {k: v for k, v in spec.environment.items() if k not in _HOST_ONLY}
    if env.get("AWS_LAMBDA_EXEC_WRAPPER") == _STREAM_WRAPPER:
        del env["AWS_LAMBDA_EXEC_WRAPPER"]
    # the RIE's deadline: what context.get_remaining_time_in_millis() counts down from (the
    # service times the invoke out too; whichever speaks first, the answer is Sandbox.Timedout)
    env["AWS_LAMBDA_FUNCTION_TIMEOUT"] = str(max(1, round(spec.timeout_s)))
    return env


class DockerEnvironment(Environment):
    def __init__(
        self, env_id: str, spec: EnvironmentSpec, backend: DockerBackend, container: Any
    ) -> None:
        super().__init__(env_id, spec)
        self.backend = backend
        self.container = container
        self.container_id = str(container.id)
        self.address = ""
        self.started = time.perf_counter()
        self._output: list[str] = []
        self._lock = threading.Lock()
        self._init_ms: float | None = None
        self._init_seen = threading.Event()
        self._first = True
        self._cgroup_file = backend.cgroup_peak_file(self.container_id)
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._logs = threading.Thread(target=self._follow_logs, daemon=True, name=f"logs-{env_id}")
        self._logs.start()

    # ---------------------------------------------------------------------------- logs
    def _follow_logs(self) -> None:
        buffer = b""
        try:
            for chunk in self.container.logs(stream=True, follow=True):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for raw in lines:
                    self._line(raw.decode(errors="replace").rstrip("\r"))
        except engine_errors():  # the container is gone; its end is reported below
            pass
        if buffer:
            self._line(buffer.decode(errors="replace"))
        self._init_seen.set()
        code: int | None = None
        try:
            code = int(self.container.wait(timeout=5).get("StatusCode", 0))
        except engine_errors():  # removed meanwhile: killed by the sandbox
            code = -9
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._mark_exited, code)

    def _mark_exited(self, code: int | None) -> None:
        if not self.exited.done():
            self.exited.set_result(code)

    def _line(self, line: str) -> None:
        if match := _INIT_REPORT.search(line):
            self._init_ms = float(match.group(1))
            self._init_seen.set()
        if _RIE_LINE.search(line) or not line:
            return
        with self._lock:
            self._output.append(line)

    def take_output(self) -> list[str]:
        with self._lock:
            out, self._output = self._output, []
        return out

    # ------------------------------------------------------------------------- lifecycle
    async def wait_init(self, timeout_s: float) -> InitOutcome | None:
        """Wait until the RIE listens. INIT itself runs with the first invoke (deferred)."""
        deadline = time.monotonic() + timeout_s
        while True:
            if not self.alive:
                code = self.exited.result()
                return InitOutcome(
                    False, 0.0, FunctionErrorType.EXIT, exit_message=exit_message(code)
                )
            try:
                _r, w = await asyncio.wait_for(
                    asyncio.open_connection(self.address, RIE_PORT), timeout=0.5
                )
                w.close()
                break
            except (TimeoutError, OSError):
                if time.monotonic() > deadline:
                    return None
                await asyncio.sleep(0.02)
        ms = (time.perf_counter() - self.started) * 1000
        return InitOutcome(True, ms, deferred=True)

    def submit(self, invocation: Invocation) -> asyncio.Future[InvocationResult]:
        loop = asyncio.get_running_loop()
        result: asyncio.Future[InvocationResult] = loop.create_future()
        task = loop.create_task(self._invoke(invocation))

        def settle(done: asyncio.Task[InvocationResult]) -> None:
            if result.done() or done.cancelled():
                return
            if done.exception() is not None:
                message = f"RequestId: {invocation.request_id} Error: {done.exception()}"
                result.set_result(
                    InvocationResult.error(FunctionErrorType.EXIT, message, fatal=True)
                )
            else:
                result.set_result(done.result())

        task.add_done_callback(settle)
        # the service settles the future itself on a timeout: stop waiting for the RIE then
        result.add_done_callback(lambda _f: task.cancel() if not task.done() else None)
        return result

    async def _invoke(self, invocation: Invocation) -> InvocationResult:
        headers = {"X-Amzn-RequestId": invocation.request_id, "Content-Type": "application/json"}
        if invocation.client_context:  # the RIE takes Invoke's header as boto3 sends it
            headers["X-Amz-Client-Context"] = base64.b64encode(
                invocation.client_context.encode()
            ).decode()
        url = f"http://{self.address}:{RIE_PORT}{INVOKE_PATH}"
        first, self._first = self._first, False
        try:
            async with self.backend.http.post(
                url, data=invocation.payload, headers=headers
            ) as resp:
                body = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, OSError) as exc:
            message = f"RequestId: {invocation.request_id} Error: {exit_message(None)} ({exc})"
            return InvocationResult.error(FunctionErrorType.EXIT, message, fatal=True)
        init_ms = None
        if first:
            # the RIE logs INIT REPORT before it answers; give the log stream a moment
            await asyncio.to_thread(self._init_seen.wait, 1.0)
            init_ms = self._init_ms
        result = _result(body, status, invocation.request_id)
        result.init_ms = init_ms
        if result.fatal and self._cgroup_file is not None:
            self.out_of_memory = oom_kills(self._cgroup_file.parent) > 0
        return result

    async def kill(self) -> None:
        await asyncio.to_thread(self.backend.remove, self.container)
        self._mark_exited(-9)

    def peak_memory_bytes(self) -> int | None:
        if self._cgroup_file is not None:
            try:
                return int(self._cgroup_file.read_text())
            except (OSError, ValueError):
                return None
        return self.backend.stats_peak(self.container)


def _result(body: bytes, status: int, request_id: str) -> InvocationResult:
    """The RIE's answer as an InvocationResult. It answers a handler's error with 200 and the
    runtime's error document (no X-Amz-Function-Error header), a timeout with 200 and a line of
    text, and a dead runtime with 502."""
    doc: Any = None
    if body[:1] == b"{":
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
    is_doc = isinstance(doc, dict) and {"errorType", "errorMessage"} <= doc.keys()
    if status == 200 and (timed_out := _RIE_TIMEOUT.match(body)):
        message = f"RequestId: {request_id} Error: {timed_out.group(0).decode()}"
        return InvocationResult.error(FunctionErrorType.TIMEOUT, message, fatal=True)
    if status >= 500 or (status != 200 and not is_doc):
        if is_doc:
            error_type = str(doc["errorType"])
            fatal = error_type.startswith("Runtime.")
            return InvocationResult(body, error_type=error_type, fatal=fatal)
        message = f"RequestId: {request_id} Error: the RIE answered HTTP {status}: {body[:200]!r}"
        return InvocationResult.error(FunctionErrorType.EXIT, message, fatal=True)
    if is_doc and (doc.get("requestId") in (request_id, None) or "stackTrace" in doc):
        error_type = str(doc["errorType"])
        return InvocationResult(
            body, error_type=error_type, fatal=error_type == FunctionErrorType.EXIT
        )
    return InvocationResult(body)


class DockerBackend(Backend):
    """Execution environments as containers of each function's image (see `images`)."""

    name = "docker"

    def __init__(
        self,
        images: dict[str, str],
        session: str,
        *,
        network: str | None = None,
        cgroup_root: Path | None = None,
        state_dir: Path | None = None,
    ) -> None:
        self.images = images  # function name -> image id or tag
        # function name -> the container's command, entrypoint, working_dir (ImageConfig)
        self.run_options: dict[str, dict[str, Any]] = {}
        self.session = session
        self.network = network
        # the host's cgroup tree: mounted elsewhere when the sandbox runs in a container
        self.cgroup_root = cgroup_root or Path(
            os.environ.get("SANDBOX_HOST_CGROUP", "/sys/fs/cgroup")
        )
        self.client: Any = None
        self._http: aiohttp.ClientSession | None = None
        self._cgroup = "docker"
        # where disk-backed /tmp images live (None: tmpfs); decided in open()
        self.state_dir = state_dir
        self._disk_tmp: Path | None = None
        self._tmp_mounts: dict[str, tuple[Path, TmpStorage]] = {}  # container id -> mount

    @property
    def http(self) -> aiohttp.ClientSession:
        assert self._http is not None, "open() the backend first"
        return self._http

    @property
    def enforcement(self) -> Enforcement:
        return Enforcement(
            memory=True,
            cpu=True,
            ephemeral_storage=True,
            pids=True,
            user="uid 993 (Lambda's sbx_user1051) in the container",
            cgroup=self._cgroup,
            notes=(
                *(
                    ()
                    if self._disk_tmp is not None
                    else (
                        "/tmp is a tmpfs of EphemeralStorage size: unlike Lambda's disk, files "
                        "there count against MemorySize (a disk-backed /tmp needs the sandbox "
                        "to run as root on the engine's host)",
                    )
                ),
                "the RIE runs INIT inside the first invoke: the 10 s INIT limit is not applied "
                "on its own (INIT counts against the function timeout)",
            ),
        )

    async def open(self) -> None:
        self.client = await asyncio.to_thread(_docker_client)
        try:
            info = await asyncio.to_thread(self.client.info)
        except engine_errors() as exc:
            raise BackendError(f"the Docker engine does not answer: {exc}") from exc
        self._cgroup = f"docker (cgroup v{info.get('CgroupVersion', '1')})"
        if self.network == "auto":  # the network of the container the sandbox runs in
            self.network = await asyncio.to_thread(_own_network, self.client)
        if self.network is None:  # on the host, session ids name host processes: reap
            await asyncio.to_thread(self.reap_stale)
        local = os.environ.get("DOCKER_HOST", "unix://").startswith("unix://")
        if (
            self.state_dir is not None
            and local
            and self.network is None  # not the sandbox-in-a-container of compose
            and os.geteuid() == 0
            and loop_mount_available()
        ):
            self._disk_tmp = self.state_dir / self.session / "docker-tmp"
        self._http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=False),
            timeout=aiohttp.ClientTimeout(total=None),
        )

    def gateway_address(self) -> str:
        """The host's address on the containers' network (where a host-side AWS endpoint
        must listen for functions to reach it)."""
        return network_gateway(self.client, self.network or "bridge")

    async def start(self, env_id: str, spec: EnvironmentSpec) -> DockerEnvironment:
        image = self.images.get(spec.function_name)
        if image is None:
            raise BackendError(f"no image was built for {spec.function_name}")
        container = await asyncio.to_thread(self._run, env_id, spec, image)
        try:
            address = await asyncio.to_thread(self._address, container)
        except engine_errors() as exc:  # it died at once, or the engine went away
            await asyncio.to_thread(self.remove, container)
            raise BackendError(f"{spec.function_name}: the container did not start: {exc}") from exc
        env = DockerEnvironment(env_id, spec, self, container)
        env.address = address
        return env

    def _run(self, env_id: str, spec: EnvironmentSpec, image: str) -> Any:
        import docker.types

        memory = f"{spec.memory_mb}m"
        kwargs: dict[str, Any] = {
            "image": image,
            "detach": True,
            "name": f"lambda-sandbox-{self.session}-{env_id}",
            "environment": container_environment(spec),
            "mem_limit": memory,
            "memswap_limit": memory,  # no swap: past MemorySize the runtime is killed
            "cpu_period": spec.cpu_period_us,
            "cpu_quota": spec.cpu_quota_us,
            "pids_limit": spec.pids_max,
            "ulimits": [docker.types.Ulimit(name="nofile", soft=spec.nofile, hard=spec.nofile)],
            "read_only": True,
            # no /dev/shm (Lambda has none): a private IPC namespace without it, so nothing
            # is written past EphemeralStorage or outlives the environment there
            "ipc_mode": "none",
            "user": SANDBOX_UID,
            "labels": {
                "lambda-sandbox.session": self.session,
                "lambda-sandbox.function": spec.function_name,
            },
        }
        kwargs.update(self.run_options.get(spec.function_name) or {})
        if self.network:
            kwargs["network"] = self.network
        mount = None
        if self._disk_tmp is not None:
            mount = self._mount_tmp(env_id, spec.ephemeral_mb)
            kwargs["volumes"] = {str(mount[0]): {"bind": "/tmp", "mode": "rw"}}
        else:
            kwargs["tmpfs"] = {"/tmp": f"size={spec.ephemeral_mb}m,mode=1777"}
        try:
            container = self.client.containers.run(**kwargs)
        except engine_errors() as exc:
            if mount is not None:
                _unmount(*mount)
            raise BackendError(f"{spec.function_name}: could not start a container: {exc}") from exc
        if mount is not None:
            self._tmp_mounts[str(container.id)] = mount
        return container

    def _mount_tmp(self, env_id: str, size_mb: int) -> tuple[Path, TmpStorage]:
        """A calibrated ext4 image of size_mb, loop-mounted on the host for one container."""
        assert self._disk_tmp is not None
        uid, gid = (int(x) for x in SANDBOX_UID.split(":"))
        storage = prepare_tmp(self._disk_tmp / env_id, size_mb, (uid, gid), use_loop=True)
        assert storage.image is not None
        target = storage.directory / "mnt"
        target.mkdir(exist_ok=True)
        proc = subprocess.run(
            ["mount", "-o", "loop,nosuid,nodev", str(storage.image), str(target)],
            capture_output=True, text=True,
        )  # fmt: skip
        if proc.returncode != 0:
            storage.cleanup()
            raise BackendError(f"cannot loop-mount /tmp storage {storage.image}: {proc.stderr}")
        return target, storage

    def _address(self, container: Any) -> str:
        container.reload()
        networks = container.attrs["NetworkSettings"]["Networks"]
        net = networks.get(self.network) if self.network else None
        net = net or next(iter(networks.values()))
        return str(net["IPAddress"])

    def cgroup_peak_file(self, container_id: str) -> Path | None:
        root = self.cgroup_root
        for candidate in (
            root / "memory" / "docker" / container_id / "memory.max_usage_in_bytes",  # v1
            root / "system.slice" / f"docker-{container_id}.scope" / "memory.peak",  # v2 systemd
            root / "docker" / container_id / "memory.peak",  # v2 cgroupfs
        ):
            if candidate.exists():
                return candidate
        return None

    def stats_peak(self, container: Any) -> int | None:
        """The engine's figure, when the cgroup files are not visible from here."""
        try:
            stats = container.stats(stream=False, one_shot=True)
        except engine_errors():  # gone, or an engine without one-shot stats
            return None
        memory = stats.get("memory_stats") or {}
        peak = memory.get("max_usage") or memory.get("usage")
        return int(peak) if peak else None

    def reap_stale(self) -> int:
        """Remove the containers of sandboxes that crashed (their session's process is gone)."""
        assert self.client is not None
        try:
            labelled = self.client.containers.list(
                all=True, filters={"label": "lambda-sandbox.session"}
            )
        except engine_errors():
            return 0
        stale = [
            c for c in labelled if not session_alive(c.labels.get("lambda-sandbox.session", ""))
        ]
        for container in stale:
            self.remove(container)
        return len(stale)

    def remove(self, container: Any) -> None:
        with contextlib.suppress(*engine_errors()):  # already gone
            container.remove(force=True)
        mount = self._tmp_mounts.pop(str(container.id), None)
        if mount is not None:
            _unmount(*mount)

    async def close(self) -> None:
        if self.client is not None:
            try:
                leftovers = await asyncio.to_thread(
                    self.client.containers.list,
                    all=True,
                    filters={"label": f"lambda-sandbox.session={self.session}"},
                )
            except engine_errors():  # the engine went away: nothing left to remove there
                leftovers = []
            for container in leftovers:
                await asyncio.to_thread(self.remove, container)
            await asyncio.to_thread(self.client.close)
        for target, storage in list(self._tmp_mounts.values()):  # containers gone meanwhile
            _unmount(target, storage)
        self._tmp_mounts.clear()
        if self._disk_tmp is not None:
            # whatever is still mounted under the session's folder (an environment whose
            # removal was cut short) goes before the folder does
            for mounted in _mounts_under(self._disk_tmp):
                subprocess.run(["umount", "-l", mounted], capture_output=True)
            shutil.rmtree(self._disk_tmp, ignore_errors=True)
            with contextlib.suppress(OSError):
                self._disk_tmp.parent.rmdir()  # the session's folder, unless others use it
        if self._http is not None:
            await self._http.close()


def _own_network(client: Any) -> str:
    """The network of the container this process runs in (compose names it after its
    project, so two stacks side by side each have their own)."""
    try:
        me = client.containers.get(socket.gethostname())
    except engine_errors() as exc:
        raise BackendError(
            f"--docker-network auto: this sandbox does not run in a container ({exc}); name "
            "the network the function containers should join"
        ) from exc
    networks = list((me.attrs.get("NetworkSettings") or {}).get("Networks") or {})
    own = [n for n in networks if n not in ("bridge", "host", "none")] or networks
    if not own:
        raise BackendError("--docker-network auto: the sandbox's container is on no network")
    return str(own[0])


def network_gateway(client: Any, network: str) -> str:
    """The host's address on a Docker network: its gateway (the default bridge names none:
    Docker gives the host the subnet's first address)."""
    net = client.networks.get(network)
    configs = (net.attrs.get("IPAM") or {}).get("Config") or []
    for config in configs:
        if config.get("Gateway"):
            return str(config["Gateway"])
    for config in configs:
        subnet = ipaddress.ip_network(config.get("Subnet", ""), strict=False)
        if subnet.version == 4:
            return str(next(subnet.hosts()))
    raise BackendError(f"the Docker network {net.name} has no gateway address")


def _mounts_under(folder: Path) -> list[str]:
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return []
    prefix = str(folder) + "/"
    return [f.split()[1] for f in lines if len(f.split()) > 1 and f.split()[1].startswith(prefix)]


def _unmount(target: Path, storage: TmpStorage) -> None:
    subprocess.run(["umount", "-l", str(target)], capture_output=True)
    storage.cleanup()


def _docker_client() -> Any:
    return connect(BackendError, "the docker backend")
