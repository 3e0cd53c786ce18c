"""Control groups for execution environments: memory, CPU quota and pids limits; peak memory.

Supports cgroup v1 (memory, cpu and pids hierarchies) and cgroup v2 (unified, as root or in a
delegated subtree such as `systemd-run --user --scope -p Delegate=yes`). Groups are made under
the sandbox's own cgroup as `lambda-sandbox/<session>/<env>`, so they are labelled with the
session and can be reaped. Every OSError of a cgroup file is translated to BackendError here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

from lambda_sandbox.exceptions import BackendError

__all__ = ["Cgroup", "CgroupDriver", "detect_cgroup_driver", "oom_kills"]

ROOT_NAME = "lambda-sandbox"


def _write(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError as exc:
        raise BackendError(f"cannot write {value!r} to {path}: {exc.strerror or exc}") from exc


def oom_kills(memory_dir: Path) -> int:
    """How many processes the kernel killed at the group's memory limit (cgroup v2's
    memory.events, v1's memory.oom_control: both have an `oom_kill N` line)."""
    for name in ("memory.events", "memory.oom_control"):
        try:
            text = (memory_dir / name).read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
    return 0


class _IntFile:
    """A cgroup counter kept open and re-read with pread: no open/close per invoke."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def read(self) -> int | None:
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDONLY)
            return int(os.pread(self._fd, 64, 0).split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


def _pids(procs_file: Path) -> list[int]:
    try:
        return [int(line) for line in procs_file.read_text().split()]
    except OSError:
        return []


def _kill_once(procs_file: Path) -> int:
    """SIGKILL every process now in the group; returns how many were signalled."""
    pids = _pids(procs_file)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return len(pids)


def _kill_loop(procs_file: Path, timeout_s: float = 5.0) -> None:
    """Kill until the group stays empty (forks race a single pass). Blocking: start-up only."""
    deadline = time.monotonic() + timeout_s
    while _kill_once(procs_file) and time.monotonic() < deadline:
        time.sleep(0.01)


def _rmdir(path: Path) -> bool:
    try:
        path.rmdir()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def _reap_root(root: Path, is_alive: Callable[[str], bool], kill: bool) -> int:
    """Kill (when `kill`) and remove the environment groups of dead sessions under `root`
    (lambda-sandbox/<session>/<env>); returns how many environment groups were removed."""
    removed = 0
    if not root.is_dir():
        return 0
    for session_dir in root.iterdir():
        if not session_dir.is_dir() or is_alive(session_dir.name):
            continue
        removed += _remove_session_dir(session_dir, kill)
    return removed


def _remove_session_dir(session_dir: Path, kill: bool, timeout_s: float = 5.0) -> int:
    """Kill (when `kill`) and remove a session's environment groups, then the session's own;
    returns how many environment groups there were. A group whose processes have just exited
    can refuse removal (EBUSY) for a while: it is tried again until `timeout_s`."""
    envs = [d for d in session_dir.iterdir() if d.is_dir()] if session_dir.is_dir() else []
    for env_dir in envs:
        if kill:
            _kill_loop(env_dir / "cgroup.procs")
        deadline = time.monotonic() + timeout_s
        while not _rmdir(env_dir) and time.monotonic() < deadline:
            time.sleep(0.02)
    _rmdir(session_dir)
    return len(envs)


class Cgroup(ABC):
    """One environment's control group."""

    @property
    @abstractmethod
    def procs_files(self) -> list[Path]:
        """Files a process writes its pid to, to join the group (one per hierarchy)."""

    @abstractmethod
    def peak_memory_bytes(self) -> int | None: ...

    @abstractmethod
    def pids(self) -> list[int]:
        """The processes in the group now."""

    @abstractmethod
    def oom_killed(self) -> bool: ...

    @abstractmethod
    def set_cpu_quota(self, quota_us: int, period_us: int) -> None:
        """Change the CPU quota (INIT runs with a burst, the invokes with the tier's share)."""

    @abstractmethod
    def kill_all(self) -> int:
        """SIGKILL every process in the group once; returns how many were signalled."""

    @abstractmethod
    def remove(self) -> bool:
        """Remove the group; False while processes remain (try again after they are reaped)."""


