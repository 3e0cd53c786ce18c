"""Which processes a snapshot takes for its own: its template, and forks of it. The pids come
from the function's process (untrusted), so each is checked, and a pid left behind by a
process that exited (then free for another's to reuse) is never taken for it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from lambda_sandbox.environments import snapshots
from lambda_sandbox.environments.snapshots import Snapshot, SnapshotRefused

PARENT = (
    "import subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
    "print(child.pid, flush=True)\n"
    "time.sleep(60)\n"
)


@pytest.fixture
def family() -> Iterator[tuple[subprocess.Popen[str], int]]:
    """A process (the template, say) and its child (a fork of it)."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    yield parent, child
    for pid in (child, parent.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
    parent.wait()
    parent.stdout.close()


@pytest.fixture
def snapshot() -> Iterator[Snapshot]:
    async def make() -> Snapshot:
        return Snapshot(backend=None)  # type: ignore[arg-type]

    made = asyncio.run(make())
    yield made
    made.sock.close()
    made._child_end.close()
    if made._template_pidfd is not None:
        os.close(made._template_pidfd)


def test_a_template_pid_outside_the_environment_is_refused(
    family: tuple[subprocess.Popen[str], int], snapshot: Snapshot
) -> None:
    parent, child = family
    with pytest.raises(SnapshotRefused, match="not one of the snapshot's environment"):
        snapshot.hold_template(os.getppid(), parent.pid)  # this test's own parent
    with pytest.raises(SnapshotRefused, match="has exited"):
        snapshot.hold_template(2**22 + 1, parent.pid)  # above pid_max: no such process
    snapshot.hold_template(child, parent.pid)  # a descendant of the environment's first
    assert snapshot.template_pid == child


def test_forks_count_only_while_the_template_they_came_from_lives(
    family: tuple[subprocess.Popen[str], int], snapshot: Snapshot, monkeypatch: Any
) -> None:
    parent, child = family
    snapshot.hold_template(parent.pid, parent.pid)
    fork = os.pidfd_open(child)
    try:
        assert snapshot._is_fork(child, fork)
        mine = os.pidfd_open(os.getpid())
        assert not snapshot._is_fork(os.getpid(), mine)  # alive, but not the template's child
        os.close(mine)
        parent.kill()
        parent.wait()
        # the attack: the template's pid is reused by a process of another, whose child the
        # function reports as a fork; /proc would name that pid as the parent
        monkeypatch.setattr(snapshots, "_parent_of", lambda pid: parent.pid)
        assert not snapshot._is_fork(child, fork)
    finally:
        os.close(fork)


def test_a_fork_that_exited_is_not_taken(
    family: tuple[subprocess.Popen[str], int], snapshot: Snapshot
) -> None:
    parent, child = family
    snapshot.hold_template(parent.pid, parent.pid)
    fork = os.pidfd_open(child)
    try:
        os.kill(child, 9)
        for _ in range(200):  # its pidfd turns readable as it exits
            if not snapshots._alive(fork):
                break
            asyncio.run(asyncio.sleep(0.01))
        assert not snapshot._is_fork(child, fork)
    finally:
        os.close(fork)
