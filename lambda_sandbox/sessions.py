"""Sandbox sessions: every run of `sandbox up` has an id, and whatever it starts carries it.

A session id is `s<pid>-<random>`: the session is alive while that process runs. Its
environments' cgroups, state folders and uids are named or marked with it, its containers are
labelled `lambda-sandbox.session=<id>`, and its helper processes (the embedded moto server)
carry it in their environment (LAMBDA_SANDBOX_SESSION). A sandbox that was SIGKILLed cannot
clean up; the next start (and `sandbox doctor --fix`) finds what belongs to dead sessions by
these marks and removes it.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "SESSION_VARIABLE",
    "is_session_name",
    "labelled_processes",
    "new_session_id",
    "reap_processes",
    "session_alive",
]

SESSION_VARIABLE = "LAMBDA_SANDBOX_SESSION"


def new_session_id() -> str:
    return f"s{os.getpid()}-{secrets.token_hex(3)}"


_NAME = re.compile(r"s(\d+)-[0-9a-f]{6}")


def is_session_name(name: str) -> bool:
    """Is `name` a session id (not some other folder beside them, like sh-is-bash)?"""
    return _NAME.fullmatch(name) is not None


def session_alive(session: str) -> bool:
    """Sessions are named s<pid>-<random>: alive while that process runs."""
    match = _NAME.fullmatch(session)
    return match is not None and Path(f"/proc/{match.group(1)}").exists()


def labelled_processes() -> dict[int, str]:
    """pid -> session of every process (that this user may inspect) carrying a session mark."""
    marker = f"{SESSION_VARIABLE}=".encode()
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            data = (entry / "environ").read_bytes()
        except OSError:
            continue
        for item in data.split(b"\0"):
            if item.startswith(marker):
                found[int(entry.name)] = item[len(marker) :].decode("ascii", "replace")
                break
    return found


def reap_processes(is_alive: Callable[[str], bool] = session_alive) -> list[tuple[int, str]]:
    """SIGKILL the marked processes of dead sessions; returns (pid, session) of each."""
    killed = []
    for pid, session in labelled_processes().items():
        if pid != os.getpid() and is_session_name(session) and not is_alive(session):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed.append((pid, session))
    return killed
