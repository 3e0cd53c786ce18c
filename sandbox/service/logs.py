"""Log lines in Lambda's exact format, and each function's log stream.

    START RequestId: <id> Version: $LATEST
    END RequestId: <id>
    REPORT RequestId: <id>\tDuration: 2.75 ms\tBilled Duration: 117 ms\tMemory Size: 128 MB\t
        Max Memory Used: 38 MB\tInit Duration: 113.51 ms\t
    INIT_REPORT Init Duration: 10000.12 ms\tPhase: init\tStatus: timeout

A function's lines go to memory (for LogType=Tail and the API) and to `<logs dir>/<fn>.log`,
which `sandbox logs FN --follow` tails from another terminal.
"""

from __future__ import annotations

import base64
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

__all__ = ["LogStream", "Report", "end_line", "init_report_line", "start_line", "tail_base64"]

TAIL_BYTES = 4096


def start_line(request_id: str, version: str = "$LATEST") -> str:
    return f"START RequestId: {request_id} Version: {version}"


def end_line(request_id: str) -> str:
    return f"END RequestId: {request_id}"


def init_report_line(duration_ms: float, phase: str, status: str, error_type: str | None) -> str:
    line = f"INIT_REPORT Init Duration: {duration_ms:.2f} ms\tPhase: {phase}\tStatus: {status}"
    if error_type:
        line += f"\tError Type: {error_type}"
    return line


@dataclass(slots=True)
class Report:
    request_id: str
    duration_ms: float
    billed_ms: int
    memory_mb: int
    max_memory_used_mb: int
    init_ms: float | None = None
    status: str | None = None  # "timeout" or "error" when the invoke failed that way
    error_type: str | None = None

    def line(self) -> str:
        line = (
            f"REPORT RequestId: {self.request_id}\tDuration: {self.duration_ms:.2f} ms\t"
            f"Billed Duration: {self.billed_ms} ms\tMemory Size: {self.memory_mb} MB\t"
            f"Max Memory Used: {self.max_memory_used_mb} MB\t"
        )
        if self.init_ms is not None:
            line += f"Init Duration: {self.init_ms:.2f} ms\t"
        if self.status:
            line += f"Status: {self.status}"
            if self.error_type:
                line += f"\tError Type: {self.error_type}"
        return line


def tail_base64(lines: list[str]) -> str:
    """The last 4 KB of an invocation's log, base64-encoded (X-Amz-Log-Result)."""
    data = ("\n".join(lines) + "\n").encode()
    return base64.b64encode(data[-TAIL_BYTES:]).decode()


class LogStream:
    """One function's log: recent lines in memory, every line appended to a file."""

    def __init__(self, function_name: str, directory: Path | None, keep: int = 10_000) -> None:
        self.function_name = function_name
        self.group = f"/aws/lambda/{function_name}"
        self.recent: deque[tuple[float, str]] = deque(maxlen=keep)
        self.path = directory / f"{function_name}.log" if directory else None
        self._file: TextIO | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open

    def write(self, lines: list[str]) -> None:
        now = time.time()
        self.recent.extend((now, line) for line in lines)
        if self._file is not None:
            stamp = (
                time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
                + f".{int(now % 1 * 1000):03d}Z"
            )
            self._file.write("".join(f"{stamp} {line}\n" for line in lines))

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
