"""Each environment's own `/tmp`, of EphemeralStorage size, that really refuses writes past it.

As root the storage is a sparse ext4 image that the launcher loop-mounts on `/tmp` inside the
environment's private mount namespace: no other environment sees it, writes past the size fail
with ENOSPC, and (unlike tmpfs) its pages are not charged to the function's memory, as on
Lambda. The image is sized so that a writer can use EphemeralStorage plus half a MiB.
Without root the storage is a private directory used as TMPDIR, and marked not enforced.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from lambda_sandbox.exceptions import BackendError

__all__ = ["TmpStorage", "loop_mount_available", "prepare_tmp"]

MIB = 1 << 20
_SLACK = MIB // 2
_MKFS = [
    "-q",
    "-F",
    "-m",
    "0",
    "-O",
    "^has_journal,^resize_inode",
    "-i",
    "65536",
    "-E",
    "lazy_itable_init=1",
]


@dataclass(frozen=True)
class TmpStorage:
    enforced: bool
    image: Path | None  # loop-mount this on /tmp in the environment's mount namespace
    directory: Path  # else use this folder (TMPDIR); also holds the image

    def cleanup(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


@cache
def loop_mount_available() -> bool:
    tools = ("mkfs.ext4", "dumpe2fs", "unshare", "mount")
    return all(shutil.which(t) for t in tools) and Path("/dev/loop-control").exists()


def _free_bytes(image: Path) -> int:
    out = subprocess.run(
        ["dumpe2fs", "-h", str(image)], capture_output=True, text=True, check=True
    ).stdout
    blocks = int(re.search(r"^Free blocks:\s+(\d+)", out, re.M).group(1))  # type: ignore[union-attr]
    size = int(re.search(r"^Block size:\s+(\d+)", out, re.M).group(1))  # type: ignore[union-attr]
    return blocks * size


def _mkfs(image: Path, size_bytes: int, owner: tuple[int, int]) -> None:
    with open(image, "wb") as f:
        f.truncate(size_bytes)
    opts = list(_MKFS)
    opts[-1] += f",root_owner={owner[0]}:{owner[1]}"
    subprocess.run(["mkfs.ext4", *opts, str(image)], check=True, capture_output=True)


_CALIBRATION = threading.Lock()
_calibrated: dict[int, int] = {}


def _calibrated_image_bytes(size_mb: int, workdir: Path) -> int:
    """Image size whose ext4 free space is size_mb MiB + slack (found once per size;
    concurrent cold starts wait for the first calibration)."""
    with _CALIBRATION:
        if size_mb not in _calibrated:
            _calibrated[size_mb] = _calibrate(size_mb, workdir / "calibrate.img")
        return _calibrated[size_mb]


def _calibrate(size_mb: int, probe: Path) -> int:
    # ext4 keeps min(2 %, 4,096 clusters) of the blocks back for delayed allocation: what a
    # writer can use is the free space minus that reserve.
    guess = size_mb * MIB + size_mb * MIB // 40 + 8 * MIB
    try:
        for _ in range(6):
            _mkfs(probe, guess, (0, 0))
            usable = _free_bytes(probe) - min(guess // 50, 4096 * 4096)
            target = size_mb * MIB + _SLACK
            if target <= usable < target + MIB:
                return guess
            guess += target - usable + 64 * 1024
        return guess
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def prepare_tmp(workdir: Path, size_mb: int, owner: tuple[int, int], use_loop: bool) -> TmpStorage:
    """Make an environment's /tmp storage under `workdir` (a folder of its own)."""
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        if not use_loop:
            tmp = workdir / "tmp"
            tmp.mkdir(exist_ok=True)
            with contextlib.suppress(PermissionError):
                shutil.chown(tmp, owner[0], owner[1])
            return TmpStorage(enforced=False, image=None, directory=workdir)
        image = workdir / "tmp.ext4"
        _mkfs(image, _calibrated_image_bytes(size_mb, workdir), owner)
        return TmpStorage(enforced=True, image=image, directory=workdir)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise BackendError(f"cannot prepare /tmp storage in {workdir}: {exc}") from exc
