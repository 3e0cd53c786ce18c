"""The Python packages Lambda's managed Python runtime provides, as one folder on PYTHONPATH.

On AWS a function sees its own bundle plus the runtime's packages (the runtime interface
client, boto3 and their dependencies), not whatever else is installed on the machine. The
sandbox mirrors that: the runtime process starts with `python -S` (no site-packages) and
PYTHONPATH = bundle + this folder, a farm of symlinks to the installed distributions.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import metadata
from pathlib import Path

from sandbox.exceptions import BackendError

__all__ = ["RUNTIME_DISTRIBUTIONS", "build_runtime_layer"]

RUNTIME_DISTRIBUTIONS = ("awslambdaric", "boto3")
_REQ_NAME = re.compile(r"^([A-Za-z0-9_.\-]+)")


def _closure(names: tuple[str, ...]) -> list[metadata.Distribution]:
    seen: dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen[key] = dist
        for req in dist.requires or []:
            if "extra ==" in req:
                continue
            match = _REQ_NAME.match(req.strip())
            if match:
                todo.append(match.group(1))
    return list(seen.values())


def _top_level(dist: metadata.Distribution) -> set[Path]:
    tops: set[Path] = set()
    for f in dist.files or []:
        parts = Path(str(f)).parts
        if not parts or parts[0] in ("..", "__pycache__") or parts[0].endswith(".dist-info"):
            continue
        if len(parts) == 1 and not parts[0].endswith((".py", ".so", ".pyd")):
            continue
        tops.add(Path(str(dist.locate_file(parts[0]))))
    return tops


@cache
def build_runtime_layer(target: Path) -> Path:
    """Create (once per process) the symlink farm in `target`; returns it."""
    try:
        target.mkdir(parents=True, exist_ok=True)
        for dist in _closure(RUNTIME_DISTRIBUTIONS):
            for top in _top_level(dist):
                link = target / top.name
                if not link.exists() and top.exists():
                    link.symlink_to(top)
    except OSError as exc:
        raise BackendError(f"cannot build the runtime layer in {target}: {exc}") from exc
    if not (target / "awslambdaric").exists():
        raise BackendError("awslambdaric is not installed: pip install awslambdaric")
    return target
