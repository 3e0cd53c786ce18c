"""A function's own code, as `sam build` takes it: a folder, a .zip package, or inline text.

From a folder, everything is taken but the function's own tests (a `tests/` folder at the top
of CodeUri), what the tools write there (.sandbox, .aws-sam, .git, virtualenvs) and Python's
caches. Nothing inside the code is pruned by name deeper down: a package vendored into the code
keeps its `tests` modules (numpy.testing imports numpy._core.tests). The requirements that are
installed next to the code are never pruned at all. Inline code (InlineCode, Code.ZipFile) is
the handler's file, index.py, as CloudFormation writes it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from pathlib import Path

from lambda_sandbox.config import FunctionConfig
from lambda_sandbox.exceptions import BuildError

__all__ = ["INLINE_FILE", "code_digest", "code_files", "lambda_modes", "write_code"]

INLINE_FILE = "index.py"
TOP_LEVEL_SKIP = frozenset({"tests", ".sandbox", ".aws-sam", ".git", ".venv", "venv", ".tox"})
CACHES = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})


def _skipped(rel_dir: str, name: str, is_dir: bool) -> bool:
    if rel_dir == "" and name in TOP_LEVEL_SKIP:
        return True
    if is_dir:
        return name in CACHES
    return name.endswith((".pyc", ".pyo"))


def code_files(config: FunctionConfig) -> dict[str, Path]:
    """The code folder's files by their path in the bundle (a folder's; not inline, not zip)."""
    root = config.code_dir
    found: dict[str, Path] = {}
    for dirpath, dirs, files in os.walk(root):
        rel = Path(dirpath).relative_to(root).as_posix()
        rel = "" if rel == "." else rel
        dirs[:] = sorted(d for d in dirs if not _skipped(rel, d, True))
        for name in sorted(files):
            if _skipped(rel, name, False):
                continue
            path = Path(dirpath) / name
            if path.is_file():
                found[f"{rel}/{name}" if rel else name] = path
    return found


def code_digest(config: FunctionConfig) -> str:
    h = hashlib.sha256()
    if config.inline_code is not None:
        h.update(b"inline\0" + config.inline_code.encode())
    elif config.code_dir.is_file():  # a .zip package
        h.update(b"zip\0" + config.code_dir.read_bytes())
    else:
        for rel, path in code_files(config).items():
            h.update(rel.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def write_code(config: FunctionConfig, target: Path) -> None:
    """Put the function's code into `target` (a bundle being assembled)."""
    if config.inline_code is not None:
        (target / INLINE_FILE).write_text(config.inline_code)
        lambda_modes(target)
        return
    if config.code_dir.is_file():
        try:
            with zipfile.ZipFile(config.code_dir) as package:
                package.extractall(target)
        except zipfile.BadZipFile as exc:
            raise BuildError(f"{config.name}: {config.code_dir} is not a zip: {exc}") from exc
        lambda_modes(target)
        return
    if not config.code_dir.is_dir():
        raise BuildError(f"{config.name}: code folder {config.code_dir} not found")
    for rel, path in code_files(config).items():
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
    lambda_modes(target)


def lambda_modes(folder: Path) -> None:
    """Files readable by all, folders and executables searchable by all: Lambda runs the code
    as another user than the one who wrote it, and needs 644 / 755 (a file of mode 600 fails
    there with "permission denied"; the sandbox gives it the modes a deployment needs)."""
    for dirpath, _, files in os.walk(folder):
        os.chmod(dirpath, os.stat(dirpath).st_mode | 0o755)
        for name in files:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                continue
            mode = os.stat(path).st_mode
            os.chmod(path, mode | (0o755 if mode & 0o100 else 0o644))
