"""S3 -> memfd loading (parallel ranged GETs) and the /tmp fallback, against moto's S3."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from smol.loader import fetch_model, memfd_available, parts, tmp_usage

BUCKET, KEY = "models", "llm/model.gguf"
BLOB = bytes(range(256)) * 4099  # 1,049,344 bytes: not a multiple of the part size


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import boto3
    from moto import mock_aws

    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.put_object(Bucket=BUCKET, Key=KEY, Body=BLOB)
        yield client


class CountingS3:
    """Records the Range of every GET."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.ranges = inner, []

    def head_object(self, **kw: Any) -> Any:
        return self.inner.head_object(**kw)

    def get_object(self, **kw: Any) -> Any:
        self.ranges.append(kw["Range"])
        return self.inner.get_object(**kw)


def test_parts_cover_the_object_exactly() -> None:
    assert parts(10, 4) == [(0, 3), (4, 7), (8, 9)]
    assert parts(8, 4) == [(0, 3), (4, 7)]
    assert parts(0, 4) == []
    with pytest.raises(ValueError, match="positive"):
        parts(10, 0)


def test_memfd_load_uses_ranged_gets_and_leaves_tmp_empty(s3: Any, tmp_path: Path) -> None:
    assert memfd_available() is None  # Linux: the case the function is built for
    client = CountingS3(s3)
    env = {"MODEL_PART_MB": str(256 / 1024), "MODEL_DOWNLOAD_THREADS": "3"}  # 256 KiB parts
    loaded = fetch_model(client, BUCKET, KEY, env=env, tmp_dir=tmp_path)
    try:
        assert loaded.source == "memfd" and loaded.memfd_error is None
        assert loaded.path == f"/proc/self/fd/{loaded.fd}"
        assert (loaded.bytes, loaded.parts) == (len(BLOB), 5)
        assert sorted(client.ranges) == sorted(
            f"bytes={a}-{b}" for a, b in parts(len(BLOB), 256 * 1024)
        )
        assert Path(loaded.path).read_bytes() == BLOB  # what llama.cpp opens by path
        assert os.readlink(loaded.path).startswith("/memfd:")
        assert tmp_usage(tmp_path) == {"files": 0, "bytes": 0, "entries": []}
        assert "fd" not in loaded.to_json()
    finally:
        assert loaded.fd is not None
        os.close(loaded.fd)


def test_without_memfd_the_model_goes_to_tmp(s3: Any, tmp_path: Path) -> None:
    loaded = fetch_model(s3, BUCKET, KEY, env={}, tmp_dir=tmp_path, memfd=lambda: "ENOSYS")
    assert (loaded.source, loaded.memfd_error) == ("tmp", "ENOSYS")
    assert loaded.path == str(tmp_path / "model" / "model.gguf")
    assert Path(loaded.path).read_bytes() == BLOB
    assert tmp_usage(tmp_path) == {"files": 1, "bytes": len(BLOB), "entries": ["model/model.gguf"]}


def test_model_loader_tmp_forces_the_fallback(s3: Any, tmp_path: Path) -> None:
    loaded = fetch_model(s3, BUCKET, KEY, env={"MODEL_LOADER": "tmp"}, tmp_dir=tmp_path)
    assert (loaded.source, loaded.memfd_error) == ("tmp", "MODEL_LOADER=tmp")


def test_model_loader_memfd_refuses_to_fall_back(s3: Any, tmp_path: Path) -> None:
    with pytest.raises(OSError, match="memfd is not available: ENOSYS"):
        fetch_model(
            s3, BUCKET, KEY, env={"MODEL_LOADER": "memfd"}, tmp_dir=tmp_path, memfd=lambda: "ENOSYS"
        )
    assert tmp_usage(tmp_path)["files"] == 0


def test_bad_loader_mode(s3: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="MODEL_LOADER must be auto, memfd or tmp"):
        fetch_model(s3, BUCKET, KEY, env={"MODEL_LOADER": "disk"}, tmp_dir=tmp_path)


def test_a_failed_download_leaves_no_partial_file(s3: Any, tmp_path: Path) -> None:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError):
        fetch_model(s3, BUCKET, "llm/missing.gguf", env={"MODEL_LOADER": "tmp"}, tmp_dir=tmp_path)
    assert tmp_usage(tmp_path)["files"] == 0


class BreaksMidway(CountingS3):
    """The third ranged GET fails, as a dropped connection would."""

    def get_object(self, **kw: Any) -> Any:
        if len(self.ranges) == 2:
            self.ranges.append(kw["Range"])
            raise ConnectionError("connection reset")
        return super().get_object(**kw)


@pytest.mark.parametrize("mode", ["memfd", "tmp"])
def test_a_failed_part_fails_init_and_leaves_nothing(s3: Any, tmp_path: Path, mode: str) -> None:
    env = {"MODEL_LOADER": mode, "MODEL_PART_MB": str(256 / 1024), "MODEL_DOWNLOAD_THREADS": "1"}
    fds_before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(ConnectionError, match="connection reset"):
        fetch_model(BreaksMidway(s3), BUCKET, KEY, env=env, tmp_dir=tmp_path)
    assert tmp_usage(tmp_path)["files"] == 0
    assert set(os.listdir("/proc/self/fd")) <= fds_before  # the memfd was closed
