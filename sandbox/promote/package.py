"""Zip packages for Lambda's platform, not the host's.

Requirements are installed with pip's cross-platform options: wheels only, for the function's
architecture (x86_64 or aarch64 manylinux) and its runtime's Python version and C library
(Amazon Linux 2: glibc 2.26; Amazon Linux 2023: glibc 2.34), so every manylinux tag up to that
glibc is accepted and none newer. They are cached per (runtime, architecture, requirements);
the zip is built from them plus the code like `sam build`'s bundle (same exclusions), with fixed
timestamps and modes, so the same inputs give the same bytes and the same CodeSha256, and an
unchanged function is not re-uploaded. Lambda's size limits are checked before any upload.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sandbox.build import _IGNORE, STREAMING_FILES, requirements_of, streams
from sandbox.definitions import FunctionConfig
from sandbox.limits import Limits, load_limits
from sandbox.models import cache_root
from sandbox.promote.errors import PromoteError

__all__ = ["ZipPackage", "build_zip", "bundle_files", "package_limits", "wheel_platforms"]

Say = Callable[[str], None]
MIB = 1024 * 1024  # Lambda's "MB" in its quotas are MiB

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
_STREAMING_DIR = Path(__file__).resolve().parent.parent / "streaming"
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


def wheel_platforms(runtime: str, architecture: str) -> list[str]:
    """pip --platform values for a runtime and architecture, best first: every manylinux tag
    whose glibc the runtime's OS has (pip does not widen a manylinux_2_X tag by itself)."""
    if runtime not in RUNTIME_GLIBC:
        raise PromoteError(f"runtime {runtime!r} is not a Lambda Python runtime I know")
    if architecture not in MACHINE:
        raise PromoteError(f"architecture {architecture!r}: Lambda has x86_64 and arm64")
    machine = MACHINE[architecture]
    major, minor = RUNTIME_GLIBC[runtime]
    tags = [f"manylinux_{major}_{m}_{machine}" for m in range(minor, 16, -1)]
    tags.append(f"manylinux2014_{machine}")  # = manylinux_2_17, the older spelling
    if machine == "x86_64":
        tags += ["manylinux2010_x86_64", "manylinux_2_12_x86_64", "manylinux1_x86_64"]
        tags.append("manylinux_2_5_x86_64")
    return tags


def _install_for_lambda(
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
        raise PromoteError(
            f"{config.name}: pip could not install the requirements for Lambda "
            f"({config.runtime}, {architecture}, manylinux wheels only):\n{errors[-2000:]}\n"
            "Every requirement needs a binary wheel for that platform: pin a version that "
            "publishes one, or use an image package (--package image)."
        )
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    (target / ".complete").touch()
    return target


def _walk(root: Path, skip: set[str]) -> dict[str, Path]:
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


def _largest(files: dict[str, Path], count: int = 5) -> str:
    sizes: dict[str, int] = {}
    for arcname, path in files.items():
        top = arcname.split("/", 1)[0]
        sizes[top] = sizes.get(top, 0) + path.stat().st_size
    ranked = sorted(sizes.items(), key=lambda kv: -kv[1])[:count]
    return ", ".join(f"{name} {size / MIB:.0f} MB" for name, size in ranked)


def bundle_files(
    config: FunctionConfig, architecture: str, say: Say
) -> tuple[Path | None, dict[str, Path]]:
    """What goes into /var/task, by path there: the requirements installed for Lambda's
    platform (their folder, or None), the code, and the streaming wrapper when it streams."""
    requirements = requirements_of(config)
    deps = _install_for_lambda(config, architecture, requirements, say) if requirements else None
    files: dict[str, Path] = _walk(deps, {".complete"}) if deps is not None else {}
    files.update(_walk(config.code_dir, set()))
    if streams(config):
        files.update({name: _STREAMING_DIR / name for name in STREAMING_FILES})
    return deps, files


def build_zip(
    config: FunctionConfig,
    architecture: str | None = None,
    *,
    limits: Limits | None = None,
    progress: Say | None = None,
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
