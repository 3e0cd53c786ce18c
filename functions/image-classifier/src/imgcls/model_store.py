"""Where the model comes from (a local directory or S3) and how ONNX Runtime runs it."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

DEFAULT_MODEL_FILE = "model.int8.onnx"
DEFAULT_KEY_PREFIX = "image-classifier/"
LABELS_FILE = "labels.json"
DOWNLOAD_DIR = Path("/tmp/model")


@dataclass(frozen=True)
class Prediction:
    label: str
    index: int
    score: float

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "index": self.index, "score": self.score}


def thread_count(env: Mapping[str, str]) -> int:
    """ONNX Runtime intra-op threads: SANDBOX_VCPUS rounded up, else 1."""
    raw = env.get("SANDBOX_VCPUS", "").strip()
    if not raw:
        return 1
    try:
        vcpus = float(raw)
    except ValueError:
        return 1
    if not math.isfinite(vcpus) or vcpus <= 0:
        return 1
    return max(1, math.ceil(vcpus))


def fetch_from_s3(
    bucket: str, prefix: str, names: list[str], dest: Path, s3_client: Any = None
) -> Path:
    """Download ``prefix + name`` for each name into ``dest`` unless already there.

    Files are written under a temporary name and renamed, so a download that dies half-way
    never leaves a truncated model behind for the next cold start.
    """
    dest.mkdir(parents=True, exist_ok=True)
    missing = [name for name in names if not (dest / name).is_file()]
    if not missing:
        return dest
    if s3_client is None:
        import boto3  # provided by the Lambda runtime; imported only when S3 is used

        s3_client = boto3.client("s3")
    for name in missing:
        fd, tmp_name = tempfile.mkstemp(dir=dest, prefix=f".{name}.")
        os.close(fd)
        try:
            s3_client.download_file(bucket, prefix + name, tmp_name)
            os.replace(tmp_name, dest / name)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
    return dest


def resolve_model_dir(env: Mapping[str, str], s3_client: Any = None) -> tuple[Path, str]:
    """Return (directory holding the model and labels.json, model file name)."""
    model_file = env.get("MODEL_FILE") or DEFAULT_MODEL_FILE
    local = env.get("MODEL_PATH")
    if local:
        return Path(local), model_file
    bucket = env.get("MODEL_BUCKET")
    if not bucket:
        raise RuntimeError(
            "no model configured: set MODEL_PATH to a directory with "
            f"{model_file} and {LABELS_FILE}, or MODEL_BUCKET (+ MODEL_KEY_PREFIX) to fetch "
            "them from S3"
        )
    prefix = env.get("MODEL_KEY_PREFIX", DEFAULT_KEY_PREFIX)
    dest = Path(env.get("MODEL_CACHE_DIR") or DOWNLOAD_DIR)
    fetch_from_s3(bucket, prefix, [model_file, LABELS_FILE], dest, s3_client)
    return dest, model_file


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


class Classifier:
    """An ONNX Runtime session plus the class names of its output."""

    def __init__(self, model_path: Path, labels: list[str], threads: int = 1) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Busy-waiting worker threads burn the CPU quota of a throttled (fractional vCPU)
        # environment without doing work; let them sleep instead.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name
        n_classes = self.session.get_outputs()[0].shape[-1]
        if isinstance(n_classes, int) and n_classes != len(labels):
            raise RuntimeError(
                f"{model_path.name} has {n_classes} outputs but labels has {len(labels)} names"
            )
        self.labels = labels
        self.model_name = model_path.name
        self.threads = threads

    @classmethod
    def from_dir(cls, model_dir: Path, model_file: str, threads: int = 1) -> Classifier:
        model_path = model_dir / model_file
        labels_path = model_dir / LABELS_FILE
        for path in (model_path, labels_path):
            if not path.is_file():
                raise RuntimeError(f"model artifact not found: {path}")
        labels = json.loads(labels_path.read_text(encoding="utf-8"))
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise RuntimeError(f"{labels_path} must be a JSON list of class names")
        return cls(model_path, labels, threads)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: batch})[0]

    def top_k(self, batch: np.ndarray, k: int) -> list[list[Prediction]]:
        """Top-k predictions (softmax probabilities) for each image of a batch."""
        probs = softmax(self.logits(batch).astype(np.float64))
        k = min(k, probs.shape[-1])
        out = []
        for row in probs:
            idx = np.argsort(-row, kind="stable")[:k]
            out.append([Prediction(self.labels[i], int(i), round(float(row[i]), 6)) for i in idx])
        return out
