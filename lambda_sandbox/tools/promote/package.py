"""Zip packages for Lambda's platform, not the host's.

The files are lambda_sandbox.build.lambda_platform's: requirements as manylinux wheels for
the runtime's Python and glibc and the function's architecture, plus the code like `sam
build`'s bundle (same exclusions). The zip is built with fixed timestamps and modes, so the
same inputs give the same bytes and the same CodeSha256, and an unchanged function is not
re-uploaded. Lambda's size limits are checked before any upload.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

from lambda_sandbox.build.lambda_platform import bundle_files, wheel_platforms
from lambda_sandbox.config import FunctionConfig
from lambda_sandbox.limits import Limits, load_limits
from lambda_sandbox.paths import cache_root
from lambda_sandbox.tools.promote.errors import PromoteError
from lambda_sandbox.types import Progress

__all__ = ["ZipPackage", "build_zip", "bundle_files", "package_limits", "wheel_platforms"]

MIB = 1024 * 1024  # Lambda's "MB" in its quotas are MiB
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # zip's earliest time: fixed, so the bytes are reproducible


@dataclass(frozen=True)
class ZipPackage:
    path: Path
    sha256: str  # base64 of the zip's SHA-256: what Lambda reports as CodeSha256
    zipped_bytes: int
    unzipped_bytes: int
    architecture: str
    runtime: str
    platforms: tuple[str, ...]
    direct_upload_limit: int
    unzipped_limit: int

    @property
    def direct_upload(self) -> bool:
        """Small enough to send in the CreateFunction / UpdateFunctionCode request itself."""
        return self.zipped_bytes <= self.direct_upload_limit

    @property
    def sha256_hex(self) -> str:
        return base64.b64decode(self.sha256).hex()

    def describe(self) -> str:
        route = "direct upload" if self.direct_upload else "through S3"
        return (
            f"{self.zipped_bytes / MIB:.1f} MB zipped ({route}, direct limit "
            f"{self.direct_upload_limit / MIB:.0f} MB), {self.unzipped_bytes / MIB:.1f} MB "
            f"unzipped of {self.unzipped_limit / MIB:.0f} MB, {self.architecture}, {self.runtime}"
        )


def package_limits(limits: Limits | None = None) -> dict[str, int]:
    """Lambda's package quotas in bytes, from limits/lambda.toml [package]."""
    lim = limits or load_limits()
    return {
        "zipped_direct_upload": int(lim.q("package", "zipped_direct_upload_mb") * MIB),
        "unzipped": int(lim.q("package", "unzipped_mb") * MIB),
        "image": int(lim.q("package", "image_mb") * MIB),
    }


def _largest(files: dict[str, Path], count: int = 5) -> str:
    sizes: dict[str, int] = {}
    for arcname, path in files.items():
        top = arcname.split("/", 1)[0]
        sizes[top] = sizes.get(top, 0) + path.stat().st_size
    ranked = sorted(sizes.items(), key=lambda kv: -kv[1])[:count]
    return ", ".join(f"{name} {size / MIB:.0f} MB" for name, size in ranked)


def build_zip(
    config: FunctionConfig,
    architecture: str | None = None,
    *,
    limits: Limits | None = None,
    progress: Progress | None = None,
) -> ZipPackage:
    """The function's zip for Lambda (cached by content); refused over 250 MB unzipped."""
    say = progress or (lambda _m: None)
    arch = architecture or config.architectures[0]
    quotas = package_limits(limits)
    deps, files = bundle_files(config, arch, say)
    unzipped = sum(p.stat().st_size for p in files.values())
    if unzipped > quotas["unzipped"]:
        raise PromoteError(
            f"{config.name}: the package is {unzipped / MIB:.1f} MB unzipped, over Lambda's "
            f"{quotas['unzipped'] / MIB:.0f} MB limit for zip packages (largest: "
            f"{_largest(files)}). Use an image package (--package image, up to "
            f"{quotas['image'] / MIB:.0f} MB), or trim the requirements."
        )
    digest = hashlib.sha256(f"{arch}\n{deps.name if deps else ''}".encode())
    for arcname in sorted(files):
        path = files[arcname]
        if deps is not None and path.is_relative_to(deps):
            digest.update(f"{arcname}\0{path.stat().st_size}\0".encode())
        else:
            digest.update(arcname.encode() + b"\0" + path.read_bytes() + b"\0")
    folder = cache_root() / "promote" / "zips"
    out = folder / f"{config.name}-{arch}-{digest.hexdigest()[:16]}.zip"
    if not out.is_file():
        say(f"{config.name}: zipping {len(files)} files ({unzipped / MIB:.0f} MB)")
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob(f"{config.name}-{arch}-*.zip"):
            old.unlink(missing_ok=True)  # one zip per function and architecture is kept
        tmp = out.with_name(f".{out.name}.{os.getpid()}")
        _write_zip(tmp, files)
        tmp.replace(out)
    sha = hashlib.sha256()
    with open(out, "rb") as f:
        for block in iter(lambda: f.read(MIB), b""):
            sha.update(block)
    return ZipPackage(
        path=out,
        sha256=base64.b64encode(sha.digest()).decode(),
        zipped_bytes=out.stat().st_size,
        unzipped_bytes=unzipped,
        architecture=arch,
        runtime=config.runtime,
        platforms=tuple(wheel_platforms(config.runtime, arch)),
        direct_upload_limit=quotas["zipped_direct_upload"],
        unzipped_limit=quotas["unzipped"],
    )


def _write_zip(path: Path, files: dict[str, Path]) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for arcname in sorted(files):
            src = files[arcname]
            info = zipfile.ZipInfo(arcname, date_time=_ZIP_EPOCH)
            executable = os.stat(src).st_mode & 0o100
            # readable by Lambda's sbx_user: 644, or 755 for executables (the stream wrapper)
            info.external_attr = (0o100755 if executable else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(src, "rb") as fin, zf.open(info, "w") as fout:
                shutil.copyfileobj(fin, fout, MIB)
