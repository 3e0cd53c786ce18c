"""Each function's log stream (the lines' format is `lambda_sandbox.log_lines`).

A function's lines go to memory (for LogType=Tail and the API) and to `<logs dir>/<fn>.log`,
which `sandbox logs FN --follow` tails from another terminal.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections import deque
from pathlib import Path
from typing import TextIO

__all__ = ["LogStream", "tail_base64"]


def tail_base64(lines: list[str], tail_bytes: int) -> str:
    """The last 4 KB of an invocation's log, base64-encoded (X-Amz-Log-Result)."""
    data = ("\n".join(lines) + "\n").encode()
    return base64.b64encode(data[-tail_bytes:]).decode()


class LogStream:
    """One function's log: recent lines in memory, every line appended to a file."""

    def __init__(self, function_name: str, directory: Path | None, keep: int = 10_000) -> None:
        self.function_name = function_name
        self.group = f"/aws/lambda/{function_name}"
        self.recent: deque[tuple[float, str]] = deque(maxlen=keep)
        self.path = directory / f"{function_name}.log" if directory else None
        self._file: TextIO | None = None
        self._followers: set[asyncio.Queue[tuple[float, str]]] = set()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open

    def follow(self, backlog: int = 10_000) -> asyncio.Queue[tuple[float, str]]:
        """A queue that gets every line written from now on (`sandbox logs --follow`)."""
        queue: asyncio.Queue[tuple[float, str]] = asyncio.Queue(maxsize=backlog)
        self._followers.add(queue)
        return queue

    def unfollow(self, queue: asyncio.Queue[tuple[float, str]]) -> None:
        self._followers.discard(queue)

    def write(self, lines: list[str]) -> None:
        now = time.time()
        self.recent.extend((now, line) for line in lines)
        for queue in self._followers:
            for line in lines:
                if queue.full():  # a reader that stopped reading does not hold the sandbox up
                    break
                queue.put_nowait((now, line))
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