class CgroupDriver(ABC):
    version: str

    @abstractmethod
    def create(
        self,
        session: str,
        env_id: str,
        memory_bytes: int,
        cpu_quota_us: int,
        cpu_period_us: int,
        pids_max: int,
    ) -> Cgroup: ...

    @abstractmethod
    def reap_stale(self, is_alive: Callable[[str], bool]) -> int:
        """Kill and remove the groups of dead sessions; returns how many were removed."""

    @abstractmethod
    def remove_session(self, session: str) -> None:
        """Remove the session's groups at shutdown: any environment group still there (one
        whose removal was refused a moment ago) and then the session's own."""

    @abstractmethod
    def roots(self) -> list[Path]:
        """The sandbox's parent groups (lambda-sandbox/), one per hierarchy."""

    def stale_groups(self, is_alive: Callable[[str], bool]) -> list[Path]:
        """The session groups of sessions that are gone (what `reap_stale` removes)."""
        return [
            group
            for root in self.roots()
            if root.is_dir()
            for group in sorted(root.iterdir())
            if group.is_dir() and not is_alive(group.name)
        ]


# ---------------------------------------------------------------------------- cgroup v1
class _V1Group(Cgroup):
    def __init__(self, dirs: dict[str, Path]) -> None:
        self.dirs = dirs
        self._peak = _IntFile(dirs["memory"] / "memory.max_usage_in_bytes")

    @property
    def procs_files(self) -> list[Path]:
        return [d / "cgroup.procs" for d in self.dirs.values()]

    def peak_memory_bytes(self) -> int | None:
        return self._peak.read()

    def oom_killed(self) -> bool:
        return oom_kills(self.dirs["memory"]) > 0

    def set_cpu_quota(self, quota_us: int, period_us: int) -> None:
        _write(self.dirs["cpu"] / "cpu.cfs_quota_us", str(quota_us))

    def pids(self) -> list[int]:
        return _pids(self.dirs["memory"] / "cgroup.procs")

    def kill_all(self) -> int:
        return _kill_once(self.dirs["memory"] / "cgroup.procs")

    def remove(self) -> bool:
        self._peak.close()
        return all([_rmdir(d) for d in self.dirs.values()])


class CgroupV1Driver(CgroupDriver):
    version = "v1"

    def __init__(self, bases: dict[str, Path]) -> None:
        self.bases = bases  # controller -> the sandbox's parent dir in that hierarchy

    def remove_session(self, session: str) -> None:
        for controller, base in sorted(self.bases.items(), key=lambda cb: cb[0] != "memory"):
            _remove_session_dir(base / ROOT_NAME / session, kill=controller == "memory")

    def roots(self) -> list[Path]:
        return [base / ROOT_NAME for base in self.bases.values()]

    def create(
        self,
        session: str,
        env_id: str,
        memory_bytes: int,
        cpu_quota_us: int,
        cpu_period_us: int,
        pids_max: int,
    ) -> Cgroup:
        dirs = {c: base / ROOT_NAME / session / env_id for c, base in self.bases.items()}
        try:
            for d in dirs.values():
                d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BackendError(f"cannot create cgroup: {exc}") from exc
        mem = dirs["memory"]
        _write(mem / "memory.limit_in_bytes", str(memory_bytes))
        if (mem / "memory.memsw.limit_in_bytes").exists():
            _write(mem / "memory.memsw.limit_in_bytes", str(memory_bytes))  # no swap escape
        cpu = dirs["cpu"]
        _write(cpu / "cpu.cfs_period_us", str(cpu_period_us))
        _write(cpu / "cpu.cfs_quota_us", str(cpu_quota_us))
        if "pids" in dirs:
            _write(dirs["pids"] / "pids.max", str(pids_max))
        return _V1Group(dirs)

    def reap_stale(self, is_alive: Callable[[str], bool]) -> int:
        removed = 0
        # the processes are in every hierarchy: killing them through one (memory, first) is
        # enough; the other hierarchies' groups are removed once their processes are gone
        for controller, base in sorted(self.bases.items(), key=lambda cb: cb[0] != "memory"):
            count = _reap_root(base / ROOT_NAME, is_alive, kill=controller == "memory")
            removed += count if controller == "memory" else 0
        return removed


