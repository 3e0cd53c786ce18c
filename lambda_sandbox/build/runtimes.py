"""A function's runtime as Lambda lays it out: the Python of its `Runtime` at /var/lang, the
runtime client and boto3 at /var/runtime.

- /var/lang: a CPython of the runtime's version found on this host ($SANDBOX_PYTHON_3_12,
  pythonX.Y on PATH, pyenv's, uv's), its base prefix as it is (the backend bind-mounts it).
  When the host has no such Python, the nearest it has, and a note that says so.
- /var/runtime: awslambdaric and boto3 for that Python version: hard links to the sandbox's own
  installed copies when the version is the sandbox's, else manylinux wheels installed for it
  (`pip install --target --python-version`, cached), and `bootstrap.py`, the entry that sets
  Lambda's module search path (/var/task, /opt/python/lib/pythonX.Y/site-packages,
  /opt/python, /var/runtime, the standard library) and runs awslambdaric.
- `provided.al2023` / `provided.al2`: no Python; the function's own `bootstrap` runs.

Hard links, not symlinks: the function runs as an unprivileged user who may not traverse the
folders the sandbox is installed in (tox makes `.tox` 0700), and a link keeps working when the
virtualenv it came from is deleted.
"""

from __future__ import annotations

import glob
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

from lambda_sandbox.build.pip import run_pip
from lambda_sandbox.exceptions import BuildError
from lambda_sandbox.paths import cache_root, cached_dir
from lambda_sandbox.types import Progress

__all__ = [
    "BOOTSTRAP",
    "RUNTIME_DISTRIBUTIONS",
    "RuntimeFiles",
    "find_python",
    "interpreter_for",
    "nearest_python",
    "prepare_runtime",
    "python_prefix",
    "python_tag",
]

RUNTIME_DISTRIBUTIONS = ("awslambdaric", "boto3")
_REQ_NAME = re.compile(r"^([A-Za-z0-9_.\-]+)")
BOOTSTRAP = '''\
"""/var/runtime/bootstrap.py, the sandbox's Python runtime entry: Lambda's module search
path, then awslambdaric (the runtime interface client AWS's Python runtimes use)."""
import os
import sys

_version = "python%d.%d" % sys.version_info[:2]
_here = os.path.dirname(os.path.abspath(__file__))
_task = os.environ.get("LAMBDA_TASK_ROOT", "/var/task")
_opt = os.environ.pop("_SANDBOX_OPT_DIR", "/opt")  # set only where /opt is not at /opt
_front = [_task, "%s/python/lib/%s/site-packages" % (_opt, _version), "%s/python" % _opt, _here]
sys.path[:] = _front + [p for p in sys.path if p not in _front]

if "_SANDBOX_SNAPSHOT_FD" in os.environ:  # a SnapStart snapshot: serve restores
    import _sandbox_snapshot  # noqa: E402

    _sandbox_snapshot.install()

from awslambdaric.__main__ import main  # noqa: E402

main(sys.argv)
'''
SNAPSHOT_TEMPLATE = Path(__file__).parents[1] / "environments" / "snapshot_template.py"


@dataclass(frozen=True)
class RuntimeFiles:
    """/var/runtime and /var/lang of one Runtime on this host."""

    runtime: str
    runtime_dir: Path  # -> /var/runtime
    python_prefix: Path | None = None  # -> /var/lang (None: not a Python runtime)
    python_version: str | None = None  # what really runs, "3.12"
    note: str | None = None  # how it differs from the function's Runtime
    interpreter: str | None = None  # the host path of that Python (installs requirements)


