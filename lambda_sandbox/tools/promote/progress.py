"""Progress of a promotion: steps (a line each) and transfers (a bar each, bytes).

The promotion calls a `Reporter`; `RichReporter` draws it with rich, `NullReporter` drops it,
`ListReporter` keeps the steps (tests). boto3 calls a transfer's callback from its threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Protocol

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TransferSpeedColumn,
)

__all__ = ["ListReporter", "NullReporter", "Reporter", "RichReporter"]

BytesCallback = Callable[[int], None]


class Reporter(Protocol):
    def step(self, message: str) -> None:
        """A step begins (or a fact worth a line)."""

    def transfer(self, description: str, total: int) -> BytesCallback:
        """An upload of `total` bytes begins; call the result with each chunk's size."""


class NullReporter:
    def step(self, message: str) -> None:
        pass

    def transfer(self, description: str, total: int) -> BytesCallback:
        return lambda _n: None


class ListReporter:
    """Keeps what was reported: steps, and bytes transferred per description."""

    def __init__(self) -> None:
        self.steps: list[str] = []
        self.transferred: dict[str, int] = {}
        self._lock = threading.Lock()

    def step(self, message: str) -> None:
        self.steps.append(message)

    def transfer(self, description: str, total: int) -> BytesCallback:
        self.transferred[description] = 0

        def advance(n: int) -> None:
            with self._lock:
                self.transferred[description] += n

        return advance


class RichReporter:
    """A line per step, a bar per upload (removed when done); use it as a context manager."""

    def __init__(self, console: Console | None = None) -> None:
        self.progress = Progress(
            TextColumn("  {task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=console,
            transient=True,
        )
        self._lock = threading.Lock()

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.progress.stop()

    def step(self, message: str) -> None:
        self.progress.console.print(f"[dim]-[/] {escape(message)}")

    def transfer(self, description: str, total: int) -> BytesCallback:
        task = self.progress.add_task(description.split(" -> ")[0], total=total)
        done = [0]

        def advance(n: int) -> None:
            with self._lock:
                done[0] += n
                self.progress.advance(task, n)
                if done[0] >= total:
                    self.progress.remove_task(task)

        return advance
