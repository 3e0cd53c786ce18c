"""The process backend (the default, no Docker): one environment = one child process.

The runtime process is `python -S -m awslambdaric <Handler>` (the real runtime interface
client) started through a short launcher chain:

    [unshare --mount]  sh -c '<join cgroups; ulimit -n; mount /tmp>'  [setpriv --reuid]  python

Each link execs the next, so the environment is a single process tree whose root becomes the
Python runtime, inside its own cgroup (memory = MemorySize, CPU quota = MemorySize / 1,769 vCPU,
pids), with its own loop-mounted /tmp, as an unprivileged user when the host allows it.
What this host cannot enforce is reported by `enforcement`, never silently skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lambda_sandbox.environments.base import Backend, Environment, exit_message
from lambda_sandbox.environments.cgroups import Cgroup, CgroupDriver, detect_cgroup_driver
from lambda_sandbox.environments.runtime_packages import build_runtime_layer
from lambda_sandbox.environments.tmp_storage import TmpStorage, loop_mount_available, prepare_tmp
from lambda_sandbox.exceptions import BackendError, FunctionErrorType
from lambda_sandbox.runtime_api.channel import RuntimeChannel
from lambda_sandbox.runtime_api.server import RuntimeAPIServer
from lambda_sandbox.types import (
    Enforcement,
    EnvironmentSpec,
    InitOutcome,
    Invocation,
    InvocationResult,
)

__all__ = ["ProcessBackend", "ProcessEnvironment"]

UNPRIVILEGED = (65534, 65534)  # nobody:nogroup
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
    ) -> None:
        super().__init__(env_id, spec)
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
        returncode = await proc.wait()
        self.exit_time = time.monotonic()
        if self.cgroup is not None:  # the group goes away below: keep its peak for the REPORT
            self._final_peak = self.cgroup.peak_memory_bytes() or 0
        if self.cgroup is not None and self.cgroup.oom_killed() and returncode == 0:
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
            fut.set_result(
                InvocationResult.error(
                    FunctionErrorType.EXIT,
                    f"RequestId: {invocation.request_id} Error: "
                    f"{exit_message(self.exited.result())}",
                    fatal=True,
                )
            )
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

    def _resident_peak(self) -> int:
        """The largest VmHWM (peak RSS) among the environment's processes, in bytes."""
        pids = self.cgroup.pids() if self.cgroup is not None else []
        if not pids and self._proc is not None:
            pids = [self._proc.pid]
        peak = 0
        for pid in pids:
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
        self.python = python or sys.executable
        self.runtime_server = RuntimeAPIServer(runtime_host)
        self._cgroups: CgroupDriver | None = None
        self._loop_tmp = False
        self._user: tuple[int, int] | None = None
        self._notes: list[str] = []
        self._bundle_ok: dict[tuple[Path, str], bool] = {}
        self._layer: Path | None = None

    # set-up --------------------------------------------------------------------------------
    async def open(self) -> None:
        if _is_under(self.state_dir, _TMP):
            raise BackendError(f"state dir {self.state_dir} must not be under /tmp")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state_dir, 0o755)
        self._layer = build_runtime_layer(self.state_dir)
        root = os.geteuid() == 0
        self._cgroups = detect_cgroup_driver()
        if self._cgroups is None:
            self._notes.append(
                "no writable cgroup (v1 or v2): memory, CPU and pids limits are NOT enforced; "
                "run as root or under `systemd-run --user --scope -p Delegate=yes`"
            )
        else:
            self._cgroups.reap_stale(session_alive)
        for stale in self.state_dir.glob("s*-*"):
            if stale.is_dir() and not session_alive(stale.name):
                shutil.rmtree(stale, ignore_errors=True)
        self._loop_tmp = root and loop_mount_available()
        if not self._loop_tmp:
            self._notes.append(
                "/tmp is a private folder (TMPDIR) without a size limit: EphemeralStorage is "
                "NOT enforced (needs root, util-linux and e2fsprogs)"
            )
        if root:
            found = self._unprivileged_python(self._layer)
            if found is not None:
                self._user = UNPRIVILEGED
                if found != self.python:
                    self._notes.append(
                        f"functions run on {found}: user nobody cannot run {self.python}"
                    )
                self.python = found
            else:
                self._notes.append(
                    f"functions run as root: user nobody cannot run {self.python} "
                    "(its folders are not readable by other users)"
                )

    def _unprivileged_python(self, layer: Path) -> str | None:
        """An interpreter of the same Python version that user nobody can really exec."""
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        candidates = [
            self.python,
            os.path.realpath(self.python),
            f"/usr/bin/python{version}",
            f"/usr/local/bin/python{version}",
        ]
        for candidate in dict.fromkeys(candidates):
            if Path(candidate).exists() and self._probe_user(layer, candidate):
                return candidate
        return None

    def _probe_user(self, path: Path, python: str | None = None) -> bool:
        """Can the unprivileged user exec the interpreter (from a shell, as the exec wrapper
        and the launcher do) and read `path`?"""
        python = python or self.python
        if (path, python) in self._bundle_ok:
            return self._bundle_ok[(path, python)]
        uid, gid = UNPRIVILEGED
        check = 'exec "$0" -S -c "import os,sys; os.listdir(sys.argv[1])" "$1"'
        cmd = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--",
               "/bin/sh", "-c", check, python, str(path)]  # fmt: skip
        try:
            ok = subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0
        except (OSError, subprocess.SubprocessError):
            ok = False
        self._bundle_ok[(path, python)] = ok
        return ok

    def runtime_note(self, runtime: str) -> str | None:
        host_runtime = f"python{sys.version_info.major}.{sys.version_info.minor}"
        return None if runtime == host_runtime else f"runs on {host_runtime}, not {runtime}"

    @property
    def enforcement(self) -> Enforcement:
        cg = self._cgroups is not None
        user = (
            "nobody"
            if self._user
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
    async def start(self, env_id: str, spec: EnvironmentSpec) -> ProcessEnvironment:
        assert self._layer is not None, "open() first"
        user = self._user
        if user is not None and not self._probe_user(spec.bundle_dir):
            user = None
            note = f"{spec.bundle_dir} is not readable by nobody: {spec.function_name} runs as root"
            if note not in self._notes:
                self._notes.append(note)
        owner = user or (os.geteuid(), os.getegid())
        workdir = self.state_dir / self.session / env_id
        storage = await asyncio.to_thread(
            prepare_tmp, workdir, spec.ephemeral_mb, owner, self._loop_tmp
        )
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
            address = await self.runtime_server.open(channel)
            env = ProcessEnvironment(env_id, spec, self, channel, address, cgroup, storage)
            cmd = self._command(spec, cgroup, storage, user, workdir)
            variables = dict(spec.environment)
            variables["AWS_LAMBDA_RUNTIME_API"] = address
            variables["PYTHONPATH"] = f"{spec.bundle_dir}:{self._layer}"
            if storage.image is None:
                variables["TMPDIR"] = str(storage.directory / "tmp")
            read_fd, write_fd = os.pipe()
            env.started = time.monotonic()
            proc = await asyncio.create_subprocess_exec(
                *cmd,
                stdin=subprocess.DEVNULL,
                stdout=write_fd,
                stderr=write_fd,
                env=variables,
                cwd=spec.bundle_dir,
                start_new_session=True,
            )
        except (OSError, BackendError) as exc:
            for fd in (read_fd, write_fd):
                if fd >= 0:
                    os.close(fd)
            if address is not None:
                await self.runtime_server.close(address)
            if cgroup is not None:
                cgroup.remove()
            storage.cleanup()
            if isinstance(exc, BackendError):
                raise
            raise BackendError(f"cannot start the runtime of {spec.function_name}: {exc}") from exc
        os.close(write_fd)
        env._proc = proc
        env._attach_output(read_fd)
        asyncio.get_running_loop().create_task(env._watch(proc))
        return env

    def _command(
        self,
        spec: EnvironmentSpec,
        cgroup: Cgroup | None,
        storage: TmpStorage,
        user: tuple[int, int] | None,
        workdir: Path,
    ) -> list[str]:
        q = shlex.quote
        script = ["set -e"]
        if cgroup is not None:
            script += [f"echo $$ > {q(str(f))}" for f in cgroup.procs_files]
        script.append(f"ulimit -n {spec.nofile} 2>/dev/null || true")
        if storage.image is not None:
            # Paths the runtime needs that live under /tmp would be hidden by the new /tmp:
            # bind them back in from a view of the old /tmp.
            hidden = [p for p in self._needed_paths(spec) if _is_under(p, _TMP)]
            if hidden:
                old = workdir / "old-tmp"
                script += [f"mkdir -p {q(str(old))}", f"mount --bind /tmp {q(str(old))}"]
            script.append(f"mount -o loop,nosuid,nodev {q(str(storage.image))} /tmp")
            for p in hidden:
                rel = p.relative_to(_TMP)
                script += [f"mkdir -p {q(str(p))}", f"mount --bind {q(str(old / rel))} {q(str(p))}"]
            script.append(f"rm -f {q(str(storage.image))}")
        if user is not None:
            script.append(
                f'exec setpriv --reuid={user[0]} --regid={user[1]} --clear-groups -- "$@"'
            )
        else:
            script.append('exec "$@"')
        runtime = [self.python, "-S", "-m", "awslambdaric", spec.handler]
        wrapper = spec.environment.get("AWS_LAMBDA_EXEC_WRAPPER")
        if wrapper:  # Lambda runs the wrapper with the runtime's command line as arguments
            runtime.insert(0, wrapper)
        launcher = ["/bin/sh", "-c", "\n".join(script), "lambda-runtime", *runtime]
        if storage.image is not None:
            return ["unshare", "--mount", "--propagation", "private", "--", *launcher]
        return launcher

    def _needed_paths(self, spec: EnvironmentSpec) -> list[Path]:
        paths = {spec.bundle_dir, Path(sys.prefix), Path(sys.base_prefix), Path(self.python)}
        if self._layer is not None:
            paths.add(self._layer)
            paths.update(p.resolve().parent for p in self._layer.iterdir())
        return sorted({p for p in paths if p.exists()})

    async def close(self) -> None:
        await self.runtime_server.stop()
        if self._cgroups is not None:
            self._cgroups.remove_session(self.session)
        with contextlib.suppress(OSError):
            shutil.rmtree(self.state_dir / self.session)


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


def session_alive(session: str) -> bool:
    """Sessions are named s<pid>-<random>: alive while that process runs."""
    pid = session[1:].split("-", 1)[0]
    return pid.isdigit() and Path(f"/proc/{pid}").exists()
