"""Running sandboxes, found from any folder: `sandbox up` registers itself per user.

Each running sandbox writes `<pid>.json` (its URL, pid, project folder, functions folder or
template, the API Gateway and function URLs) into the user's registry folder
($XDG_RUNTIME_DIR/lambda-sandbox, else ~/.local/state/lambda-sandbox/running) and removes it
when it stops; an entry whose process is gone is ignored and removed.

Commands that talk to a sandbox pick, in order: --endpoint, $SANDBOX_URL, the running sandbox
whose project folder holds the current folder (the nearest), the only running sandbox. With
several and none of them here, the choice is the user's: the error lists them.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lambda_sandbox.exceptions import SandboxError

__all__ = ["Running", "find_running", "register", "registry_dir", "running", "unregister"]


@dataclass(frozen=True)
class Running:
    url: str
    pid: int
    project_dir: str
    functions: str  # the functions folder or the template it serves
    backend: str = "process"
    started_at: float = field(default_factory=time.time)
    api_url: str | None = None
    function_urls: dict[str, str] = field(default_factory=dict)
    aws_endpoint: str | None = None

    def describe(self) -> str:
        return f"{self.url} (pid {self.pid}, serving {self.functions})"


def registry_dir() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.access(runtime, os.W_OK):
        return Path(runtime) / "lambda-sandbox"
    return Path.home() / ".local" / "state" / "lambda-sandbox" / "running"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def register(entry: Running) -> Path:
    folder = registry_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{entry.pid}.json"
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(asdict(entry), indent=2))
    partial.replace(path)
    return path


def unregister(pid: int | None = None) -> None:
    (registry_dir() / f"{pid or os.getpid()}.json").unlink(missing_ok=True)


def running() -> list[Running]:
    """Every running sandbox of this user (stale entries are removed)."""
    folder = registry_dir()
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data: dict[str, Any] = json.loads(path.read_text())
            entry = Running(**data)
        except (OSError, ValueError, TypeError):
            path.unlink(missing_ok=True)
            continue
        if _alive(entry.pid):
            found.append(entry)
        else:
            path.unlink(missing_ok=True)
    return found


def find_running(endpoint: str | None = None, cwd: Path | None = None) -> str | None:
    """The URL of the sandbox to talk to, or None when none runs (see the module's doc)."""
    if endpoint:
        return endpoint.rstrip("/")
    env = os.environ.get("SANDBOX_URL")
    if env:
        return env.rstrip("/")
    entries = running()
    if not entries:
        return None
    here = (cwd or Path.cwd()).resolve()
    mine = [
        e for e in entries if here == Path(e.project_dir) or Path(e.project_dir) in here.parents
    ]
    if mine:
        return max(mine, key=lambda e: len(e.project_dir)).url
    if len(entries) == 1:
        return entries[0].url
    listed = "; ".join(e.describe() for e in entries)
    raise SandboxError(
        f"{len(entries)} sandboxes are running and none serves this folder: {listed}. "
        "Choose one with --endpoint URL (or $SANDBOX_URL)."
    )
