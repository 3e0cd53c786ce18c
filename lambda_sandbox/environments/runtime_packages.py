"""The Python packages Lambda's managed Python runtime provides, as one folder on PYTHONPATH.

On AWS a function sees its own bundle plus the runtime's packages (the runtime interface
client, boto3 and their dependencies), not whatever else is installed on the machine. The
sandbox mirrors that: the runtime process starts with `python -S` (no site-packages) and
PYTHONPATH = bundle + this folder, a farm of hard links to the installed distributions' files.

Hard links, not symlinks: the function runs as an unprivileged user, who may not traverse the
folders the sandbox is installed in (tox makes `.tox` 0700), and a link keeps working when the
virtualenv it came from is deleted. The folder is named after what it holds (the distributions'
versions and locations), so sandboxes of different installs on one host never share a stale one.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from functools import cache
from importlib import metadata
from pathlib import Path

from lambda_sandbox.exceptions import BackendError
from lambda_sandbox.paths import cached_dir

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


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system
        shutil.copy2(src, dst)


@cache
def build_runtime_layer(parent: Path) -> Path:
    """Create (once per process) the runtime's packages under `parent`; returns the folder."""
    dists = _closure(RUNTIME_DISTRIBUTIONS)
    tops = sorted({top for dist in dists for top in _top_level(dist) if top.exists()})
    key = "\n".join([*(f"{d.metadata['Name']}=={d.version}" for d in dists), *map(str, tops)])
    target = parent / f"runtime-packages-{hashlib.sha256(key.encode()).hexdigest()[:12]}"

    def link(staging: Path) -> None:
        for top in tops:
            if top.is_dir():
                ignore = shutil.ignore_patterns("__pycache__")
                shutil.copytree(top, staging / top.name, copy_function=_link_or_copy, ignore=ignore)
            else:
                _link_or_copy(str(top), str(staging / top.name))
        if not (staging / "awslambdaric").exists():
            raise BackendError("awslambdaric is not installed: pip install awslambdaric")
        for path in staging.rglob("*"):  # readable by the function's user
            if path.is_dir():
                path.chmod(0o755)

    try:
        return cached_dir(target, link)
    except OSError as exc:
        raise BackendError(f"cannot build the runtime packages in {parent}: {exc}") from exc
