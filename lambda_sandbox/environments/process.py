"""The process backend (the default, no Docker): one environment = one child process.

The environment's first process is the launcher (environments/launcher.py), which joins the
environment's cgroup (memory = MemorySize, CPU quota = MemorySize / 1,769 vCPU, pids), sets its
open-files limit, builds Lambda's filesystem in a mount namespace of its own (/var/task,
/var/runtime, /var/lang, /opt, its own loop-mounted /tmp: environments/lambda_root.py), chroots
into it, drops to a uid of the environment's own (environments/identity.py) and execs the
runtime, which then is the whole process tree. Its Runtime API port answers that uid only. What
this host cannot enforce or show is reported by `enforcement`, never silently skipped: without
root, the function runs on the host's folders, and its environment names them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lambda_sandbox.environments.base import Backend, Environment, exit_message
from lambda_sandbox.environments.cgroups import Cgroup, CgroupDriver, detect_cgroup_driver
from lambda_sandbox.environments.identity import IdentityPool
from lambda_sandbox.environments.lambda_root import (
    NO_BOOTSTRAP,
    PYTHON_NAMES,
    host_paths,
    lacks_python_names,
    mount_plan,
    runtime_command,
    sh_is_not_bash,
)
from lambda_sandbox.environments.tmp_storage import TmpStorage, loop_mount_available, prepare_tmp
from lambda_sandbox.exceptions import BackendError, FunctionErrorType
from lambda_sandbox.runtime_api.channel import RuntimeChannel
from lambda_sandbox.runtime_api.protocol import Route
from lambda_sandbox.runtime_api.server import RuntimeAPIServer
from lambda_sandbox.sessions import is_session_name, session_alive
from lambda_sandbox.types import (
    LAMBDA_PATHS,
    Enforcement,
    EnvironmentSpec,
    Filesystem,
    InitOutcome,
    Invocation,
    InvocationResult,
)

__all__ = ["ProcessBackend", "ProcessEnvironment"]

LAUNCHER = Path(__file__).with_name("launcher.py")
SNAPSHOT_FD = "_SANDBOX_SNAPSHOT_FD"  # environments/snapshot_template.py reads it
_TMP = Path("/tmp")


class ProcessEnvironment(Environment):
    def __init__(
        self,
        env_id: str,
        spec: EnvironmentSpec,
        backend: ProcessBackend,
        channel: RuntimeChannel,
        address: str,
        cgroup: Cgroup | None,
        storage: TmpStorage,
        user: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(env_id, spec)
        self.user = user  # the environment's own uid and gid (None: the sandbox's)
        self._backend = backend
        self.channel = channel
        self.address = address
        self.cgroup = cgroup
        self.storage = storage
        self.started = time.monotonic()
        self.exit_time: float | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._out_fd: int | None = None
        self._partial = b""
        self._lines: list[str] = []
        self._final_peak: int | None = None
        self._peak_rss = 0

    # output capture: a non-blocking pipe read on the loop, drained on demand ---------------
    def _attach_output(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self._out_fd = fd
        asyncio.get_running_loop().add_reader(fd, self._read_output)

    def _read_output(self) -> None:
        fd = self._out_fd
        if fd is None:
            return
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._close_output()
                return
            self._partial += data
            if b"\n" in self._partial:
                *done, self._partial = self._partial.split(b"\n")
                self._lines.extend(d.decode("utf-8", "replace") for d in done)

    def _close_output(self) -> None:
        fd, self._out_fd = self._out_fd, None
        if fd is not None:
            asyncio.get_running_loop().remove_reader(fd)
            os.close(fd)
        if self._partial:
            self._lines.append(self._partial.decode("utf-8", "replace"))
            self._partial = b""

    def take_output(self) -> list[str]:
        self._read_output()  # what the runtime wrote before answering is in the pipe now
        if self._partial:
            self._lines.append(self._partial.decode("utf-8", "replace"))
            self._partial = b""
        lines, self._lines = self._lines, []
        return lines

    # lifecycle ---------------------------------------------------------------------------
    async def _watch(self, proc: asyncio.subprocess.Process) -> None:
        await self._ended(await proc.wait())

    async def _ended(self, returncode: int | None) -> None:
        """The runtime process has exited: its last output, the answer of an invoke it was
        running, and the environment's resources."""
        self.exit_time = time.monotonic()
        if self.cgroup is not None:  # the group goes away below: keep its peak for the REPORT
            self._final_peak = self.cgroup.peak_memory_bytes() or 0
        if self.cgroup is not None and self.cgroup.oom_killed():
            self.out_of_memory = True
            if returncode == 0:
                returncode = -9
        self._read_output()
        current = self.channel.current
        rid = current.request_id if current is not None else ""
        self.channel.abort(
            InvocationResult.error(
                FunctionErrorType.EXIT,
                f"RequestId: {rid} Error: {exit_message(returncode)}",
                fatal=True,
            )
        )
        if not self.exited.done():
            self.exited.set_result(returncode)
        await self._release()

    async def _release(self) -> None:
        self._close_output()
        await self._backend.runtime_server.close(self.address)
        if self.cgroup is not None:
            for _ in range(100):
                if self.cgroup.remove():
                    break
                self.cgroup.kill_all()
                await asyncio.sleep(0.02)
        self.storage.cleanup()
        if self.user is not None:
            self._backend.identities.release(self.user[0])

    async def wait_init(self, timeout_s: float) -> InitOutcome | None:
        first = self.channel.first_next
        waiting: list[asyncio.Future[Any]] = [first, self.exited]
        await asyncio.wait(waiting, timeout=timeout_s, return_when="FIRST_COMPLETED")
        if first.done():
            return InitOutcome(ok=True, duration_ms=(first.result() - self.started) * 1000)
        if self.exited.done():
            duration = ((self.exit_time or time.monotonic()) - self.started) * 1000
            message = exit_message(self.exited.result())
            if self.channel.init_error is not None:
                error_type, body = self.channel.init_error
                return InitOutcome(False, duration, error_type, body, exit_message=message)
            return InitOutcome(False, duration, FunctionErrorType.EXIT, exit_message=message)
        return None

    def submit(self, invocation: Invocation) -> asyncio.Future[InvocationResult]:
        if not self.alive:
            fut: asyncio.Future[InvocationResult] = asyncio.get_running_loop().create_future()
            result = InvocationResult.error(
                FunctionErrorType.EXIT,
                f"RequestId: {invocation.request_id} Error: {exit_message(self.exited.result())}",
                fatal=True,
            )
            result.undelivered = True
            fut.set_result(result)
            return fut
        return self.channel.submit(invocation)

    async def kill(self) -> None:
        if self.cgroup is not None:
            self.cgroup.kill_all()
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
        if self._proc is not None:
            await asyncio.shield(self.exited)

    def peak_memory_bytes(self) -> int | None:
        """Max Memory Used as Lambda counts it: the larger of the cgroup's peak charge and the
        peak resident size of the environment's processes. The cgroup alone misses what the
        host had cached before (the interpreter, shared libraries: charged to whoever read
        them first), which in a Lambda microVM is always the function's own: a no-op Python
        function uses 30-45 MB there, not the few MB a cgroup charge shows."""
        overhead = self.spec.overhead_mb << 20
        if self._final_peak is not None:
            return max(self._final_peak, self._peak_rss) + overhead
        charged = self.cgroup.peak_memory_bytes() if self.cgroup is not None else None
        self._peak_rss = max(self._peak_rss, self._resident_peak())
        if charged is None and not self._peak_rss:
            return None
        return max(charged or 0, self._peak_rss) + overhead

    @property
    def pid(self) -> int | None:
        """The runtime's process (the launcher execs it)."""
        return self._proc.pid if self._proc is not None else None

    def pids(self) -> list[int]:
        """The environment's processes."""
        pids = self.cgroup.pids() if self.cgroup is not None else []
        if not pids and self._proc is not None:
            pids = [self._proc.pid]
        return pids

    def _resident_peak(self) -> int:
        """The largest VmHWM (peak RSS) among the environment's processes, in bytes."""
        peak = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/status", "rb") as f:
                    for line in f:
                        if line.startswith(b"VmHWM:"):
                            peak = max(peak, int(line.split()[1]) * 1024)
                            break
            except (OSError, ValueError, IndexError):
                continue
        return peak


