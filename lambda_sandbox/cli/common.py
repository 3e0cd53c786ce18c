"""What the `sandbox` commands share: the consoles, errors, and finding a running sandbox."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

__all__ = [
    "STATE_FILE",
    "console",
    "err",
    "fail",
    "lambda_client",
    "run_async",
    "running_url",
    "sandbox_for",
    "select",
]

console = Console()
err = Console(stderr=True)

STATE_FILE = Path(".sandbox") / "state.json"


def fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}")
    sys.exit(1)


def select(configs: list[Any], function: str | None, where: str) -> list[Any]:
    """All of `configs`, or only FUNCTION's (exits with an error when there is none)."""
    if not function:
        return configs
    chosen = [c for c in configs if c.name == function]
    if not chosen:
        fail(f"no function {function!r} {where}")
    return chosen


def run_async(coro: object) -> None:
    try:
        import uvloop

        uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:
        asyncio.run(coro)  # type: ignore[arg-type]


def running_url() -> str | None:
    try:
        state = json.loads(STATE_FILE.read_text())
    except (OSError, ValueError):
        return None
    pid = state.get("pid")
    if pid and Path(f"/proc/{pid}").exists():
        return state.get("url")
    return None


def sandbox_for(function: str, endpoint: str | None, functions_dir: Path) -> tuple[str, Any]:
    """The sandbox to talk to: --endpoint, the one `sandbox up` runs here, or a throwaway one
    serving just FUNCTION (returned too, so the caller stops it)."""
    url = endpoint or running_url()
    if url is not None:
        return url, None
    from lambda_sandbox.runner import SandboxOptions, SandboxThread

    with console.status("starting a throwaway sandbox"):
        thread = SandboxThread(
            SandboxOptions(functions_dir=functions_dir, only=[function], port=0)
        ).start()
    return thread.url, thread


def lambda_client(url: str) -> Any:
    from lambda_sandbox.client import lambda_client as client_for

    return client_for(url)
