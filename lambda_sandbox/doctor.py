"""`sandbox doctor`: can this machine hold Lambda's limits and isolation, and what did crashed
sandboxes leave behind?

The checks ask the machine what the backends will ask it at start-up (a cgroup the sandbox can
write, root for mount namespaces and the environments' own uids, loop devices for a sized
/tmp, a kernel whose /proc takes hidepid per mount, a Docker engine, free ports, disk for the
/tmp images) and say, for each limit and each isolation claim, whether it will hold here and
how to make it hold. Leftovers are what belongs to sessions whose process is gone
(sessions.py): processes, cgroups, state folders with their /tmp images, loop devices, uid
locks and containers; `--fix` removes them, as the next `sandbox up` would.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from lambda_sandbox.environments.cgroups import detect_cgroup_driver
from lambda_sandbox.environments.identity import DEFAULT_DIR as UID_LOCKS
from lambda_sandbox.environments.identity import IdentityPool
from lambda_sandbox.environments.tmp_storage import loop_mount_available
from lambda_sandbox.paths import default_state_dir
from lambda_sandbox.sessions import (
    is_session_name,
    labelled_processes,
    reap_processes,
    session_alive,
)

__all__ = ["Check", "Leftovers", "checks", "find_leftovers", "remove_leftovers"]

GIB = 1 << 30
MIN_FREE_GIB = 10  # room for the /tmp images of a few environments (sparse, up to 10 GB each)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""  # what to do when not ok


def _kernel_at_least(major: int, minor: int) -> bool:
    try:
        parts = platform.release().split(".")
        return (int(parts[0]), int(parts[1].split("-")[0])) >= (major, minor)
    except (ValueError, IndexError):
        return False


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _docker() -> tuple[bool, str]:
    try:
        import docker

        client = docker.from_env()
        version = client.version().get("Version", "?")
        client.close()
    except Exception as exc:  # no SDK, no engine, no permission: all mean "not here"
        return False, str(exc).splitlines()[0][:120]
    return True, f"engine {version}"


def checks(state_dir: Path | None = None, port: int = 9000) -> list[Check]:
    """What this machine gives the sandbox, one line per requirement."""
    root = os.geteuid() == 0
    driver = detect_cgroup_driver()
    state = state_dir or default_state_dir()
    out = [
        Check(
            "root",
            root,
            "running as root" if root else f"uid {os.geteuid()}",
            "run as root (sudo), or delegate a cgroup: systemd-run --user --scope "
            "-p Delegate=yes sandbox up",
        ),
        Check(
            "cgroup",
            driver is not None,
            f"cgroup {driver.version}" if driver else "no writable cgroup (v1 or v2)",
            "run as root, or under systemd-run --user --scope -p Delegate=yes",
        ),
        Check(
            "mount namespaces",
            root and shutil.which("unshare") is not None,
            "Lambda's filesystem per environment (/var/task, /opt, its own /tmp)"
            if root
            else "need root",
            "run as root; apt-get install util-linux",
        ),
        Check(
            "loop devices",
            root and loop_mount_available(),
            "/tmp of EphemeralStorage size (ext4 image on a loop device)"
            if root and loop_mount_available()
            else "no loop-mounted /tmp",
            "run as root; apt-get install e2fsprogs util-linux; modprobe loop",
        ),
        Check(
            "hidepid per mount",
            _kernel_at_least(5, 8),
            f"kernel {platform.release()}",
            "a kernel >= 5.8: each environment's /proc shows only its own processes",
        ),
    ]
    try:
        UID_LOCKS.mkdir(parents=True, exist_ok=True)
        uids_ok, uids = os.access(UID_LOCKS, os.W_OK), f"uid locks in {UID_LOCKS}"
    except OSError as exc:
        uids_ok, uids = False, f"{UID_LOCKS}: {exc.strerror}"
    out.append(Check("own uid per environment", root and uids_ok, uids, "run as root"))
    docker_ok, docker_detail = _docker()
    out.append(Check("docker engine", docker_ok, docker_detail,
                     "only for --backend docker: start dockerd, or set DOCKER_HOST"))  # fmt: skip
    for number, what in ((port, "Lambda API"), (port + 1, "API Gateway routes")):
        free = _port_free(number)
        out.append(Check(f"port {number}", free, f"{what}: {'free' if free else 'in use'}",
                         f"choose others: sandbox up --port {port + 10}"))  # fmt: skip
    probe = state if state.exists() else state.parent
    free_gib = shutil.disk_usage(probe).free / GIB if probe.exists() else 0.0
    out.append(Check("disk for /tmp images", free_gib >= MIN_FREE_GIB,
                     f"{free_gib:.1f} GiB free at {state}",
                     f"free {MIN_FREE_GIB} GiB there, or set SANDBOX_STATE_DIR"))  # fmt: skip
    return out


def holds(found: list[Check]) -> list[tuple[str, bool]]:
    """Each limit and isolation claim, and whether it holds with these checks."""
    ok = {c.name: c.ok for c in found}
    isolated = ok["root"] and ok["own uid per environment"]
    return [
        ("memory, CPU share and pids limits", ok["cgroup"]),
        ("EphemeralStorage (/tmp size)", ok["loop devices"]),
        ("Lambda's filesystem, nothing writable but /tmp", ok["mount namespaces"]),
        ("functions cannot read or signal each other", isolated and ok["hidepid per mount"]),
        ("each Runtime API answers only its own environment", isolated),
        ("functions cannot reach the sandbox's endpoints", isolated),
        ("the docker backend", ok["docker engine"]),
    ]


@dataclass
class Leftovers:
    processes: list[tuple[int, str]] = field(default_factory=list)  # (pid, session)
    cgroups: list[Path] = field(default_factory=list)
    state_folders: list[Path] = field(default_factory=list)
    loop_devices: list[str] = field(default_factory=list)
    uid_locks: list[Path] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)

    def count(self) -> int:
        return sum(len(v) for v in vars(self).values())

    def as_dict(self) -> dict[str, list[str]]:
        return {k: [str(x) for x in v] for k, v in vars(self).items()}


def _dead_owner(lock: Path) -> bool:
    try:
        return not session_alive(lock.read_text().strip())
    except OSError:
        return False


def _loop_devices(folders: list[Path]) -> list[str]:
    if not folders or shutil.which("losetup") is None:
        return []
    out = subprocess.run(["losetup", "-l", "-n", "-O", "NAME,BACK-FILE"],
                         capture_output=True, text=True).stdout  # fmt: skip
    prefixes = [str(f) for f in folders]
    return [line.split()[0] for line in out.splitlines()
            if any(p in line for p in prefixes)]  # fmt: skip


def _stale_containers() -> list[str]:
    try:
        import docker

        client = docker.from_env()
        labelled = client.containers.list(all=True, filters={"label": "lambda-sandbox.session"})
        client.close()
    except Exception:  # no engine: no containers to leave behind
        return []
    return [c.name for c in labelled
            if not session_alive(c.labels.get("lambda-sandbox.session", ""))]  # fmt: skip


def find_leftovers(state_dir: Path | None = None) -> Leftovers:
    state = state_dir or default_state_dir()
    driver = detect_cgroup_driver()
    folders = [
        p
        for p in (state.iterdir() if state.is_dir() else [])
        if p.is_dir() and is_session_name(p.name) and not session_alive(p.name)
    ]
    return Leftovers(
        processes=[(pid, s) for pid, s in labelled_processes().items() if not session_alive(s)],
        cgroups=driver.stale_groups(session_alive) if driver is not None else [],
        state_folders=folders,
        loop_devices=_loop_devices(folders),
        uid_locks=[p for p in sorted(UID_LOCKS.glob("*")) if _dead_owner(p)]
        if UID_LOCKS.is_dir()
        else [],
        containers=_stale_containers(),
    )


def remove_leftovers(state_dir: Path | None = None) -> Leftovers:
    """Remove what dead sessions left; returns what was found (and is now gone)."""
    found = find_leftovers(state_dir)
    reap_processes()
    driver = detect_cgroup_driver()
    if driver is not None:
        driver.reap_stale(session_alive)  # kills the groups' processes, then removes them
    for device in found.loop_devices:
        subprocess.run(["losetup", "-d", device], capture_output=True)
    for folder in found.state_folders:
        for mounted in _mounted_under(folder):
            subprocess.run(["umount", "-l", mounted], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
    if UID_LOCKS.is_dir():
        IdentityPool("doctor", UID_LOCKS).reap_stale(session_alive)
    if found.containers:
        with contextlib.suppress(Exception):
            import docker

            client = docker.from_env()
            for name in found.containers:
                with contextlib.suppress(Exception):
                    client.containers.get(name).remove(force=True)
            client.close()
    return found


def _mounted_under(folder: Path) -> list[str]:
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    prefix = str(folder)
    return sorted({line.split()[4] for line in lines if line.split()[4].startswith(prefix)},
                  reverse=True)  # fmt: skip
