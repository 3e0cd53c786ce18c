"""The emotion classifier at run time: a tokenizer and an onnxruntime session, numpy only."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

MAX_TOKENS = 128
INPUT_NAMES: tuple[str, ...] = ("input_ids", "attention_mask", "token_type_ids")


class EmotionClassifier:
    def __init__(self, session: ort.InferenceSession, tokenizer: Tokenizer, labels: list[str]):
        self.session = session
        self.tokenizer = tokenizer
        self.labels = labels

    @classmethod
    def from_dir(
        cls, model_dir: Path, threads: int = 1, model_file: str = "model.int8.onnx"
    ) -> EmotionClassifier:
        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        # A tokenizer.json with fixed padding would cost MAX_TOKENS tokens per request;
        # batches are padded to their longest member in encode() instead.
        tokenizer.no_padding()
        tokenizer.enable_truncation(MAX_TOKENS)
        labels = json.loads((model_dir / "labels.json").read_text())
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(
            str(model_dir / model_file), options, providers=["CPUExecutionProvider"]
        )
        (output,) = session.get_outputs()
        if output.shape[-1] != len(labels):
            raise ValueError(
                f"{model_file} gives {output.shape[-1]} scores, labels.json has {len(labels)}"
            )
        return cls(session, tokenizer, labels)

    def encode(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Token ids, attention mask and type ids, int64, padded to the longest text."""
        encodings = self.tokenizer.encode_batch(list(texts))
        width = max(len(e.ids) for e in encodings)
        batch = {name: np.zeros((len(texts), width), dtype=np.int64) for name in INPUT_NAMES}
        for row, e in enumerate(encodings):
            n = len(e.ids)
            batch["input_ids"][row, :n] = e.ids
            batch["attention_mask"][row, :n] = e.attention_mask
            batch["token_type_ids"][row, :n] = e.type_ids
        return batch

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        (logits,) = self.session.run(["logits"], self.encode(texts))
        logits = logits.astype(np.float64)
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)

    def classify(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """One ``{"label": ..., "scores": {label: probability}}`` per text."""
        return [
            {
                "label": self.labels[int(row.argmax())],
                "scores": {
                    label: round(float(p), 4) for label, p in zip(self.labels, row, strict=True)
                },
            }
            for row in self.probabilities(texts)
        ]