@cache
def _version_of(interpreter: str) -> str | None:
    try:
        out = subprocess.run(
            [interpreter, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@cache
def find_python(version: str) -> str | None:
    """A CPython `version` interpreter on this host: $SANDBOX_PYTHON_<x_y>, then pythonX.Y on
    PATH, then pyenv's, then uv's."""
    env = os.environ.get(f"SANDBOX_PYTHON_{version.replace('.', '_')}")
    candidates = [env, shutil.which(f"python{version}")]
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates += sorted(glob.glob(f"{pyenv}/versions/{version}.*/bin/python{version}"))
    uv = os.path.expanduser("~/.local/share/uv/python")
    candidates += sorted(glob.glob(f"{uv}/cpython-{version}.*/bin/python{version}"))
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        candidates.insert(0, sys.executable)
    for candidate in candidates:
        if candidate and _version_of(candidate) == version:
            return candidate
    return None


@cache
def python_prefix(interpreter: str) -> tuple[Path, str]:
    """(the base prefix of an interpreter, its executable's path relative to it): a
    virtualenv's Python is its base installation's."""
    code = "import sys, os; print(sys.base_prefix); print(os.path.realpath(sys._base_executable))"
    out = subprocess.run([interpreter, "-c", code], capture_output=True, text=True, check=True)
    prefix, executable = out.stdout.split("\n")[:2]
    exe = Path(executable)
    try:
        rel = exe.relative_to(prefix)
    except ValueError:
        rel = Path("bin") / exe.name
    return Path(prefix), str(rel)


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


def _readable(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)


def _own_packages(into: Path) -> None:
    """The sandbox's installed awslambdaric and boto3 (its own Python version), hard-linked."""
    dists = _closure(RUNTIME_DISTRIBUTIONS)
    for top in sorted({t for d in dists for t in _top_level(d) if t.exists()}):
        if top.is_dir():
            ignore = shutil.ignore_patterns("__pycache__")
            shutil.copytree(top, into / top.name, copy_function=_link_or_copy, ignore=ignore)
        else:
            _link_or_copy(str(top), str(into / top.name))


def _wheels_for(version: str, into: Path) -> None:
    """awslambdaric and boto3, the versions the sandbox has, as wheels for Python `version`."""
    machine = "aarch64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
    pins = [f"{d}=={metadata.version(d)}" for d in RUNTIME_DISTRIBUTIONS]
    run_pip(
        ["install", "--no-compile", "--target", str(into), "--implementation", "cp",
         "--python-version", version, "--only-binary=:all:",
         "--platform", f"manylinux2014_{machine}", "--platform", f"manylinux_2_28_{machine}",
         "--platform", f"manylinux_2_17_{machine}", *pins],
        what=f"the runtime client and boto3 for Python {version}",
    )  # fmt: skip


def _compile(interpreter: str, folder: Path) -> None:
    """Byte-code for the runtime's Python: /var/runtime is read-only, so without it every cold
    start would compile boto3 and the runtime client from source again (~70 ms here)."""
    subprocess.run(
        [interpreter, "-m", "compileall", "-q", "-j", "0", str(folder)],
        capture_output=True, timeout=600,
    )  # fmt: skip


def _runtime_dir(version: str | None, interpreter: str | None, say: Progress) -> Path:
    own = f"{sys.version_info[0]}.{sys.version_info[1]}"
    pins = [f"{d}=={metadata.version(d)}" for d in RUNTIME_DISTRIBUTIONS]
    template = SNAPSHOT_TEMPLATE.read_text()
    key = "\n".join([version or "provided", *pins, BOOTSTRAP, template, "compiled"])
    if version == own:  # hard links to this install's files: named after their location too
        key += "\n" + "\n".join(
            str(t) for d in _closure(RUNTIME_DISTRIBUTIONS) for t in _top_level(d)
        )
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    target = cache_root() / "runtimes" / f"{version or 'provided'}-{digest}"

    def make(into: Path) -> None:
        if version == own:
            _own_packages(into)
        elif version is not None:
            say(f"installing the runtime client and boto3 for Python {version} (cached)")
            _wheels_for(version, into)
        if version is not None:
            (into / "bootstrap.py").write_text(BOOTSTRAP)
            (into / "_sandbox_snapshot.py").write_text(template)
            if not (into / "awslambdaric").is_dir():
                raise BuildError(f"awslambdaric for Python {version} did not install")
            if interpreter is not None:
                _compile(interpreter, into)
        _readable(into)

    return cached_dir(target, make)


def nearest_python(wanted: str) -> tuple[str, str]:
    """The host's Python closest to `wanted` (3.14 -> 3.13 before 3.15; the lower one on a
    tie), else the sandbox's own: (version, interpreter)."""
    minor = int(wanted.split(".")[1])
    for other in sorted(range(8, 20), key=lambda m: (abs(m - minor), m > minor)):
        found = find_python(f"3.{other}") if other != minor else None
        if found is not None:
            return f"3.{other}", found
    return f"{sys.version_info[0]}.{sys.version_info[1]}", sys.executable


def prepare_runtime(runtime: str, say: Progress | None = None) -> RuntimeFiles:
    """/var/lang and /var/runtime for a function's `Runtime`."""
    report = say or (lambda _m: None)
    if runtime.startswith("provided"):
        return RuntimeFiles(runtime, _runtime_dir(None, None, report))
    wanted = runtime.removeprefix("python")
    note = None
    interpreter = find_python(wanted)
    version = wanted
    if interpreter is None:
        version, interpreter = nearest_python(wanted)
        note = (
            f"runs on python{version}: this host has no Python {wanted} (set "
            f"SANDBOX_PYTHON_{wanted.replace('.', '_')}, or install it with pyenv or uv)"
        )
    prefix, _ = python_prefix(interpreter)
    runtime_dir = _runtime_dir(version, interpreter, report)
    return RuntimeFiles(runtime, runtime_dir, prefix, version, note, interpreter)


def python_tag(interpreter: str | None) -> str:
    """ "cp312" for a Python 3.12 interpreter (what its wheels are tagged with)."""
    if interpreter is None:
        return "none"
    version = _version_of(interpreter) or "unknown"
    return "cp" + version.replace(".", "")


def interpreter_for(runtime: str) -> str | None:
    """The host Python a function's requirements are installed for (None: provided)."""
    if runtime.startswith("provided"):
        return None
    wanted = runtime.removeprefix("python")
    return find_python(wanted) or nearest_python(wanted)[1]
