"""Fetch a model file from S3 straight into memory, as the AWS zip-packaging post does.

`memfd_create` makes an anonymous in-memory file; the object is fetched into it with parallel
ranged GETs (boto3), each part written at its offset with `os.pwrite`, and llama.cpp opens it
by path through `/proc/self/fd/N` (it needs a path; mmap of a memfd shares its pages, so the
weights are held once). Nothing touches /tmp. Where memfd is not available (not Linux, an old
kernel, or MODEL_LOADER=tmp), the object is downloaded to /tmp instead, by the same ranged
GETs. Memory used by a memfd counts against the function's memory, as it does on Lambda.
"""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["Loaded", "fetch_model", "memfd_available", "parts", "tmp_usage"]

MFD_CLOEXEC = 0x0001
DEFAULT_PART_BYTES = 16 * 1024 * 1024
DEFAULT_WORKERS = 4


@dataclass
class Loaded:
    """Where the model ended up and what it cost."""

    source: str  # "memfd" or "tmp" (or "local" for MODEL_PATH)
    path: str  # what llama.cpp opens
    bytes: int
    parts: int
    download_ms: float
    memfd_error: str | None = None  # why memfd was not used, when it was not
    fd: int | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("fd")
        return data


def parts(size: int, part_bytes: int) -> list[tuple[int, int]]:
    """Inclusive byte ranges covering `size` bytes, `part_bytes` each (the last one shorter)."""
    if part_bytes <= 0:
        raise ValueError(f"part size must be positive, got {part_bytes}")
    return [(start, min(start + part_bytes, size) - 1) for start in range(0, size, part_bytes)]


def _memfd_create(name: str) -> int:
    """An anonymous in-memory file (os.memfd_create, or libc's through ctypes)."""
    if hasattr(os, "memfd_create"):
        return os.memfd_create(name, os.MFD_CLOEXEC)
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.memfd_create(name.encode(), MFD_CLOEXEC)
    if fd == -1:
        errno = ctypes.get_errno()
        raise OSError(errno, f"memfd_create failed: {os.strerror(errno)}")
    return int(fd)


def memfd_available() -> str | None:
    """None when memfd works here, else the reason it does not."""
    try:
        fd = _memfd_create("probe")
    except (OSError, AttributeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    try:
        if not os.path.exists(f"/proc/self/fd/{fd}"):
            return "/proc/self/fd is not available"
    finally:
        os.close(fd)
    return None


def _download(
    s3: Any, bucket: str, key: str, fd: int, size: int, part_bytes: int, workers: int
) -> int:
    ranges = parts(size, part_bytes)

    def fetch(span: tuple[int, int]) -> None:
        start, end = span
        body = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end}")["Body"]
        offset = start
        while chunk := body.read(1024 * 1024):
            offset += os.pwrite(fd, chunk, offset)
        if offset != end + 1:
            raise OSError(f"s3://{bucket}/{key}: range {start}-{end} ended at byte {offset}")

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(ranges)))) as pool:
        list(pool.map(fetch, ranges))  # list(): re-raise the first failure
    return len(ranges)


def fetch_model(
    s3: Any,
    bucket: str,
    key: str,
    *,
    env: Mapping[str, str],
    tmp_dir: Path = Path("/tmp"),
    memfd: Callable[[], str | None] = memfd_available,
) -> Loaded:
    """Fetch s3://bucket/key into a memfd (or /tmp when memfd is off or unavailable).

    env: MODEL_LOADER (auto | memfd | tmp; default auto), MODEL_PART_MB (default 16),
    MODEL_DOWNLOAD_THREADS (default 4).
    """
    mode = env.get("MODEL_LOADER", "auto").strip().lower() or "auto"
    if mode not in ("auto", "memfd", "tmp"):
        raise ValueError(f"MODEL_LOADER must be auto, memfd or tmp, got {mode!r}")
    part_bytes = int(float(env.get("MODEL_PART_MB", "16")) * 1024 * 1024) or DEFAULT_PART_BYTES
    workers = int(env.get("MODEL_DOWNLOAD_THREADS", str(DEFAULT_WORKERS)))
    size = int(s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
    why_not = memfd() if mode != "tmp" else "MODEL_LOADER=tmp"
    if why_not is not None and mode == "memfd":
        raise OSError(f"MODEL_LOADER=memfd but memfd is not available: {why_not}")
    t0 = time.perf_counter()
    if why_not is None:
        fd = _memfd_create(os.path.basename(key))
        try:
            os.ftruncate(fd, size)  # reserve the size up front: fails early when memory is short
            n = _download(s3, bucket, key, fd, size, part_bytes, workers)
        except BaseException:
            os.close(fd)
            raise
        ms = (time.perf_counter() - t0) * 1000
        return Loaded("memfd", f"/proc/self/fd/{fd}", size, n, ms, None, fd)
    target = tmp_dir / "model" / os.path.basename(key)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    fd = os.open(partial, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    try:
        os.ftruncate(fd, size)
        n = _download(s3, bucket, key, fd, size, part_bytes, workers)
    except BaseException:
        os.close(fd)
        partial.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(partial, target)
    ms = (time.perf_counter() - t0) * 1000
    return Loaded("tmp", str(target), size, n, ms, why_not)


def tmp_usage(tmp_dir: Path = Path("/tmp"), show: int = 20) -> dict[str, Any]:
    """What /tmp holds now (files, bytes, the first `show` paths): proof that a memfd load
    left it empty. Files that vanish while it looks are skipped, and so are other file
    systems mounted inside /tmp (a local sandbox binds the code back in when the project
    itself lives under the host's /tmp): they are not /tmp's storage."""
    sizes: dict[str, int] = {}
    try:
        device = os.stat(tmp_dir).st_dev
    except OSError:
        device = None

    def own(path: str) -> bool:
        try:
            return os.stat(path).st_dev == device
        except OSError:
            return False

    for root, dirs, files in os.walk(tmp_dir):  # os.walk skips folders it cannot read
        dirs[:] = [d for d in dirs if d != "lost+found" and own(os.path.join(root, d))]
        for name in files:
            path = os.path.join(root, name)
            try:
                sizes[os.path.relpath(path, tmp_dir)] = os.lstat(path).st_size
            except OSError:
                continue
    names = sorted(sizes)
    return {"files": len(names), "bytes": sum(sizes.values()), "entries": names[:show]}
