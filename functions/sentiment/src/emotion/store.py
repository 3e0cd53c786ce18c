"""Where the model artifacts come from (a local directory or S3) and how many threads to use."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ARTIFACTS: tuple[str, ...] = ("model.int8.onnx", "tokenizer.json", "labels.json")
DEFAULT_KEY_PREFIX = "sentiment/"
DEFAULT_CACHE_DIR = "/tmp/model"


def download_artifacts(client: Any, bucket: str, prefix: str, dest: Path) -> list[str]:
    """Download the missing artifacts from s3://bucket/prefix into dest; return their names.

    Files already in ``dest`` are reused (a warm environment, or a second INIT after a failed
    one). Each file is written under a temporary name first, so a download cut short by a
    timeout or a full /tmp never leaves a truncated artifact that a later INIT would trust.
    """
    dest.mkdir(parents=True, exist_ok=True)
    fetched: list[str] = []
    for name in ARTIFACTS:
        target = dest / name
        if target.is_file():
            continue
        partial = dest / f".{name}.partial"
        client.download_file(bucket, prefix + name, str(partial))
        os.replace(partial, target)
        fetched.append(name)
    return fetched


def _boto3_s3() -> Any:
    import boto3  # provided by the Lambda runtime; honours AWS_ENDPOINT_URL

    return boto3.client("s3")


def resolve_model_dir(env: Mapping[str, str], s3_client: Callable[[], Any] = _boto3_s3) -> Path:
    """The directory holding ARTIFACTS: MODEL_PATH if set, else an S3 download cache."""
    local = env.get("MODEL_PATH")
    if local:
        path = Path(local)
        missing = [name for name in ARTIFACTS if not (path / name).is_file()]
        if missing:
            raise FileNotFoundError(f"MODEL_PATH={local} lacks {', '.join(missing)}")
        return path
    bucket = env.get("MODEL_BUCKET")
    if not bucket:
        raise RuntimeError("set MODEL_PATH (a local directory) or MODEL_BUCKET (an S3 bucket)")
    dest = Path(env.get("MODEL_CACHE_DIR") or DEFAULT_CACHE_DIR)
    if any(not (dest / name).is_file() for name in ARTIFACTS):
        prefix = env.get("MODEL_KEY_PREFIX", DEFAULT_KEY_PREFIX)
        download_artifacts(s3_client(), bucket, prefix, dest)
    return dest


def thread_count(env: Mapping[str, str]) -> int:
    """onnxruntime intra-op threads: the CPUs we may run on, capped at ceil(SANDBOX_VCPUS).

    SANDBOX_VCPUS is the environment's CPU share (MemorySize / 1769 MB on Lambda), default 1:
    more threads than the CPU quota only adds contention under the cgroup's throttling.
    """
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count() or 1
    raw = env.get("SANDBOX_VCPUS", "").strip()
    try:
        vcpus = float(raw) if raw else 1.0
    except ValueError as exc:
        raise ValueError(f"SANDBOX_VCPUS must be a number, got {raw!r}") from exc
    return max(1, min(available, math.ceil(vcpus)))
