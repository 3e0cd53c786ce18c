"""The real AWS Runtime Interface Emulator binary, taken from the aws-sam-cli wheel.

The RIE ships inside that wheel (samcli/local/rapid/aws-lambda-rie-{x86_64,arm64}); it is
downloaded once with `pip download --no-deps` (so only PyPI is needed, no GitHub release) and
cached under <sandbox cache>/rie. The benchmarks run it as the reference peer; the offline base
image puts it at /usr/local/bin/aws-lambda-rie, where AWS's base images have it.
"""

from __future__ import annotations

import platform
import zipfile
from pathlib import Path

from lambda_sandbox.build.pip import run_pip
from lambda_sandbox.paths import cache_root, cached_file

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
    run_pip(
        ["download", "--no-deps", SAM_CLI, "-d", str(cache)],
        what=f"downloading {SAM_CLI} for the RIE binary",
    )
    wheel = next(cache.glob("aws_sam_cli-*.whl"))

    def extract(partial: Path) -> None:
        with zipfile.ZipFile(wheel) as zf:
            partial.write_bytes(zf.read(f"samcli/local/rapid/aws-lambda-rie-{arch}"))
        partial.chmod(0o755)

    return cached_file(binary, extract)
