"""SnapStart on the process backend: a snapshot is an initialized template process; restored
environments are forks of it.

Behind the Web Adapter the template is the web app's process, not the runtime's
(build/web_adapter/snapstart); each restore of it starts its own adapter.

Chosen by measurement (benchmarks/test_snapstart.py, benchmarks/criu_against_fork.py): fork is
copy-on-write, so a restore costs a few milliseconds whatever the size of the model loaded at
INIT (3.27 ms for a 200 MB process, against 115.5 ms for a CRIU 4.1 restore of it, which also
writes the whole memory to an image; Debian bookworm's CRIU 3.17 fails `criu check` on these
machines' kernels), and it needs no privilege. The
template (environments/snapshot_template.py, running inside the runtime) has run INIT and the
before-snapshot hooks; per restore the sandbox sends it the new environment's output pipe, a
"go" pipe and a report pipe over a Unix socket (SCM_RIGHTS), the template forks and answers the
child's pid, the sandbox moves the child into the environment's own cgroup (memory, CPU share,
pids) and writes "go". The child then runs the after-restore hooks and polls the Runtime API.
One such fork is kept ready ahead of the next restore (a spare): moving a process into a
cgroup waits for an RCU grace period on cgroup v1 (7-14 ms measured here), the sandbox's cost
rather than the restore's.

Every environment of one snapshot reaches the Runtime API at the template's address (the
runtime client read it before the snapshot), so that port routes each connection to the
environment whose process holds the peer socket (runtime_api/peer.py), and refuses all others.
Each restored environment gets a /tmp of its own in the template code (snapshot_template.py
_own_tmp): the snapshot's /tmp under an overlay whose writes are its own. What a fork cannot
give it is said in `LIMITS`: it shares the template's uid with the other environments of its
version.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import select
import signal
import socket
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambda_sandbox.environments.process import SNAPSHOT_FD, ProcessEnvironment
from lambda_sandbox.environments.tmp_storage import TmpStorage
from lambda_sandbox.exceptions import BackendError
from lambda_sandbox.runtime_api.channel import RuntimeChannel
from lambda_sandbox.runtime_api.peer import peer_process
from lambda_sandbox.types import EnvironmentSpec, InitOutcome

if TYPE_CHECKING:
    from lambda_sandbox.environments.process import ProcessBackend

__all__ = ["LIMITS", "RestoredEnvironment", "Snapshot", "SnapshotRefused", "take_snapshot"]

LIMITS = (
    "environments restored from one snapshot share its uid (a fork cannot be given another "
    "without privileges the function would keep); each has its own /tmp, an overlay on the "
    "snapshot's whose writes are in memory, counted against MemorySize"
)
_REPLY_S = 10.0
_EXIT_STATUS_WAIT_S = 0.05  # for the template's exit status after the pidfd says "exited"


class SnapshotRefused(BackendError):
    """INIT ended in a state a fork cannot carry (threads), or INIT failed."""


class _SharedTmp(TmpStorage):
    """A restored environment's /tmp is its template's: nothing of its own to remove."""

    def cleanup(self) -> None:
        return None


class RestoredEnvironment(ProcessEnvironment):
    """One environment forked from a snapshot: its own cgroup, output and Runtime API channel."""

    def __init__(self, env_id: str, spec: EnvironmentSpec, snapshot: Snapshot, pid: int,
                 channel: RuntimeChannel, cgroup: Any) -> None:  # fmt: skip
        template = snapshot.template
        storage = _SharedTmp(False, None, template.storage.directory)
        super().__init__(env_id, spec, template._backend, channel, template.address, cgroup,
                         storage, template.user)  # fmt: skip
        self.snapshot = snapshot
        self._pid = pid
        self.go_at = 0.0
        self.report_fd: int | None = None
        self.fingerprint: dict[str, Any] | None = None
        self._pidfd: int | None = None
        self._status: int | None = None
        self._ending: asyncio.TimerHandle | None = None
        self._ended_once = False

    @property
    def pid(self) -> int:
        return self._pid

    def pids(self) -> list[int]:
        """Its processes: the fork, and what it started (a web app's adapter, say)."""
        return (self.cgroup.pids() if self.cgroup is not None else []) or [
            self._pid,
            *_children(self._pid),
        ]

    def watch(self, pidfd: int) -> None:
        """Learn of its end from `pidfd`, which it now owns."""
        self._pidfd = pidfd
        asyncio.get_running_loop().add_reader(pidfd, self._pidfd_readable)

    def _pidfd_readable(self) -> None:
        if self._pidfd is not None:
            asyncio.get_running_loop().remove_reader(self._pidfd)
        if self._ending is None and self.alive:  # the status may follow from the template
            self._ending = asyncio.get_running_loop().call_later(
                _EXIT_STATUS_WAIT_S, self._end_with, None
            )

    def exit_status(self, status: int) -> None:
        """The template reaped this environment's process."""
        self._status = status
        if self._ending is not None:
            self._ending.cancel()
        self._end_with(status)

    def _end_with(self, status: int | None) -> None:
        if self.alive and not self._ended_once:
            self._ended_once = True
            asyncio.get_running_loop().create_task(self._ended(status))

    async def wait_init(self, timeout_s: float) -> InitOutcome | None:
        try:
            outcome = await super().wait_init(timeout_s)
        finally:  # the next spare, now that this restore is no longer racing for the CPU
            self.snapshot.keep_spare(self.spec)
        if outcome is not None and outcome.ok:
            self.fingerprint = self._read_report()
            first = self.channel.first_next.result()
            outcome.restored = True
            outcome.billed_ms = (first - self.go_at) * 1000
        return outcome

    def _read_report(self) -> dict[str, Any] | None:
        fd, self.report_fd = self.report_fd, None
        if fd is None:
            return None
        try:
            os.set_blocking(fd, False)
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        finally:
            os.close(fd)
        try:
            facts = json.loads(data)
        except ValueError:
            return None
        return facts if isinstance(facts, dict) else None

    async def kill(self) -> None:
        if self.cgroup is not None:
            self.cgroup.kill_all()
        if self._pidfd is not None and self.alive:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
        await asyncio.shield(self.exited)

    async def _release(self) -> None:
        self._close_output()
        self.snapshot.restored.pop(self.pid, None)
        if self._pidfd is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        if self.report_fd is not None:
            os.close(self.report_fd)
            self.report_fd = None
        if self.cgroup is not None:
            await _remove_cgroup(self.cgroup)


class Snapshot:
    """An initialized environment kept as the template restored environments fork from."""

    def __init__(self, backend: ProcessBackend) -> None:
        self.backend = backend
        self.sock, self._child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.setblocking(False)
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[dict[str, Any]] = loop.create_future()
        self.ready.add_done_callback(lambda f: f.cancelled() or f.exception())  # seen by take
        self.restored: dict[int, RestoredEnvironment] = {}
        self.tmp_files: list[str] = []
        self.native_threads = 0  # left behind by a fork (see snapshot_template.py)
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 0
        self._template: ProcessEnvironment | None = None
        self.template_pid = 0  # the process restores fork from: the runtime, or a web app's
        self._template_pidfd: int | None = None  # held: that pid is not another's while alive
        self._spare: asyncio.Task[_Forked] | None = None
        loop.add_reader(self.sock.fileno(), self._on_message)

    @property
    def template(self) -> ProcessEnvironment:
        assert self._template is not None
        return self._template

    def hold_template(self, pid: int, root: int) -> None:
        """Make `pid`, a process of the template environment (whose first process is `root`),
        the one restores fork from. Its pidfd is held so a pid it leaves behind, reused by a
        process of another, is never taken for it."""
        try:
            pidfd = os.pidfd_open(pid)
        except OSError as exc:
            raise SnapshotRefused(f"process {pid} of the snapshot has exited") from exc
        if not _descends_from(pid, root) or not _alive(pidfd):
            os.close(pidfd)
            raise SnapshotRefused(f"process {pid} is not one of the snapshot's environment")
        self.template_pid, self._template_pidfd = pid, pidfd

    def _is_fork(self, pid: int, pidfd: int) -> bool:
        """Whether `pid` (open as `pidfd`) is a child of the template, both still alive."""
        held = self._template_pidfd
        return (
            held is not None
            and _parent_of(pid) == self.template_pid
            and _alive(held)
            and _alive(pidfd)
        )

    # the Runtime API port all of them share ------------------------------------------------
    def route(self, transport: asyncio.BaseTransport) -> RuntimeChannel | None:
        extra = transport.get_extra_info
        channels = {pid: env.channel for env in self.restored.values() for pid in env.pids()}
        if self._template is not None:
            channels.update({pid: self._template.channel for pid in self._template.pids()})
        pid = peer_process(extra("peername"), extra("sockname"), list(channels))
        return channels.get(pid) if pid is not None else None

    # messages from the template -------------------------------------------------------------
    def _on_message(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:  # the template has gone
                self._stop_reading()
                if not self.ready.done():
                    self.ready.set_exception(SnapshotRefused("the runtime exited during INIT"))
                for fut in self._replies.values():
                    if not fut.done():
                        fut.set_exception(BackendError("the snapshot's template has exited"))
                return
            with contextlib.suppress(ValueError, TypeError):
                self._dispatch(json.loads(data))

    def _dispatch(self, message: Any) -> None:
        if not isinstance(message, dict):
            return
        if "ready" in message or "refused" in message:
            if not self.ready.done():
                self.ready.set_result(message)
        elif "exit" in message:
            env = self.restored.get(int(message["exit"]))
            if env is not None:
                env.exit_status(int(message.get("status", 0)))
        elif "id" in message:
            fut = self._replies.pop(int(message["id"]), None)
            if fut is not None and not fut.done():
                fut.set_result(message)

    def _stop_reading(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self.sock.fileno())

    # restore ----------------------------------------------------------------------------------
    async def restore(self, env_id: str, spec: EnvironmentSpec) -> RestoredEnvironment:
        """A new environment of the snapshot's version, forked from the template: the spare
        forked ahead (then `env_id` is the spare's own), or a fork made now."""
        if self._template is None or not self._template.alive:
            raise BackendError("the snapshot's template has exited")
        started = time.monotonic()
        forked = self._take_spare(spec)
        if forked is None:
            forked = await self._fork(env_id, spec)
        return self._activate(forked, started)  # its wait_init forks the next spare

    def keep_spare(self, spec: EnvironmentSpec) -> None:
        """Fork the next environment ahead, into its own cgroup, waiting for its "go": moving
        a process into a cgroup (v1) waits for an RCU grace period, 7-14 ms measured here,
        which is the sandbox's cost, not a restore's."""
        if self._spare is None and self._template is not None and self._template.alive:
            self._spare = asyncio.get_running_loop().create_task(self._fork(uuid.uuid4().hex, spec))

    def _take_spare(self, spec: EnvironmentSpec) -> _Forked | None:
        spare, self._spare = self._spare, None
        if spare is None:
            return None
        if not spare.done() or spare.cancelled() or spare.exception() is not None:
            spare.cancel()
            spare.add_done_callback(_discard_when_done)
            return None
        forked = spare.result()
        if forked.spec != spec or not self._is_fork(forked.pid, forked.pidfd):
            _discard(forked)
            return None
        return forked

    async def _fork(self, env_id: str, spec: EnvironmentSpec) -> _Forked:
        backend = self.backend
        cgroup = None
        if backend._cgroups is not None:
            cgroup = backend._cgroups.create(
                backend.session, env_id, (spec.memory_mb - spec.overhead_mb) << 20,
                spec.cpu_quota_us, spec.cpu_period_us, spec.pids_max,
            )  # fmt: skip
        out_r, out_w = os.pipe()
        go_r, go_w = os.pipe()
        report_r, report_w = os.pipe()
        self._next_id += 1
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[self._next_id] = reply
        try:
            request = json.dumps({"id": self._next_id, "tmp_mb": spec.ephemeral_mb}).encode()
            socket.send_fds(self.sock, [request], [out_w, go_r, report_w])
        except OSError as exc:
            for fd in (out_r, go_w, report_r):
                os.close(fd)
            raise BackendError(f"the snapshot's template does not answer: {exc}") from exc
        finally:
            for fd in (out_w, go_r, report_w):
                os.close(fd)
        pidfd: int | None = None
        try:
            answer = await asyncio.wait_for(reply, _REPLY_S)
            pid = int(answer["pid"])
            pidfd = os.pidfd_open(pid)  # first: then the pid checked is the one kept
            if not self._is_fork(pid, pidfd):
                raise BackendError(f"pid {pid} is not a fork of the snapshot's template")
            if cgroup is not None:  # in a thread: the write waits for an RCU grace period
                await asyncio.to_thread(_move, cgroup.procs_files, pid)
                if not _alive(pidfd):
                    raise BackendError(f"the restored environment {pid} exited at once")
        except BaseException as exc:
            for fd in (out_r, go_w, report_r, *([pidfd] if pidfd is not None else [])):
                os.close(fd)
            if cgroup is not None:
                cgroup.kill_all()
                cgroup.remove()
            if isinstance(exc, (BackendError, asyncio.CancelledError)):
                raise
            raise BackendError(f"restoring from the snapshot failed: {exc!r}") from exc
        return _Forked(env_id, spec, pid, pidfd, cgroup, out_r, go_w, report_r)

    def _activate(self, forked: _Forked, started: float) -> RestoredEnvironment:
        backend = self.backend
        channel = RuntimeChannel(forked.env_id, backend.max_response_bytes,
                                 backend.max_stream_bytes)  # fmt: skip
        env = RestoredEnvironment(forked.env_id, forked.spec, self, forked.pid, channel,
                                  forked.cgroup)  # fmt: skip
        env.started = started
        env.report_fd = forked.report_r
        env._attach_output(forked.out_r)
        self.restored[forked.pid] = env
        env.watch(forked.pidfd)
        env.go_at = time.monotonic()
        try:
            os.write(forked.go_w, b"g")
        except OSError as exc:  # it closed its end, or died: it ends (its pidfd says when)
            asyncio.get_running_loop().create_task(env.kill())
            raise BackendError(f"the restored environment did not start: {exc}") from exc
        finally:
            os.close(forked.go_w)
        return env

    async def close(self) -> None:
        """Drop the snapshot: the template ends; restored environments are the service's."""
        spare, self._spare = self._spare, None
        if spare is not None:
            spare.cancel()
            spare.add_done_callback(_discard_when_done)
        self._stop_reading()
        self.sock.close()
        with contextlib.suppress(OSError):
            self._child_end.close()
        if self._template_pidfd is not None:
            os.close(self._template_pidfd)
            self._template_pidfd = None
        if self._template is not None:
            await self._template.kill()


@dataclasses.dataclass
class _Forked:
    """A fork of the template in its own cgroup, waiting for its "go"."""

    env_id: str
    spec: EnvironmentSpec
    pid: int
    pidfd: int
    cgroup: Any
    out_r: int
    go_w: int
    report_r: int


def _move(procs_files: list[Path], pid: int) -> None:
    for procs in procs_files:
        Path(procs).write_text(str(pid))


def _discard(forked: _Forked) -> None:
    """A spare not used: closing its "go" pipe unwritten makes it exit."""
    for fd in (forked.out_r, forked.go_w, forked.report_r, forked.pidfd):
        with contextlib.suppress(OSError):
            os.close(fd)
    if forked.cgroup is not None:
        forked.cgroup.kill_all()
        asyncio.get_running_loop().create_task(_remove_cgroup(forked.cgroup))


def _discard_when_done(task: asyncio.Task[_Forked]) -> None:
    if not task.cancelled() and task.exception() is None:
        _discard(task.result())


async def _remove_cgroup(cgroup: Any) -> None:
    for _ in range(100):
        if cgroup.remove():
            return
        cgroup.kill_all()
        await asyncio.sleep(0.02)


def _alive(pidfd: int) -> bool:
    """A pidfd turns readable when its process exits."""
    return not select.select([pidfd], [], [], 0)[0]


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except (OSError, ValueError):
        return []


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rpartition(")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return None


async def take_snapshot(
    backend: ProcessBackend, env_id: str, spec: EnvironmentSpec, limit_s: float
) -> tuple[Snapshot, InitOutcome]:
    """Run INIT (and the before-snapshot hooks) in a template environment of `spec`, to at most
    `limit_s`. Raises SnapshotRefused, with the reason the function is told, when it fails."""
    snapshot = Snapshot(backend)
    try:
        return await _initialize(snapshot, backend, env_id, spec, limit_s)
    except BaseException:  # refused, or the sandbox is closing while INIT runs
        await snapshot.close()
        raise


async def _initialize(
    snapshot: Snapshot, backend: ProcessBackend, env_id: str, spec: EnvironmentSpec,
    limit_s: float,
) -> tuple[Snapshot, InitOutcome]:  # fmt: skip
    template = await backend.start(
        env_id, spec, pass_fd=snapshot._child_end.fileno(), route=snapshot.route
    )
    snapshot._template = template
    snapshot._child_end.close()
    # a runtime that is neither awslambdaric nor a hooked web app (a custom runtime, another
    # exec wrapper) polls for events without asking for a snapshot
    waiting: list[asyncio.Future[Any]] = [snapshot.ready, template.exited,
                                          template.channel.first_next]  # fmt: skip
    await asyncio.wait(waiting, timeout=limit_s, return_when="FIRST_COMPLETED")
    duration_ms = (time.monotonic() - template.started) * 1000
    message = snapshot.ready.result() if snapshot.ready.done() and not (
        snapshot.ready.exception()) else None  # fmt: skip
    if message is not None and message.get("ready"):
        # behind the Web Adapter the web app is the template (build/web_adapter/snapstart);
        # whichever it is, it must be a process of the template environment
        root = template.pid or 0
        try:  # what the function's process says: checked, never trusted
            pid = int(message.get("pid") or root)
            tmp_files = [str(name) for name in message.get("tmp_files") or []]
            native_threads = int(message.get("native_threads") or 0)
        except (TypeError, ValueError) as exc:
            raise SnapshotRefused(
                f"the snapshot's template said something unreadable: {exc}"
            ) from exc
        snapshot.hold_template(pid, root)
        snapshot.tmp_files, snapshot.native_threads = tmp_files, native_threads
        snapshot.keep_spare(spec)
        return snapshot, InitOutcome(ok=True, duration_ms=duration_ms)
    await asyncio.sleep(0.05)  # the init error the runtime posts before it exits
    raise SnapshotRefused(_refusal(message, template, limit_s))


def _descends_from(pid: int, root: int) -> bool:
    for _ in range(64):
        if pid == root:
            return True
        parent = _parent_of(pid)
        if parent is None or parent <= 1:
            return False
        pid = parent
    return False


def _refusal(message: dict[str, Any] | None, template: ProcessEnvironment, limit_s: float) -> str:
    if message is not None and message.get("refused") == "why":
        return str(message.get("why"))[:500]
    if message is not None and message.get("refused") == "threads":
        threads = [str(t) for t in message.get("threads") or []]
        return (
            f"{len(threads)} Python threads besides the main one were running at the end of INIT "
            f"({', '.join(threads)}): "
            "a snapshot keeps only the thread that calls the handler. Start thread pools in "
            "an after-restore hook (snapshot_restore_py.register_after_restore), or stop them "
            "in a before-snapshot hook."
        )
    if template.channel.first_next.done() and template.alive:
        return (
            "the runtime polled for events without asking for a snapshot (restore/next): "
            "SnapStart here snapshots Python's managed runtime (awslambdaric), or a Python web "
            "app behind the Web Adapter (its log says why it did not become the snapshot), not "
            "a custom runtime or another exec wrapper"
        )
    if template.channel.init_error is not None:
        error_type, body = template.channel.init_error
        return f"INIT failed: {error_type}: {body.decode('utf-8', 'replace')[:500]}"
    if template.alive:
        return f"INIT did not finish within {limit_s:.0f} s"
    return f"the runtime exited during INIT ({template.exited.result()})"


assert SNAPSHOT_FD == "_SANDBOX_SNAPSHOT_FD"  # the name snapshot_template.py reads
