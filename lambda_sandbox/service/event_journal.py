"""Accepted async events on disk, so that a 202 is a promise kept across SIGTERM and SIGKILL.

Every event the queue accepts is written (one small JSON file per event, written to a
temporary name and renamed, so a crash never leaves half a record) before the 202 goes out,
rewritten after each attempt, and removed once its outcome is final (success, retries spent,
too old). What a stopped or crashed sandbox left in the project's `.sandbox/events` is handed
back to the queue by the next start, with its age and attempts, so the maximum event age and
the retry count still hold; events of a function that is no longer served are kept, and the
start says how many. Lambda keeps queued events durably too: its queue is not in the function.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["EventJournal", "JournalRecord"]


@dataclass
class JournalRecord:
    request_id: str
    function: str
    invoked_arn: str
    payload: bytes
    received_unix: float  # when it was accepted (wall clock: it outlives the process)
    attempts: int
    session: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "request_id": self.request_id,
                "function": self.function,
                "invoked_arn": self.invoked_arn,
                "payload": base64.b64encode(self.payload).decode(),
                "received_unix": self.received_unix,
                "attempts": self.attempts,
                "session": self.session,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> JournalRecord:
        data = json.loads(text)
        return cls(
            request_id=str(data["request_id"]),
            function=str(data["function"]),
            invoked_arn=str(data["invoked_arn"]),
            payload=base64.b64decode(data["payload"]),
            received_unix=float(data["received_unix"]),
            attempts=int(data["attempts"]),
            session=str(data.get("session", "")),
        )

    @property
    def age_s(self) -> float:
        return max(0.0, time.time() - self.received_unix)


class EventJournal:
    """The queued events of one project folder (None: kept in memory only)."""

    def __init__(self, folder: Path | None, session: str) -> None:
        self.folder = folder
        self.session = session

    def keep(self, record: JournalRecord) -> None:
        if self.folder is None:
            return
        record.session = self.session
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            temporary = self.folder / f".{record.request_id}.tmp"
            temporary.write_text(record.to_json(), encoding="utf-8")
            os.replace(temporary, self.folder / f"{record.request_id}.json")
        except OSError:
            return  # a full disk must not refuse the event: it is still queued in memory

    def done(self, request_id: str) -> None:
        if self.folder is not None:
            with contextlib.suppress(OSError):
                (self.folder / f"{request_id}.json").unlink()

    def left_behind(self, is_alive: Callable[[str], bool]) -> list[JournalRecord]:
        """The events of sessions that are gone (stopped or crashed), oldest first; records
        that cannot be read are set aside as `<id>.json.unreadable`."""
        if self.folder is None or not self.folder.is_dir():
            return []
        records = []
        for path in sorted(self.folder.glob("*.json")):
            try:
                record = JournalRecord.from_json(path.read_text(encoding="utf-8"))
            except (OSError, ValueError, KeyError, TypeError):
                with contextlib.suppress(OSError):
                    path.rename(path.with_name(path.name + ".unreadable"))
                continue
            if record.session != self.session and not is_alive(record.session):
                records.append(record)
        return sorted(records, key=lambda r: r.received_unix)

    def pending(self) -> int:
        if self.folder is None or not self.folder.is_dir():
            return 0
        return sum(1 for _ in self.folder.glob("*.json"))
