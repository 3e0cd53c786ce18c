"""Each environment's /tmp image: sized exactly, and safe to prepare from many cold starts."""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lambda_sandbox.environments import tmp_storage

pytestmark = pytest.mark.root
MIB = 1 << 20


def test_concurrent_cold_starts_share_one_calibration(tmp_path: Path) -> None:
    tmp_storage._calibrated.pop(700, None)

    def prepare(i: int) -> tmp_storage.TmpStorage:
        return tmp_storage.prepare_tmp(tmp_path / f"env{i}", 700, (65534, 65534), use_loop=True)

    with ThreadPoolExecutor(6) as pool:
        storages = list(pool.map(prepare, range(6)))
    for storage in storages:
        assert storage.enforced and storage.image is not None
        free = tmp_storage._free_bytes(storage.image)
        assert free - min(os.path.getsize(storage.image) // 50, 16 * MIB) >= 700 * MIB, free
    out = subprocess.run(["dumpe2fs", "-h", str(storages[0].image)], capture_output=True, text=True)
    assert "Free blocks" in out.stdout
    assert os.stat(storages[0].image).st_blocks * 512 < 64 * MIB, "images are sparse"