class ProcessBackend(Backend):
    name = "process"

    def __init__(
        self,
        state_dir: Path,
        session: str,
        max_response_bytes: int,
        max_stream_bytes: int,
        python: str | None = None,
        runtime_host: str = "127.0.0.1",
    ) -> None:
        self.state_dir = state_dir
        self.session = session
        self.max_response_bytes = max_response_bytes
        self.max_stream_bytes = max_stream_bytes
        self.python = python or sys.executable  # runs the launcher (the function: /var/lang)
        self.runtime_server = RuntimeAPIServer(runtime_host)
        self._cgroups: CgroupDriver | None = None
        self._loop_tmp = False
        self._lambda_root = False  # Lambda's filesystem in a mount namespace (needs root)
        self._own_users = False  # each environment a uid of its own (needs root)
        self.identities = IdentityPool(session)
        self._notes: list[str] = []

    # set-up --------------------------------------------------------------------------------
    async def open(self) -> None:
        if _is_under(self.state_dir, _TMP):
            raise BackendError(f"state dir {self.state_dir} must not be under /tmp")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state_dir, 0o755)
        root = os.geteuid() == 0
        self._cgroups = detect_cgroup_driver()
        if self._cgroups is None:
            self._notes.append(
                "no writable cgroup (v1 or v2): memory, CPU and pids limits are NOT enforced; "
                "run as root or under `systemd-run --user --scope -p Delegate=yes`"
            )
        else:
            self._cgroups.reap_stale(session_alive)
        for stale in self.state_dir.iterdir():
            if stale.is_dir() and is_session_name(stale.name) and not session_alive(stale.name):
                shutil.rmtree(stale, ignore_errors=True)
        self._lambda_root = root
        self._loop_tmp = root and loop_mount_available()
        if not self._loop_tmp:
            self._notes.append(
                "/tmp is a private folder without a size limit: EphemeralStorage is NOT "
                "enforced (needs root, util-linux and e2fsprogs)"
            )
        if root:
            self.identities.open(session_alive)
            self._own_users = True
        else:
            self._notes.append(
                "no mount namespace without root: functions see the host's folders, and "
                "LAMBDA_TASK_ROOT, LAMBDA_RUNTIME_DIR, PATH and the like name them instead of "
                "/var/task, /var/runtime, /var/lang and /opt"
            )

    def runtime_note(self, runtime: str) -> str | None:
        return None  # the function's Filesystem carries how its runtime differs

    @property
    def enforcement(self) -> Enforcement:
        cg = self._cgroups is not None
        user = (
            "a uid of its own per environment"
            if self._own_users
            else ("root" if os.geteuid() == 0 else os.environ.get("USER", str(os.geteuid())))
        )
        return Enforcement(
            memory=cg,
            cpu=cg,
            ephemeral_storage=self._loop_tmp,
            pids=cg,
            user=user,
            cgroup=self._cgroups.version if self._cgroups else "none",
            notes=tuple(self._notes),
        )

    # environments --------------------------------------------------------------------------
    async def start(
        self,
        env_id: str,
        spec: EnvironmentSpec,
        *,
        pass_fd: int | None = None,
        route: Route | None = None,
    ) -> ProcessEnvironment:
        """A new environment; `pass_fd` (and its `route` for the Runtime API port) make it a
        SnapStart template (environments/snapshots.py)."""
        fs = spec.filesystem
        if not spec.runtime.startswith(("python", "provided")):
            raise BackendError(
                f"{spec.function_name}: the sandbox runs Python and provided (custom) runtimes, "
                f"not {spec.runtime}"
            )
        if fs is None or (fs.python_version is not None and fs.runtime is None):
            raise BackendError(
                f"{spec.function_name}: no runtime prepared (build.runtimes.prepare_runtime)"
            )
        user: tuple[int, int] | None = None
        if self._own_users and (fs.lang is None or _others_can_run(fs, self)):
            user = self.identities.acquire()
        owner = user or (os.geteuid(), os.getegid())
        workdir = self.state_dir / self.session / env_id
        try:
            storage = await asyncio.to_thread(
                prepare_tmp, workdir, spec.ephemeral_mb, owner, self._loop_tmp
            )
        except BackendError:
            if user is not None:
                self.identities.release(user[0])
            raise
        cgroup: Cgroup | None = None
        address: str | None = None
        read_fd = write_fd = -1
        try:  # every step's resource is released when a later step fails
            if self._cgroups is not None:
                cgroup = self._cgroups.create(
                    self.session,
                    env_id,
                    (spec.memory_mb - spec.overhead_mb) << 20,  # Lambda's headroom, not more
                    spec.init_cpu_quota_us,  # INIT's burst; the tier's share from /next on
                    spec.cpu_period_us,
                    spec.pids_max,
                )
            channel = RuntimeChannel(env_id, self.max_response_bytes, self.max_stream_bytes)
            if cgroup is not None and spec.init_cpu_quota_us != spec.cpu_quota_us:
                channel.first_next.add_done_callback(_end_of_init(cgroup, spec))
            address = await self.runtime_server.open(channel, user[0] if user else None, route)
            env = ProcessEnvironment(env_id, spec, self, channel, address, cgroup, storage, user)
            plan = self._plan(spec, fs, cgroup, storage, user, workdir)
            variables = dict(spec.environment)
            if not self._lambda_root:
                variables = host_paths(variables, fs)
                variables["TMPDIR"] = str(storage.directory / "tmp")
                variables["_SANDBOX_OPT_DIR"] = plan["opt"]
            variables["AWS_LAMBDA_RUNTIME_API"] = address
            if pass_fd is not None:
                variables[SNAPSHOT_FD] = str(pass_fd)
            read_fd, write_fd = os.pipe()
            env.started = time.monotonic()
            proc = await asyncio.create_subprocess_exec(
                self.python, "-S", "-I", str(LAUNCHER), json.dumps(plan),
                stdin=subprocess.DEVNULL,
                stdout=write_fd,
                stderr=write_fd,
                env=variables,
                cwd=fs.task,
                start_new_session=True,
                pass_fds=(pass_fd,) if pass_fd is not None else (),
            )  # fmt: skip
        except (OSError, BackendError) as exc:
            for fd in (read_fd, write_fd):
                if fd >= 0:
                    os.close(fd)
            if address is not None:
                await self.runtime_server.close(address)
            if cgroup is not None:
                cgroup.remove()
            storage.cleanup()
            if user is not None:
                self.identities.release(user[0])
            if isinstance(exc, BackendError):
                raise
            raise BackendError(f"cannot start the runtime of {spec.function_name}: {exc}") from exc
        os.close(write_fd)
        env._proc = proc
        env._attach_output(read_fd)
        asyncio.get_running_loop().create_task(env._watch(proc))
        return env

    def _plan(
        self,
        spec: EnvironmentSpec,
        fs: Filesystem,
        cgroup: Cgroup | None,
        storage: TmpStorage,
        user: tuple[int, int] | None,
        workdir: Path,
    ) -> dict[str, Any]:
        """What the launcher does for this environment (environments/launcher.py)."""
        plan: dict[str, Any] = {
            "cgroup_procs": [str(f) for f in cgroup.procs_files] if cgroup is not None else [],
            "nofile": spec.nofile,
            # Lambda's other limits (LocalStack's snapshot test_runtime_ulimits; NPROC is left
            # to the pids cgroup: per user, it would be shared by every environment here)
            "rlimits": {"CORE": [10737418240, 10737418240], "MEMLOCK": [65536, 65536]},
            "user": list(user) if user is not None else None,
            "argv": runtime_command(spec, fs, lambda_paths=self._lambda_root),
        }
        if fs.python_version is None:  # what Lambda says when a provided runtime has none
            plan["missing_entrypoint"] = NO_BOOTSTRAP
        if self._lambda_root:
            root = workdir / "root"
            root.mkdir(exist_ok=True)
            tmp_folder = storage.directory / "tmp"
            if storage.image is None:
                tmp_folder.mkdir(exist_ok=True)
            links = None
            if fs.lang is not None and lacks_python_names(fs.lang):
                links = self._python_links(fs.python_version or "3")
            sh = self._sh_links() if sh_is_not_bash() else None
            mounts = mount_plan(fs, root, storage.image, tmp_folder, links, sh)
            plan.update(mounts=mounts, root=str(root), cwd=LAMBDA_PATHS["task"])
        else:
            plan.update(cwd=str(fs.task), opt=str(fs.opt or self._empty_opt()))
        return plan

    def _python_links(self, version: str) -> Path:
        """bin/python and bin/python3 -> pythonX.Y, laid over a /var/lang that lacks them."""
        folder = self.state_dir / f"python-links-{version}"
        bin_dir = folder / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        for name in PYTHON_NAMES:
            link = bin_dir / name
            if not link.is_symlink():
                link.symlink_to(f"python{version}")
        return folder

    def _sh_links(self) -> Path:
        """usr/bin/sh -> bash, laid over the root's /usr/bin (Amazon Linux's /bin/sh)."""
        folder = self.state_dir / "sh-is-bash"
        folder.mkdir(exist_ok=True)
        link = folder / "sh"
        if not link.is_symlink():
            link.symlink_to("bash")
        return folder

    def _empty_opt(self) -> Path:
        folder = self.state_dir / "empty-opt"
        folder.mkdir(exist_ok=True)
        return folder

    async def close(self) -> None:
        await self.runtime_server.stop()
        if self._cgroups is not None:
            self._cgroups.remove_session(self.session)
        self.identities.close()
        with contextlib.suppress(OSError):
            shutil.rmtree(self.state_dir / self.session)


def _others_can_run(fs: Filesystem, backend: ProcessBackend) -> bool:
    """Can the unprivileged user run the function's Python? (Its files must be readable by
    others; the folders above it need not be: it is bind-mounted.) When not, the function runs
    as root, and the backend says so."""
    assert fs.lang is not None
    exe = fs.lang / "bin" / f"python{fs.python_version}"
    try:
        ok = bool(exe.stat().st_mode & 0o001)
    except OSError:
        ok = False
    if not ok:
        note = f"{exe} is not executable by other users: functions on it run as root"
        if note not in backend._notes:
            backend._notes.append(note)
    return ok


def _end_of_init(cgroup: Cgroup, spec: EnvironmentSpec) -> Any:
    """INIT ends at the runtime's first /next: from then on the tier's own CPU share."""

    def lower(_: object) -> None:
        with contextlib.suppress(BackendError):  # the group is gone: so is the environment
            cgroup.set_cpu_quota(spec.cpu_quota_us, spec.cpu_period_us)

    return lower


def _is_under(path: Path, parent: Path) -> bool:
    try:
        path.resolve().relative_to(parent)
    except ValueError:
        return False
    return True
