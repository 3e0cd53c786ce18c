"""The chaos suite, sized for CI: a bounded mixed load on `sandbox up` while environments are
SIGKILLed and functions spin past their timeouts, exceed their memory, crash at INIT,
fork-bomb and fill their storage; then the sandbox is SIGTERMed and SIGKILLed with async
events queued, and restarted.

It asserts what a user relies on: every request is answered (lost 0, hung 0) with an
AWS-shaped body, every timeout at its deadline (late 0: within 100 ms), every accepted async
event delivered after a SIGTERM or a SIGKILL and a restart, nothing of a killed run left on
the host, and the sandbox's own memory under its bound. The report (tests/chaos/README.md
says what the functions do) is printed and written to reports/chaos.json.
"""

from __future__ import annotations

import json
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from lambda_sandbox.paths import default_state_dir
from tests.integration.chaos_load import (
    Load,
    SandboxUp,
    delivered_marks,
    invoke,
    leftovers,
    summarize,
)

pytestmark = [pytest.mark.integration, pytest.mark.root, pytest.mark.slow,
              pytest.mark.timeout(900)]  # fmt: skip

HERE = Path(__file__).parent.parent / "chaos"
REPORT = Path(__file__).parent.parent.parent / "reports" / "chaos.json"
CHAOS_S = 25.0
RSS_BOUND_MB = 400  # the sandbox process itself (README: Isolation and reliability)


def _wait_for(marks: set[str], project: Path, timeout_s: float) -> set[str]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        missing = marks - delivered_marks(project)
        if not missing:
            return set()
        time.sleep(0.5)
    return marks - delivered_marks(project)


def _first_ok(url: str, since: float, timeout_s: float = 300) -> float:
    """Seconds from `since` until the restarted sandbox answered an invoke."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if invoke(url, "ok", {"n": 0}).outcome == "ok":
            return time.monotonic() - since
        time.sleep(0.1)
    raise AssertionError("the restarted sandbox never answered")


def test_chaos_load_kills_and_restarts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    functions = tmp_path / "functions"
    shutil.copytree(HERE, functions, ignore=shutil.ignore_patterns("README.md"))
    project = tmp_path
    state_dir = default_state_dir()
    report: dict[str, Any] = {}

    # 1. chaos under load: faults in every function, environments SIGKILLed -------------------
    first = SandboxUp(project, functions)
    first.wait_ready()
    load = Load(first.url, clients=4).start(killer_of=first, every_s=0.7)
    time.sleep(CHAOS_S)
    load.stop()
    chaos = summarize(load.outcomes)
    chaos["environments_killed"] = load.killed
    chaos["sandbox_rss_peak_mb"] = round(first.rss_peak_mb, 1)
    report["chaos"] = chaos
    marks = set(load.marks)

    # 2. SIGTERM with async events queued or running (0.2 s each, after a cold start) -------
    for i in range(20):
        assert invoke(first.url, "events", {"mark": f"term-{i}"}, kind="Event").status == 202
        marks.add(f"term-{i}")
    during: list[Any] = []
    t0 = time.monotonic()

    def keep_calling() -> None:  # until it has stopped, and once more after
        while time.monotonic() - t0 < 90:
            gone = first.proc.poll() is not None
            during.append(invoke(first.url, "ok", {"n": -1}))
            if gone:
                return
            time.sleep(0.02)

    # three callers on warm environments before the signal: each request then takes
    # milliseconds, so requests keep arriving all through the draining window (callers that
    # started after the signal spent it in cold starts, and CI once saw no 503)
    callers = [threading.Thread(target=keep_calling) for _ in range(3)]
    for caller in callers:
        caller.start()
    while sum(o.outcome == "ok" for o in during) < 9 and time.monotonic() - t0 < 60:
        time.sleep(0.05)
    warm = len(during)
    t0 = time.monotonic()
    first.signal(signal.SIGTERM)
    for caller in callers:
        caller.join(90)
    during = during[warm:]
    assert first.wait(120) == 0, "\n".join(first.output)
    report["sigterm"] = {
        "stop_s": round(time.monotonic() - t0, 2),
        "during_shutdown": summarize(during)["by_outcome"],
    }

    # 3. restart: the queued events are resumed; then SIGKILL under load ---------------------
    second = SandboxUp(project, functions)
    second.wait_ready()
    load = Load(second.url, clients=3, seed=29, weights={"ok": 60, "spinner": 10, "events": 30})
    load.start()
    for i in range(20):
        assert invoke(second.url, "events", {"mark": f"kill-{i}"}, kind="Event").status == 202
        marks.add(f"kill-{i}")
    time.sleep(2.0)
    killed_at = time.monotonic()
    second.signal(signal.SIGKILL)
    second.wait(30)
    prefix = second.session_prefix
    before = leftovers(prefix, state_dir)
    time.sleep(2.0)  # the clients see the sandbox gone (refused)
    load.stop()
    marks |= set(load.marks)
    killed_load = summarize(load.outcomes)

    # 4. the next start reaps what the killed run left and delivers its events ---------------
    third = SandboxUp(project, functions)
    third.wait_ready()
    recovery_s = _first_ok(third.url, killed_at)
    missing = _wait_for(marks, project, timeout_s=120)
    deadline = time.monotonic() + 10
    after = leftovers(prefix, state_dir)
    while after and time.monotonic() < deadline:  # loop devices detach as namespaces end
        time.sleep(0.5)
        after = leftovers(prefix, state_dir)
    third.signal(signal.SIGTERM)
    third.wait(120)
    report["sigkill"] = {
        "recovery_s": round(recovery_s, 2),
        "left_by_the_kill": {k: len(v) for k, v in before.items()},
        "left_after_restart": after,
        "load_while_killed": {k: killed_load[k] for k in ("sent", "by_outcome")},
    }
    report["async_events"] = {
        "accepted": len(marks),
        "delivered": len(marks) - len(missing),
        "missing": sorted(missing)[:20],
    }

    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2))
    with capsys.disabled():
        print("\nchaos report:\n" + json.dumps(report, indent=2))

    assert chaos["sent"] > 50, "the load ran"
    assert chaos["lost"] == 0 and chaos["hung"] == 0, chaos
    assert chaos["answered"] == chaos["sent"], chaos
    assert chaos["late"] == 0, chaos
    assert chaos["not_aws_shaped"] == 0, chaos
    assert chaos["environments_killed"] > 5
    assert chaos["sandbox_rss_peak_mb"] < RSS_BOUND_MB, chaos
    # while it stops: answered (in flight, or AWS's 503), or refused once it is gone. A
    # caller's connection can be reset: the one the kernel had queued, not yet accepted, at the
    # instant the port closes (a client sending every 20 ms hits that instant now and then).
    # How many land in the draining window (0.5 s) is timing: 0 to 10 503s were seen, so the
    # 503 itself is asserted by tests/unit/faces/test_draining.py, not here
    shutdown = report["sigterm"]["during_shutdown"]
    answers = {"ok", "200 Runtime.ExitError", "503 ServiceException", "refused", "lost"}
    assert set(shutdown) <= answers and shutdown.get("lost", 0) <= 3, shutdown
    assert shutdown.get("refused"), "the callers ran until the sandbox had gone"
    assert all(o.aws_shaped for o in during), shutdown
    assert before.get("labelled processes"), "the killed run left its moto server running"
    assert after == {}, f"left on the host after the restart: {after}"
    assert missing == set(), f"{len(missing)} accepted async events never ran"