# ---------------------------------------------------------------------------- cgroup v2
class _V2Group(Cgroup):
    def __init__(self, path: Path) -> None:
        self.path = path
        self._peak = _IntFile(path / "memory.peak")

    @property
    def procs_files(self) -> list[Path]:
        return [self.path / "cgroup.procs"]

    def peak_memory_bytes(self) -> int | None:
        return self._peak.read()

    def oom_killed(self) -> bool:
        return oom_kills(self.path) > 0

    def set_cpu_quota(self, quota_us: int, period_us: int) -> None:
        _write(self.path / "cpu.max", f"{quota_us} {period_us}")

    def pids(self) -> list[int]:
        return _pids(self.path / "cgroup.procs")

    def kill_all(self) -> int:
        kill_file = self.path / "cgroup.kill"
        if kill_file.exists():
            with contextlib.suppress(OSError):
                kill_file.write_text("1")
        return _kill_once(self.path / "cgroup.procs")

    def remove(self) -> bool:
        self._peak.close()
        return _rmdir(self.path)


class CgroupV2Driver(CgroupDriver):
    def __init__(self, base: Path, delegated: bool) -> None:
        self.base = base
        self.version = "v2 (delegated)" if delegated else "v2"

    def remove_session(self, session: str) -> None:
        _remove_session_dir(self.base / ROOT_NAME / session, kill=True)

    def roots(self) -> list[Path]:
        return [self.base / ROOT_NAME]

    def _enable(self, path: Path) -> None:
        _write(path / "cgroup.subtree_control", "+memory +cpu +pids")

    def create(
        self,
        session: str,
        env_id: str,
        memory_bytes: int,
        cpu_quota_us: int,
        cpu_period_us: int,
        pids_max: int,
    ) -> Cgroup:
        root = self.base / ROOT_NAME
        session_dir = root / session
        path = session_dir / env_id
        try:
            for d in (root, session_dir):
                if not d.is_dir():
                    d.mkdir()
                    self._enable(d)
            path.mkdir()
        except OSError as exc:
            raise BackendError(f"cannot create cgroup {path}: {exc}") from exc
        _write(path / "memory.max", str(memory_bytes))
        if (path / "memory.swap.max").exists():
            _write(path / "memory.swap.max", "0")
        _write(path / "cpu.max", f"{cpu_quota_us} {cpu_period_us}")
        _write(path / "pids.max", str(pids_max))
        return _V2Group(path)

    def reap_stale(self, is_alive: Callable[[str], bool]) -> int:
        return _reap_root(self.base / ROOT_NAME, is_alive, kill=True)


# ---------------------------------------------------------------------------- detection
def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, fstype, super options) of cgroup mounts, from /proc/self/mountinfo."""
    found: list[tuple[str, str, set[str]]] = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        left, _, right = line.partition(" - ")
        parts, rparts = left.split(), right.split()
        if len(rparts) >= 3 and rparts[0] in ("cgroup", "cgroup2"):
            found.append((parts[4], rparts[0], set(rparts[2].split(","))))
    return found


def _own_paths() -> dict[str, str]:
    """controller (or '' for v2) -> this process's cgroup path, from /proc/self/cgroup."""
    out: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(",") if controllers else [""]:
            out[c] = path
    return out


def detect_cgroup_driver() -> CgroupDriver | None:
    """The best cgroup driver this process may use, or None when none is writable."""
    mounts = _mounts()
    own = _own_paths()
    # cgroup v2 with the memory and cpu controllers available
    for point, fstype, _ in mounts:
        if fstype != "cgroup2":
            continue
        mount = Path(point)
        try:
            controllers = set((mount / "cgroup.controllers").read_text().split())
        except OSError:
            continue
        if not {"memory", "cpu", "pids"} <= controllers:
            continue
        if os.access(mount, os.W_OK):
            return CgroupV2Driver(mount, delegated=False)
        own_dir = mount / own.get("", "/").lstrip("/")
        if os.access(own_dir, os.W_OK) and os.access(own_dir / "cgroup.procs", os.W_OK):
            try:
                sup = own_dir / "supervisor"
                sup.mkdir(exist_ok=True)
                (sup / "cgroup.procs").write_text(str(os.getpid()))
                (own_dir / "cgroup.subtree_control").write_text("+memory +cpu +pids")
            except OSError:
                continue
            return CgroupV2Driver(own_dir, delegated=True)
    # cgroup v1: memory, cpu (and pids) hierarchies, nested under this process's groups
    bases: dict[str, Path] = {}
    for point, fstype, opts in mounts:
        if fstype != "cgroup":
            continue
        for controller in ("memory", "cpu", "pids"):
            if controller in opts and controller not in bases:
                base = Path(point) / own.get(controller, "/").lstrip("/")
                if os.access(base, os.W_OK):
                    bases[controller] = base
    if "memory" in bases and "cpu" in bases:
        return CgroupV1Driver(bases)
    return None
