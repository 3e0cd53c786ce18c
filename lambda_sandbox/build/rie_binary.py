"""The real AWS Runtime Interface Emulator binary, taken from the aws-sam-cli wheel.

The RIE ships inside that wheel (samcli/local/rapid/aws-lambda-rie-{x86_64,arm64}); it is
downloaded once with `pip download --no-deps` (so only PyPI is needed, no GitHub release) and
cached under <sandbox cache>/rie. The benchmarks run it as the reference peer; the offline base
image puts it at /usr/local/bin/aws-lambda-rie, where AWS's base images have it.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import zipfile
from pathlib import Path

from lambda_sandbox.exceptions import BuildError
from lambda_sandbox.paths import cache_root

__all__ = ["SAM_CLI", "host_architecture", "rie_binary"]

SAM_CLI = "aws-sam-cli==1.170.0"


def host_architecture() -> str:
    """Lambda's name for this machine's architecture."""
    return "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"


def rie_binary(architecture: str | None = None) -> Path:
    arch = architecture or host_architecture()
    cache = cache_root() / "rie"
    binary = cache / f"aws-lambda-rie-{arch}"
    if binary.exists():
        return binary
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",
        SAM_CLI,
        "-d",
        str(cache),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"could not download {SAM_CLI} for the RIE binary:\n{proc.stderr[-1500:]}")
    wheel = next(cache.glob("aws_sam_cli-*.whl"))
    tmp = binary.with_suffix(".partial")
    with zipfile.ZipFile(wheel) as zf:
        tmp.write_bytes(zf.read(f"samcli/local/rapid/aws-lambda-rie-{arch}"))
    tmp.chmod(0o755)
    tmp.replace(binary)
    return binary
