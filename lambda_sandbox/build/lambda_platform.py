"""Lambda's platform, not the host's: what goes into /var/task for a function.

Requirements are installed with pip's cross-platform options: wheels only, for the function's
architecture (x86_64 or aarch64 manylinux) and its runtime's Python version and C library
(Amazon Linux 2: glibc 2.26; Amazon Linux 2023: glibc 2.34), so every manylinux tag up to that
glibc is accepted and none newer; cached per (runtime, architecture, requirements). `promote`
zips these files; function images (the docker backend, image packages) copy them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from lambda_sandbox.build.bundle import _IGNORE, STREAMING_FILES, requirements_of, streams
from lambda_sandbox.config import FunctionConfig
from lambda_sandbox.exceptions import BuildError
from lambda_sandbox.paths import cache_root, streaming_runtime_dir

__all__ = [
    "MACHINE", "RUNTIME_GLIBC", "bundle_files", "install_for_lambda", "walk_files",
    "wheel_platforms",
]  # fmt: skip

Say = Callable[[str], None]
STREAMING_DIR = streaming_runtime_dir()

# Lambda's Python runtimes: the OS each runs on, and that OS's glibc. Source:
# https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html (python3.12 and later on
# Amazon Linux 2023, glibc 2.34; python3.9-3.11 on Amazon Linux 2, glibc 2.26), checked
# 2026-11-22. Wheels tagged for a newer glibc than the runtime's would not load there.
RUNTIME_GLIBC: dict[str, tuple[int, int]] = {
    "python3.9": (2, 26),
    "python3.10": (2, 26),
    "python3.11": (2, 26),
    "python3.12": (2, 34),
    "python3.13": (2, 34),
    "python3.14": (2, 34),
}
MACHINE = {"x86_64": "x86_64", "arm64": "aarch64"}  # Lambda's name -> the wheel tag's


def wheel_platforms(runtime: str, architecture: str) -> list[str]:
    """pip --platform values for a runtime and architecture, best first: every manylinux tag
    whose glibc the runtime's OS has (pip does not widen a manylinux_2_X tag by itself)."""
    if runtime not in RUNTIME_GLIBC:
        raise BuildError(f"runtime {runtime!r} is not a Lambda Python runtime I know")
    if architecture not in MACHINE:
        raise BuildError(f"architecture {architecture!r}: Lambda has x86_64 and arm64")
    machine = MACHINE[architecture]
    major, minor = RUNTIME_GLIBC[runtime]
    tags = [f"manylinux_{major}_{m}_{machine}" for m in range(minor, 16, -1)]
    tags.append(f"manylinux2014_{machine}")  # = manylinux_2_17, the older spelling
    if machine == "x86_64":
        tags += ["manylinux2010_x86_64", "manylinux_2_12_x86_64", "manylinux1_x86_64"]
        tags.append("manylinux_2_5_x86_64")
    return tags


def install_for_lambda(
    config: FunctionConfig, architecture: str, requirements: str, say: Say
) -> Path:
    platforms = wheel_platforms(config.runtime, architecture)
    python_version = config.runtime.removeprefix("python")
    key_src = "\n".join([config.runtime, architecture, *platforms, requirements])
    key = hashlib.sha256(key_src.encode()).hexdigest()[:16]
    target = cache_root() / "promote" / "deps" / f"{config.runtime}-{architecture}-{key}"
    if (target / ".complete").exists():
        return target
    say(f"{config.name}: installing requirements for {config.runtime} on {architecture} (cached)")
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    cmd = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--no-warn-script-location", "--no-compile", "--target", str(tmp),
        "--implementation", "cp", "--python-version", python_version, "--only-binary=:all:",
        *[arg for tag in platforms for arg in ("--platform", tag)],
        "-r", str(config.code_dir / "requirements.txt"),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        errors = "\n".join(ln for ln in proc.stderr.splitlines() if "is ignored" not in ln)
        raise BuildError(
            f"{config.name}: pip could not install the requirements for Lambda "
            f"({config.runtime}, {architecture}, manylinux wheels only):\n{errors[-2000:]}\n"
            "Every requirement needs a binary wheel for that platform: pin a version that "
            "publishes one, or build the function from a Dockerfile of its own (an image "
            "package) that compiles it."
        )
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    (target / ".complete").touch()
    return target


def walk_files(root: Path, skip: set[str]) -> dict[str, Path]:
    """Files under root by their path in the zip, with `sam build`'s exclusions."""
    found: dict[str, Path] = {}
    for dirpath, dirs, files in os.walk(root):
        ignored = _IGNORE(dirpath, [*dirs, *files])
        dirs[:] = sorted(d for d in dirs if d not in ignored)
        for name in files:
            if name in ignored or name in skip:
                continue
            path = Path(dirpath) / name
            if path.is_file():
                found[path.relative_to(root).as_posix()] = path
    return found


def bundle_files(
    config: FunctionConfig, architecture: str, say: Say
) -> tuple[Path | None, dict[str, Path]]:
    """What goes into /var/task, by path there: the requirements installed for Lambda's
    platform (their folder, or None), the code, and the streaming wrapper when it streams."""
    requirements = requirements_of(config)
    deps = install_for_lambda(config, architecture, requirements, say) if requirements else None
    files: dict[str, Path] = walk_files(deps, {".complete"}) if deps is not None else {}
    files.update(walk_files(config.code_dir, set()))
    if streams(config):
        files.update({name: STREAMING_DIR / name for name in STREAMING_FILES})
    return deps, files
