"""The chaos suite's tools: `sandbox up` as its own process, a bounded mixed load of invokes
with every answer recorded, a killer of environments, and what a dead session left behind.

Each request's record says what came back: an answer (its HTTP status, function error and
error type, REPORT's Init Duration), or none (`lost`: the connection closed without an answer;
`hung`: no answer before the client's deadline; `refused`: the sandbox was not listening, as
between a kill and the restart). A timed-out invoke is `late` when its answer came more than
LATE_S after its deadline (Outcome.late_s says how that is measured).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambda_sandbox.aws_side import free_port
from lambda_sandbox.environments.identity import DEFAULT_DIR as UID_LOCKS
from lambda_sandbox.sessions import labelled_processes

__all__ = ["Load", "Outcome", "SandboxUp", "leftovers", "summarize"]

LATE_S = 0.1
TIMEOUTS = {
    "ok": 5,
    "spinner": 1,
    "hog": 10,
    "bad-init": 5,
    "forkbomb": 1,
    "filler": 20,
    "events": 5,
}
INIT_LIMIT_S = 10.0


class SandboxUp:
    """`sandbox up` on a project folder, as a user starts it."""

    def __init__(self, project: Path, functions: Path, state_dir: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        if state_dir is not None:
            env["SANDBOX_STATE_DIR"] = str(state_dir)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lambda_sandbox.cli", "up", "--functions", str(functions),
             "--port", str(self.port)],
            cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )  # fmt: skip
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.rss_peak_mb = 0.0
        self._sampling = True
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    @property
    def session_prefix(self) -> str:
        return f"s{self.proc.pid}-"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line.rstrip())

    def _sample(self) -> None:
        while self._sampling and self.proc.poll() is None:
            self.rss_peak_mb = max(self.rss_peak_mb, rss_mb(self.proc.pid))
            time.sleep(0.1)

    def wait_ready(self, timeout_s: float = 300) -> float:
        """Seconds from the start until /_sandbox/info answers."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/_sandbox/info", timeout=2):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "sandbox did not start:\n" + "\n".join(self.output)
                    ) from None
                time.sleep(0.1)
        self._sampler.start()
        return time.monotonic() - self.started

    def runtime_pids(self) -> list[int]:
        """The sandbox's children that are environments (not the moto server)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.proc.pid and b"moto.server" not in cmdline:
                pids.append(int(entry.name))
        return pids

    def signal(self, sig: int) -> None:
        self._sampling = False
        self.proc.send_signal(sig)

    def wait(self, timeout_s: float = 60) -> int:
        code = self.proc.wait(timeout_s)
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@dataclass
class Outcome:
    function: str
    kind: str  # RequestResponse or Event
    sent: float  # monotonic
    latency_s: float
    status: int | None = None
    error_type: str | None = None  # the function error's type, or the API error's
    init_ms: float | None = None
    duration_ms: float | None = None  # REPORT's
    no_answer: str | None = None  # refused, lost, hung
    aws_shaped: bool = True

    @property
    def outcome(self) -> str:
        if self.no_answer:
            return self.no_answer
        if self.status == 200 and not self.error_type:
            return "ok"
        if self.status == 202:
            return "accepted"
        return f"{self.status} {self.error_type}"

    @property
    def late_s(self) -> float | None:
        """How long after its deadline a timed-out invoke was answered: for a warm invoke as
        the client saw it (sent to answered), for a cold one from REPORT's Duration (the client
        cannot see when the environment, made before INIT, began to run it)."""
        if self.error_type != "Sandbox.Timedout":
            return None
        if self.init_ms is None:
            return self.latency_s - TIMEOUTS[self.function]
        return (self.duration_ms or 0) / 1000 - TIMEOUTS[self.function]


_INIT = re.compile(r"Init Duration: ([\d.]+) ms")
_DURATION = re.compile(r"\tDuration: ([\d.]+) ms")


def invoke(
    url: str, function: str, event: dict[str, Any], kind: str = "RequestResponse"
) -> Outcome:
    """One Invoke over a fresh connection; the answer, or why there was none."""
    host, port = url.removeprefix("http://").split(":")
    deadline = TIMEOUTS[function] + INIT_LIMIT_S + 20  # far past any answer's due time
    sent = time.monotonic()
    conn = http.client.HTTPConnection(host, int(port), timeout=deadline)
    record = Outcome(function, kind, sent, 0.0)
    try:
        conn.request(
            "POST", f"/2015-03-31/functions/{function}/invocations", json.dumps(event).encode(),
            {"X-Amz-Invocation-Type": kind, "X-Amz-Log-Type": "Tail",
             "Content-Type": "application/json"},
        )  # fmt: skip
        resp = conn.getresponse()
        body = resp.read()
        record.latency_s = time.monotonic() - sent
        record.status = resp.status
        tail = base64.b64decode(resp.getheader("X-Amz-Log-Result") or "").decode("utf-8", "replace")
        found = _INIT.search(tail)
        record.init_ms = float(found.group(1)) if found else None
        duration = _DURATION.search(tail)
        record.duration_ms = float(duration.group(1)) if duration else None
        if resp.getheader("X-Amz-Function-Error") or resp.status >= 400:
            try:
                parsed = json.loads(body)
                record.error_type = str(
                    parsed.get("errorType") or resp.getheader("x-amzn-ErrorType")
                )
                record.aws_shaped = (
                    "errorType" in parsed
                    or "Type" in parsed
                    or "Message" in parsed
                    or "message" in parsed
                )
            except (ValueError, AttributeError):
                record.error_type, record.aws_shaped = "not JSON", False
    except ConnectionRefusedError:
        record.no_answer = "refused"
    except TimeoutError:
        record.no_answer = "hung"
    except (http.client.HTTPException, ConnectionError, OSError):
        record.no_answer = "lost"
    finally:
        conn.close()
        record.latency_s = record.latency_s or time.monotonic() - sent
    return record


WEIGHTS = {
    "ok": 50,
    "spinner": 8,
    "hog": 8,
    "bad-init": 8,
    "forkbomb": 5,
    "filler": 3,
    "events": 18,
}


@dataclass
class Load:
    """`clients` threads sending a random mix (WEIGHTS; `events` as async Event invokes with a
    mark each) until stopped; an optional killer SIGKILLs an environment now and then."""

    url: str
    clients: int = 4
    seed: int = 17
    weights: dict[str, int] = field(default_factory=lambda: dict(WEIGHTS))
    outcomes: list[Outcome] = field(default_factory=list)
    marks: list[str] = field(default_factory=list)  # the events accepted (202)
    killed: int = 0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def _client(self, index: int) -> None:
        rng = random.Random(self.seed * 100 + index)
        names, weights = list(self.weights), list(self.weights.values())
        n = 0
        while not self._stop.is_set():
            function = rng.choices(names, weights)[0]
            n += 1
            if function == "events":
                mark = f"c{index}-{n}-{self.seed}"
                out = invoke(self.url, "events", {"mark": mark}, kind="Event")
                if out.status == 202:
                    with self._lock:
                        self.marks.append(mark)
            else:
                out = invoke(self.url, function, {"n": n})
            with self._lock:
                self.outcomes.append(out)
            if out.no_answer == "refused":
                time.sleep(0.05)

    def _killer(self, sandbox: SandboxUp, every_s: float) -> None:
        rng = random.Random(self.seed)
        while not self._stop.wait(every_s):
            pids = sandbox.runtime_pids()
            if pids:
                try:
                    os.kill(rng.choice(pids), signal.SIGKILL)
                    self.killed += 1
                except ProcessLookupError:
                    pass

    def start(self, killer_of: SandboxUp | None = None, every_s: float = 0.7) -> Load:
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._client, args=(i,)) for i in range(self.clients)
        ]
        if killer_of is not None:
            self._threads.append(threading.Thread(target=self._killer, args=(killer_of, every_s)))
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(120)


def summarize(outcomes: list[Outcome]) -> dict[str, Any]:
    by: dict[str, int] = {}
    for out in outcomes:
        by[out.outcome] = by.get(out.outcome, 0) + 1
    lates = [o.late_s for o in outcomes if o.late_s is not None]
    return {
        "sent": len(outcomes),
        "answered": sum(1 for o in outcomes if o.no_answer is None),
        "by_outcome": dict(sorted(by.items(), key=lambda kv: -kv[1])),
        "lost": by.get("lost", 0),
        "hung": by.get("hung", 0),
        "timeouts": len(lates),
        "late": sum(1 for late in lates if late > LATE_S),
        "worst_timeout_delay_ms": round(max(lates) * 1000, 1) if lates else None,
        "not_aws_shaped": sum(1 for o in outcomes if not o.aws_shaped),
    }


def delivered_marks(project: Path) -> set[str]:
    log = project / ".sandbox" / "logs" / "events.log"
    if not log.exists():
        return set()
    return set(re.findall(r"EVENT-MARK (\S+)", log.read_text(errors="replace")))


def leftovers(prefix: str, state_dir: Path) -> dict[str, list[str]]:
    """What a session (ids starting with `prefix`) still holds on this host."""
    found: dict[str, list[str]] = {}
    found["labelled processes"] = [
        f"{pid}" for pid, session in labelled_processes().items() if session.startswith(prefix)
    ]
    in_groups = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if prefix in (entry / "cgroup").read_text():
                    in_groups.append(entry.name)
            except OSError:
                continue
    found["processes in its cgroups"] = in_groups
    found["cgroups"] = [str(p) for p in Path("/sys/fs/cgroup").rglob(f"{prefix}*")]
    found["mounts"] = [
        line.split()[4]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if prefix in line
    ]
    loops = subprocess.run(
        ["losetup", "-l", "-n", "-O", "BACK-FILE"], capture_output=True, text=True
    )
    found["loop devices"] = [line for line in loops.stdout.splitlines() if prefix in line]
    found["state folders"] = [str(p) for p in state_dir.glob(f"{prefix}*")]
    found["uid locks"] = [
        p.name
        for p in (UID_LOCKS.iterdir() if UID_LOCKS.is_dir() else [])
        if p.read_text().startswith(prefix)
    ]
    return {k: v for k, v in found.items() if v}
