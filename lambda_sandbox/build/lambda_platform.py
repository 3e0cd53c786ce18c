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
from pathlib import Path

from lambda_sandbox.build.bundle import STREAMING_FILES, requirements_of, streams
from lambda_sandbox.build.code import code_digest, code_files, write_code
from lambda_sandbox.build.pip import run_pip
from lambda_sandbox.config import FunctionConfig
from lambda_sandbox.exceptions import BuildError
from lambda_sandbox.paths import COMPLETE, cache_root, cached_dir, streaming_runtime_dir
from lambda_sandbox.types import Progress

__all__ = [
    "MACHINE", "RUNTIME_GLIBC", "bundle_files", "install_for_lambda", "walk_files",
    "wheel_platforms",
]  # fmt: skip

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
    config: FunctionConfig, architecture: str, requirements: str, say: Progress
) -> Path:
    platforms = wheel_platforms(config.runtime, architecture)
    python_version = config.runtime.removeprefix("python")
    key_src = "\n".join([config.runtime, architecture, *platforms, requirements])
    key = hashlib.sha256(key_src.encode()).hexdigest()[:16]
    target = cache_root() / "promote" / "deps" / f"{config.runtime}-{architecture}-{key}"
    if (target / COMPLETE).exists():
        return target
    say(f"{config.name}: installing requirements for {config.runtime} on {architecture} (cached)")

    def install(into: Path) -> None:
        run_pip(
            [
                "install", "--no-warn-script-location", "--no-compile", "--target", str(into),
                "--implementation", "cp", "--python-version", python_version,
                "--only-binary=:all:", *[arg for tag in platforms for arg in ("--platform", tag)],
                "-r", str(config.code_dir / "requirements.txt"),
            ],
            what=f"{config.name}: installing the requirements for Lambda ({config.runtime}, "
            f"{architecture}, manylinux wheels only)",
            hint="Every requirement needs a binary wheel for that platform: pin a version that "
            "publishes one, or build the function from a Dockerfile of its own (an image "
            "package) that compiles it.",
        )  # fmt: skip

    return cached_dir(target, install)


def walk_files(root: Path, skip: set[str]) -> dict[str, Path]:
    """Every file under root (installed requirements, taken whole) by its path in the zip."""
    found: dict[str, Path] = {}
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        for name in files:
            path = Path(dirpath) / name
            if name not in skip and path.is_file():
                found[path.relative_to(root).as_posix()] = path
    return found


def bundle_files(
    config: FunctionConfig, architecture: str, say: Progress
) -> tuple[Path | None, dict[str, Path]]:
    """What goes into /var/task, by path there: the requirements installed for Lambda's
    platform (their folder, or None), the code, and the streaming wrapper when it streams."""
    requirements = requirements_of(config)
    deps = install_for_lambda(config, architecture, requirements, say) if requirements else None
    files: dict[str, Path] = walk_files(deps, {COMPLETE}) if deps is not None else {}
    if config.inline_code is not None or config.code_dir.is_file():  # inline, or a .zip
        staged = cache_root() / "promote" / "code" / config.name / code_digest(config)[:16]
        files.update(
            walk_files(cached_dir(staged, lambda into: write_code(config, into)), {COMPLETE})
        )
    else:
        files.update(code_files(config))
    if streams(config):
        files.update({name: STREAMING_DIR / name for name in STREAMING_FILES})
    return deps, files
