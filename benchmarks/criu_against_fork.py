"""CRIU against fork, the two SnapStart mechanisms issue 18 asks to measure, on one process
holding MODEL_MB of memory (a loaded model's stand-in).

CRIU: the process runs in a pid namespace and session of its own (what CRIU checkpoints and
restores as a whole; a tree whose session leader is outside fails to dump), is dumped once,
then restored ROUNDS times, each restore timed from `criu restore` to its return (detached),
the first one checked: the restored process answers with its memory intact. Fork: the same
process forks ROUNDS times (the child exits at once), timed from fork to the child's reaping.
Only where `criu check` passes (SANDBOX_CRIU names the binary, default `criu`): Debian
bookworm's CRIU 3.17 fails it on these machines' kernels; 4.1 (Debian trixie) passes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MODEL_MB = 200
ROUNDS = 5
TARGET = """import os, sys, time
big = bytearray(os.urandom(1 << 20)) * int(sys.argv[1])
print("ready", flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.01)
with open(sys.argv[2] + ".answer", "w") as f:
    f.write(str(len(big)))
while True:
    time.sleep(1)
"""
FORK = """import json, os, statistics, sys, time
big = bytearray(os.urandom(1 << 20)) * int(sys.argv[1])
times = []
for _ in range(int(sys.argv[2])):
    t = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    times.append((time.perf_counter() - t) * 1000)
print(json.dumps(times))
"""


def criu_binary() -> str | None:
    return shutil.which(os.environ.get("SANDBOX_CRIU", "criu"))


def criu_probe() -> dict[str, Any]:
    """Whether CRIU could checkpoint and restore on this host (`criu check`)."""
    path = criu_binary()
    if path is None:
        return {"available": False, "detail": "criu is not installed"}
    try:
        done = subprocess.run([path, "check"], capture_output=True, text=True, timeout=60)
        version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"available": False, "detail": repr(exc)}
    detail = (done.stdout + done.stderr).strip().splitlines()
    return {
        "available": done.returncode == 0,
        "version": version.stdout.strip().splitlines()[0] if version.stdout else None,
        "detail": " | ".join(detail[-3:]),
    }


def _child_of(pid: int, timeout_s: float = 10) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        if children:
            return int(children[0])
        time.sleep(0.01)
    raise RuntimeError("the target did not start")


def _wait_for(path: Path, text: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in (path.read_text() if path.exists() else ""):
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {text!r} in {path}")
        time.sleep(0.01)


def _kill(pidfile: Path) -> None:
    with contextlib.suppress(OSError, ValueError):
        os.kill(int(pidfile.read_text()), signal.SIGKILL)
    pidfile.unlink(missing_ok=True)
    time.sleep(0.2)  # the pid namespace ends with its first process


def _fork_ms(mb: int, rounds: int) -> list[float]:
    done = subprocess.run([sys.executable, "-S", "-c", FORK, str(mb), str(rounds)],
                          capture_output=True, text=True, check=True, timeout=120)  # fmt: skip
    return [round(t, 2) for t in json.loads(done.stdout)]


def criu_against_fork(mb: int = MODEL_MB, rounds: int = ROUNDS) -> dict[str, Any]:
    probe = criu_probe()
    fork_ms = _fork_ms(mb, rounds)
    out: dict[str, Any] = {"model_mb": mb, "criu_probe": probe, "fork_ms": fork_ms,
                           "fork_ms_median": statistics.median(fork_ms)}  # fmt: skip
    criu = criu_binary()
    if not probe["available"] or criu is None:
        return out
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        (work / "target.py").write_text(TARGET)
        images, ping, log = work / "images", work / "ping", work / "out.log"
        images.mkdir()
        with open(log, "w") as output, open(os.devnull) as nothing:
            unshare = subprocess.Popen(
                ["unshare", "-pf", "--", "setsid", sys.executable, "-S",
                 str(work / "target.py"), str(mb), str(ping)],
                stdin=nothing, stdout=output, stderr=subprocess.DEVNULL, cwd=work,
            )  # fmt: skip
        target = _child_of(unshare.pid)
        _wait_for(log, "ready")
        t = time.perf_counter()
        dump = subprocess.run([criu, "dump", "-t", str(target), "-D", str(images), "-o",
                               "dump.log"], capture_output=True, text=True)  # fmt: skip
        out["criu_dump_ms"] = round((time.perf_counter() - t) * 1000, 1)
        if dump.returncode != 0:  # the target still runs: the first of its namespace
            with contextlib.suppress(OSError):
                os.kill(target, signal.SIGKILL)
            unshare.wait(10)
            out["criu_error"] = (images / "dump.log").read_text()[-500:]
            return out
        unshare.wait(10)
        out["criu_image_mb"] = round(sum(p.stat().st_size for p in images.iterdir()) / (1 << 20), 1)
        restores, pidfile = [], work / "restored.pid"
        for i in range(rounds):
            t = time.perf_counter()
            done = subprocess.run([criu, "restore", "-D", str(images), "-d", "-o", "restore.log",
                                   "--pidfile", str(pidfile)], capture_output=True)  # fmt: skip
            restores.append(round((time.perf_counter() - t) * 1000, 1))
            if done.returncode != 0:
                out["criu_error"] = (images / "restore.log").read_text()[-500:]
                return out
            if i == 0:  # the restored process runs, its memory intact
                ping.touch()
                _wait_for(work / "ping.answer", str(mb << 20))
                out["criu_restored_answers"] = True
                ping.unlink()
                (work / "ping.answer").unlink()
            _kill(pidfile)
        out["criu_restore_ms"] = restores
        out["criu_restore_ms_median"] = statistics.median(restores)
    return out


if __name__ == "__main__":
    print(json.dumps(criu_against_fork(), indent=2))
