"""Each execution environment's own identity: a uid and gid from a range the sandbox owns.

On Lambda every execution environment is a microVM of its own; here environments share a
kernel, so what keeps one function out of another's processes (/proc/<pid>/environ and
/proc/<pid>/root: the ptrace access check), signals (kill() needs the same uid) and Runtime
API (runtime_api/peer.py checks the connecting socket's uid) is that no two environments share
a uid, not even across sandboxes on one host. Allocation is a lock file per uid under
/run/lambda-sandbox/uids (created with O_EXCL, holding its session's name), released with the
environment; a crashed session's files are taken back on the next start (`reap_stale`).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

__all__ = ["FIRST_UID", "UID_COUNT", "IdentityPool", "is_environment_uid"]

# 65,536 ids well above any distribution's users and the usual subuid ranges (100000-...)
FIRST_UID = 1_470_000_000
UID_COUNT = 65_536
DEFAULT_DIR = Path("/run/lambda-sandbox/uids")


def is_environment_uid(uid: int | None) -> bool:
    """Is `uid` one that an execution environment runs as (of any sandbox on this host)?"""
    return uid is not None and FIRST_UID <= uid < FIRST_UID + UID_COUNT


class IdentityPool:
    """Hands out the uids (gid = uid) of one sandbox session's environments."""

    def __init__(self, session: str, folder: Path = DEFAULT_DIR) -> None:
        self.session = session
        self.folder = folder
        self._lock = threading.Lock()
        self._next = 0
        self._held: set[int] = set()

    def open(self, is_alive: Callable[[str], bool]) -> int:
        """Make the folder; take back the uids of dead sessions. Returns how many."""
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        return self.reap_stale(is_alive)

    def reap_stale(self, is_alive: Callable[[str], bool]) -> int:
        freed = 0
        for lock in self.folder.iterdir():
            try:
                owner = lock.read_text().strip()
            except OSError:
                continue
            if owner != self.session and not is_alive(owner):
                with contextlib.suppress(OSError):
                    lock.unlink()
                    freed += 1
        return freed

    def acquire(self) -> tuple[int, int]:
        """A uid no environment of any sandbox holds; (uid, gid)."""
        with self._lock:
            for _ in range(UID_COUNT):
                offset, self._next = self._next, (self._next + 1) % UID_COUNT
                uid = FIRST_UID + offset
                try:
                    fd = os.open(self.folder / str(uid), os.O_WRONLY | os.O_CREAT | os.O_EXCL)
                except FileExistsError:
                    continue
                with os.fdopen(fd, "w") as f:
                    f.write(self.session)
                self._held.add(uid)
                return uid, uid
        raise OSError(f"no free uid among the {UID_COUNT} of {self.folder}")

    def release(self, uid: int) -> None:
        with self._lock:
            if uid in self._held:
                self._held.discard(uid)
                with contextlib.suppress(OSError):
                    (self.folder / str(uid)).unlink()

    def close(self) -> None:
        for uid in list(self._held):
            self.release(uid)
