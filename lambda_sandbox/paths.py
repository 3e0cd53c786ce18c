"""Where the sandbox keeps things: its package data, the user's cache, per-run state.

A leaf module: it imports nothing of the sandbox.

- package data (limits/*.toml, the Dockerfiles of the offline images, the streaming runtime)
  ships inside the wheel and is read through `importlib.resources`, so an installed sandbox
  never looks for a source checkout;
- the cache (~/.cache/lambda-sandbox, or $SANDBOX_CACHE_DIR) holds what is slow to make and
  the same for every project: model artifacts, wheels, build venvs, the RIE, image contexts;
- the state dir (/var/tmp/lambda-sandbox-<uid>, or $SANDBOX_STATE_DIR) holds per-environment
  files (/tmp images, the runtime packages); never under /tmp, which functions see as theirs;
- a project's `.sandbox/` folder holds its bundles and logs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

__all__ = [
    "COMPLETE",
    "cache_root",
    "cached_dir",
    "cached_file",
    "default_state_dir",
    "package_data",
    "project_build_dir",
    "project_functions_dir",
    "project_logs_dir",
    "streaming_runtime_dir",
    "web_adapter_dir",
]

PROJECT_DIR_NAME = ".sandbox"
COMPLETE = ".complete"  # the marker of a finished cached folder


def package_data(*parts: str) -> Path:
    """A file or folder of the package's data (lambda_sandbox/data/...)."""
    root = resources.files("lambda_sandbox") / "data"
    for part in parts:
        root = root / part
    return Path(str(root))


def streaming_runtime_dir() -> Path:
    """The streaming runtime that goes into bundles (lambda_stream.py and its exec wrapper)."""
    return Path(str(resources.files("lambda_sandbox.build") / "streaming"))


def web_adapter_dir() -> Path:
    """The built-in stand-in for the AWS Lambda Web Adapter's layer (what goes to /opt)."""
    return Path(str(resources.files("lambda_sandbox.build") / "web_adapter"))


def cache_root() -> Path:
    env = os.environ.get("SANDBOX_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "lambda-sandbox"


def default_state_dir() -> Path:
    """Per-environment files (/tmp images, runtime packages): never under /tmp itself."""
    env = os.environ.get("SANDBOX_STATE_DIR")
    if env:
        return Path(env)
    base = Path("/var/tmp") if os.access("/var/tmp", os.W_OK) else Path(tempfile.gettempdir())
    return base / f"lambda-sandbox-{os.geteuid()}"


def project_build_dir(project_dir: Path) -> Path:
    return project_dir / PROJECT_DIR_NAME / "build"


def project_logs_dir(project_dir: Path) -> Path:
    return project_dir / PROJECT_DIR_NAME / "logs"


def project_events_dir(project_dir: Path) -> Path:
    """Accepted async events not yet finished, kept for the next start (event_journal.py)."""
    return project_dir / PROJECT_DIR_NAME / "events"


def project_functions_dir(project_dir: Path) -> Path:
    """Functions created through the API (CreateFunction), kept for the next start."""
    return project_dir / PROJECT_DIR_NAME / "functions"


def cached_dir(target: Path, make: Callable[[Path], None], mode: int = 0o755) -> Path:
    """`target`, made once by `make(staging)` and then kept: `make` writes into a staging
    folder beside it, which is renamed into place only when complete, so an interrupted run
    never leaves a half-made folder behind and two runs racing each other both end up with
    one whole copy. A folder with a `.complete` marker is done."""
    if (target / COMPLETE).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{os.getpid()}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=mode)
    staging.chmod(mode)  # mkdir's mode is cut by the umask
    try:
        make(staging)
        (staging / COMPLETE).touch()
        shutil.rmtree(target, ignore_errors=True)  # an incomplete one from an older run
        try:
            staging.rename(target)
        except OSError:  # made meanwhile by another run
            if not (target / COMPLETE).exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def cached_file(target: Path, make: Callable[[Path], None]) -> Path:
    """`target`, written once by `make(partial)` and renamed into place when complete."""
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        make(partial)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target
