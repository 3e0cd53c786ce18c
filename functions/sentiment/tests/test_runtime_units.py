"""Fast unit tests of the run-time helpers (no model needed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from emotion.store import ARTIFACTS, download_artifacts, resolve_model_dir, thread_count


class FakeS3:
    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail_on = fail_on

    def download_file(self, bucket: str, key: str, filename: str) -> None:
        self.calls.append((bucket, key))
        Path(filename).write_text("partial" if key.endswith(self.fail_on or "\0") else key)
        if self.fail_on and key.endswith(self.fail_on):
            raise ConnectionError("connection reset")


def test_download_fetches_each_artifact_once(tmp_path: Path) -> None:
    client = FakeS3()
    assert download_artifacts(client, "bucket", "models/sentiment/", tmp_path) == list(ARTIFACTS)
    assert client.calls == [("bucket", f"models/sentiment/{name}") for name in ARTIFACTS]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(ARTIFACTS)
    assert download_artifacts(client, "bucket", "models/sentiment/", tmp_path) == []
    assert len(client.calls) == len(ARTIFACTS)


def test_interrupted_download_leaves_no_artifact(tmp_path: Path) -> None:
    with pytest.raises(ConnectionError):
        download_artifacts(FakeS3(fail_on="tokenizer.json"), "b", "p/", tmp_path)
    assert not (tmp_path / "tokenizer.json").exists()
    client = FakeS3()
    download_artifacts(client, "b", "p/", tmp_path)  # the retry fetches only what is missing
    assert [key for _, key in client.calls] == ["p/tokenizer.json", "p/labels.json"]
    assert (tmp_path / "tokenizer.json").read_text() == "p/tokenizer.json"


def test_model_path_must_hold_the_artifacts(tmp_path: Path) -> None:
    (tmp_path / "labels.json").write_text("[]")
    with pytest.raises(FileNotFoundError, match=r"lacks model\.int8\.onnx, tokenizer\.json"):
        resolve_model_dir({"MODEL_PATH": str(tmp_path)})


def test_without_model_path_or_bucket_init_fails_clearly() -> None:
    with pytest.raises(RuntimeError, match=r"set MODEL_PATH .* or MODEL_BUCKET"):
        resolve_model_dir({})


def test_s3_artifacts_go_to_the_cache_dir_with_the_default_prefix(tmp_path: Path) -> None:
    client = FakeS3()
    env = {"MODEL_BUCKET": "sandbox-models", "MODEL_CACHE_DIR": str(tmp_path)}
    assert resolve_model_dir(env, lambda: client) == tmp_path
    assert [key for _, key in client.calls] == [f"sentiment/{name}" for name in ARTIFACTS]


@pytest.mark.parametrize(
    ("vcpus", "expected"),
    [(None, 1), ("0.58", 1), ("1", 1), ("1.01", 2), ("5.79", 6), ("", 1)],
)
def test_thread_count_follows_the_cpu_share(vcpus: str | None, expected: int) -> None:
    env = {} if vcpus is None else {"SANDBOX_VCPUS": vcpus}
    assert thread_count(env) == min(expected, len(os.sched_getaffinity(0)))


def test_thread_count_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="SANDBOX_VCPUS must be a number"):
        thread_count({"SANDBOX_VCPUS": "two"})
