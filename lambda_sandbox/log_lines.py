"""Lambda's platform log lines, written and read in one place. A leaf module.

    START RequestId: <id> Version: $LATEST
    END RequestId: <id>
    REPORT RequestId: <id>\tDuration: 2.75 ms\tBilled Duration: 117 ms\tMemory Size: 128 MB\t
        Max Memory Used: 38 MB\tInit Duration: 113.51 ms\t
    INIT_REPORT Init Duration: 10000.12 ms\tPhase: init\tStatus: timeout
    SANDBOX RequestId: <id>\t<what differs from Lambda on this host>

The service writes them (`Report.line`); every tool that reads a LogResult parses them with
`Report.parse`, so the format lives once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Report", "end_line", "init_report_line", "sandbox_line", "start_line"]

# A tab precedes each field, so "\tDuration" matches neither "Billed Duration" nor
# "Init Duration" (AWS Lambda Power Tuning reads REPORT lines the same way).
_FIELDS = {
    "duration_ms": re.compile(r"\tDuration: (\d+(?:\.\d+)?) ms"),
    "billed_ms": re.compile(r"\tBilled Duration: (\d+) ms"),
    "memory_mb": re.compile(r"\tMemory Size: (\d+) MB"),
    "max_memory_used_mb": re.compile(r"\tMax Memory Used: (\d+) MB"),
    "init_ms": re.compile(r"\tInit Duration: (\d+(?:\.\d+)?) ms"),
    "restore_ms": re.compile(r"\tRestore Duration: (\d+(?:\.\d+)?) ms"),
    "billed_restore_ms": re.compile(r"\tBilled Restore Duration: (\d+) ms"),
    "status": re.compile(r"\tStatus: (\w+)"),
    "error_type": re.compile(r"\tError Type: (\S+)"),
}
_REPORT = re.compile(r"^REPORT RequestId: (\S+)(\t.*)$", re.M)
_SANDBOX = re.compile(r"^SANDBOX RequestId: \S+\t(.*)$", re.M)


def start_line(request_id: str, version: str = "$LATEST") -> str:
    return f"START RequestId: {request_id} Version: {version}"


def end_line(request_id: str) -> str:
    return f"END RequestId: {request_id}"


def init_report_line(duration_ms: float, phase: str, status: str, error_type: str | None) -> str:
    line = f"INIT_REPORT Init Duration: {duration_ms:.2f} ms\tPhase: {phase}\tStatus: {status}"
    if error_type:
        line += f"\tError Type: {error_type}"
    return line


def sandbox_line(request_id: str, note: str) -> str:
    return f"SANDBOX RequestId: {request_id}\t{note}"


@dataclass(slots=True)
class Report:
    """One REPORT line's fields."""

    request_id: str
    duration_ms: float
    billed_ms: int
    memory_mb: int
    max_memory_used_mb: int
    init_ms: float | None = None
    status: str | None = None  # "timeout" or "error" when the invoke failed that way
    error_type: str | None = None
    restore_ms: float | None = None
    billed_restore_ms: int | None = None
    note: str | None = None  # the SANDBOX line of the same log, when parsed from one

    def line(self) -> str:
        line = (
            f"REPORT RequestId: {self.request_id}\tDuration: {self.duration_ms:.2f} ms\t"
            f"Billed Duration: {self.billed_ms} ms\tMemory Size: {self.memory_mb} MB\t"
            f"Max Memory Used: {self.max_memory_used_mb} MB\t"
        )
        if self.init_ms is not None:
            line += f"Init Duration: {self.init_ms:.2f} ms\t"
        if self.restore_ms is not None:
            line += f"Restore Duration: {self.restore_ms:.2f} ms\t"
            line += f"Billed Restore Duration: {self.billed_restore_ms or 0} ms\t"
        if self.status:
            line += f"Status: {self.status}"
            if self.error_type:
                line += f"\tError Type: {self.error_type}"
        return line

    @classmethod
    def parse(cls, log: str) -> Report | None:
        """The first REPORT line of a log (a decoded LogResult, a log file), or None."""
        match = _REPORT.search(log)
        if match is None:
            return None
        fields = match[2] + "\t"
        values: dict[str, str | None] = {}
        for key, regex in _FIELDS.items():
            found = regex.search(fields)
            values[key] = found[1] if found else None

        def num(key: str) -> float | None:
            value = values[key]
            return float(value) if value is not None else None

        def whole(key: str) -> int | None:
            value = values[key]
            return int(value) if value is not None else None

        note = _SANDBOX.search(log)
        return cls(
            request_id=match[1],
            duration_ms=num("duration_ms") or 0.0,
            billed_ms=whole("billed_ms") or 0,
            memory_mb=whole("memory_mb") or 0,
            max_memory_used_mb=whole("max_memory_used_mb") or 0,
            init_ms=num("init_ms"),
            status=values["status"],
            error_type=values["error_type"],
            restore_ms=num("restore_ms"),
            billed_restore_ms=whole("billed_restore_ms"),
            note=note[1] if note else None,
        )
