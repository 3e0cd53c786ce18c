"""Build the tiny text-to-image model: a Stable-Diffusion-shaped pipeline with RANDOM weights.

No small Stable Diffusion weights can be had offline (no model hub; none ship in a PyPI
package), so the three parts are constructed from config with diffusers / transformers, their
weights drawn from a fixed seed: a CLIP text encoder (2 layers, width 32), a UNet2DCondition
(two levels, 32/64 channels, cross-attention at the lower level) and an AutoencoderKL decoder
(four levels, 8x upsampling, like SD's). The images mean nothing; the pipeline exercises the
serving path and how its cost grows with pixels x steps.

Outputs in ``--out``:
  text_encoder.onnx  input_ids int64 [1, 77] -> last_hidden_state float32 [1, 77, 32]
  unet.onnx          sample [B, 4, h, w], timestep float32 [B], encoder_hidden_states
                     [B, 77, 32] -> noise prediction [B, 4, h, w] (h, w even; B, h, w dynamic)
  vae_decoder.onnx   latent [1, 4, h, w] -> image [1, 3, 8h, 8w] in [-1, 1]
  pipeline.json      tokenizer, scheduler and latent geometry the handler needs
  metrics.json       parameters, file sizes, ONNX-vs-torch differences, and the whole ONNX +
                     numpy pipeline against diffusers' StableDiffusionPipeline on the same inputs

torch, diffusers, transformers and onnx are build-time dependencies only
(build-requirements.txt); the handler needs onnxruntime, numpy and pillow.

Usage: python build_model.py --out DIR
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "src"))

from imagegen import pipeline as onnx_pipeline  # noqa: E402
from imagegen.scheduler import DDIMScheduler as NumpyDDIM  # noqa: E402
from imagegen.tokenizer import HashTokenizer  # noqa: E402

Progress = Callable[[str, float], None]

SEED = 20251122
OPSET = 17
TOKENIZER = HashTokenizer(vocab_size=1000, max_length=77)
SCHEDULER = NumpyDDIM()
VAE_SCALING_FACTOR = 0.18215
LATENT_CHANNELS = 4

TEXT_ENCODER_CONFIG: dict[str, Any] = {
    "vocab_size": TOKENIZER.vocab_size,
    "max_position_embeddings": TOKENIZER.max_length,
    "hidden_size": 32,
    "intermediate_size": 37,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "projection_dim": 32,
    "layer_norm_eps": 1e-5,
    "bos_token_id": TOKENIZER.bos_id,
    "pad_token_id": TOKENIZER.pad_id,
    "eos_token_id": TOKENIZER.eos_id,
}
UNET_CONFIG: dict[str, Any] = {
    "sample_size": 32,
    "in_channels": LATENT_CHANNELS,
    "out_channels": LATENT_CHANNELS,
    "layers_per_block": 2,
    "block_out_channels": (32, 64),
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
    "cross_attention_dim": 32,
    "attention_head_dim": 8,
}
VAE_CONFIG: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": LATENT_CHANNELS,
    "block_out_channels": (16, 32, 32, 32),
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "layers_per_block": 1,
    "norm_num_groups": 8,
    "sample_size": 256,
    "scaling_factor": VAE_SCALING_FACTOR,
}
# Random weights make noise predictions far larger than a trained UNet's (unit variance):
# the UNet's last convolution is scaled so its output has about unit variance at build time.
UNET_OUTPUT_STD = 1.0

REFERENCE = {"prompt": "a lighthouse on a cliff at dusk", "size": 64, "steps": 4, "seed": 7,
             "guidance_scale": 7.5}  # fmt: skip


# --------------------------------------------------------------------------- models
def make_models() -> tuple[CLIPTextModel, UNet2DConditionModel, AutoencoderKL]:
    torch.manual_seed(SEED)
    text_encoder = CLIPTextModel(CLIPTextConfig(**TEXT_ENCODER_CONFIG)).eval()
    torch.manual_seed(SEED + 1)
    unet = UNet2DConditionModel(**UNET_CONFIG).eval()
    torch.manual_seed(SEED + 2)
    vae = AutoencoderKL(**VAE_CONFIG).eval()
    return text_encoder, unet, vae


@torch.no_grad()
def normalise_unet_output(unet: UNet2DConditionModel, text: torch.Tensor) -> float:
    """Scale conv_out so the UNet predicts noise of about UNET_OUTPUT_STD; returns the scale."""
    generator = torch.Generator().manual_seed(SEED + 3)
    sample = torch.randn((2, LATENT_CHANNELS, 16, 16), generator=generator)
    t = torch.tensor([500.0, 900.0])
    std = float(unet(sample, t, encoder_hidden_states=text.expand(2, -1, -1)).sample.std())
    scale = UNET_OUTPUT_STD / std
    unet.conv_out.weight.mul_(scale)
    unet.conv_out.bias.mul_(scale)
    return scale


class TextEncoder(torch.nn.Module):
    def __init__(self, model: CLIPTextModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids).last_hidden_state


class Unet(torch.nn.Module):
    def __init__(self, model: UNet2DConditionModel) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, sample: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor
    ) -> torch.Tensor:
        return self.model(sample, timestep, encoder_hidden_states, return_dict=False)[0]


class VaeDecoder(torch.nn.Module):
    def __init__(self, model: AutoencoderKL) -> None:
        super().__init__()
        self.model = model

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.model.decode(latent, return_dict=False)[0]


# --------------------------------------------------------------------------- export
def export(
    module: torch.nn.Module,
    args: tuple[torch.Tensor, ...],
    path: Path,
    inputs: list[str],
    output: str,
    dynamic_axes: dict[str, dict[int, str]],
) -> float:
    """Export to ONNX; return the max |difference| between torch and ONNX Runtime."""
    with warnings.catch_warnings():
        # torch >= 2.9 defaults to the torch.export-based exporter, which needs onnxscript;
        # the TorchScript exporter handles these models and warns that it is legacy.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            args,
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=inputs,
            output_names=[output],
            dynamic_axes=dynamic_axes,
            do_constant_folding=True,
        )
    onnx.checker.check_model(str(path))
    session = onnx_pipeline._session(path, threads=2)
    with torch.no_grad():
        expected = module(*args).numpy()
    got = session.run(None, {name: a.numpy() for name, a in zip(inputs, args, strict=True)})[0]
    return float(np.abs(expected - got).max())


def export_all(
    text_encoder: CLIPTextModel, unet: UNet2DConditionModel, vae: AutoencoderKL, out: Path
) -> dict[str, float]:
    ids = torch.from_numpy(TOKENIZER.encode(REFERENCE["prompt"]))
    hidden = TEXT_ENCODER_CONFIG["hidden_size"]
    generator = torch.Generator().manual_seed(SEED + 4)
    # export at a size other than the checks' below, so the dynamic axes are really dynamic
    sample = torch.randn((2, LATENT_CHANNELS, 12, 10), generator=generator)
    context = torch.randn((2, TOKENIZER.max_length, hidden), generator=generator)
    latent = torch.randn((1, LATENT_CHANNELS, 6, 10), generator=generator)
    return {
        "text_encoder": export(
            TextEncoder(text_encoder), (ids,), out / onnx_pipeline.TEXT_ENCODER_FILE,
            ["input_ids"], "last_hidden_state", {},
        ),
        "unet": export(
            Unet(unet), (sample, torch.tensor([981.0, 981.0]), context),
            out / onnx_pipeline.UNET_FILE, ["sample", "timestep", "encoder_hidden_states"],
            "noise_pred",
            {"sample": {0: "batch", 2: "height", 3: "width"}, "timestep": {0: "batch"},
             "encoder_hidden_states": {0: "batch"}, "noise_pred": {0: "batch", 2: "height",
                                                                   3: "width"}},
        ),
        "vae_decoder": export(
            VaeDecoder(vae), (latent,), out / onnx_pipeline.VAE_DECODER_FILE, ["latent"], "image",
            {"latent": {2: "height", 3: "width"}, "image": {2: "height", 3: "width"}},
        ),
    }  # fmt: skip


def pipeline_config() -> dict[str, Any]:
    return {
        "kind": "tiny latent diffusion, random weights (not a trained model)",
        "tokenizer": TOKENIZER.as_config(),
        "scheduler": SCHEDULER.as_config(),
        "latent_channels": LATENT_CHANNELS,
        "vae_scale_factor": 2 ** (len(VAE_CONFIG["block_out_channels"]) - 1),
        "unet_latent_multiple": 2 ** (len(UNET_CONFIG["block_out_channels"]) - 1),
        "vae_scaling_factor": VAE_SCALING_FACTOR,
        "seed": SEED,
    }


# --------------------------------------------------------------------------- reference check
@torch.no_grad()
def compare_with_diffusers(
    text_encoder: CLIPTextModel, unet: UNet2DConditionModel, vae: AutoencoderKL, out: Path
) -> dict[str, Any]:
    """Run diffusers' StableDiffusionPipeline (DDIM) and the ONNX + numpy pipeline on the same
    text embeddings and initial latents; return the largest pixel difference."""
    scheduler = DDIMScheduler(
        num_train_timesteps=SCHEDULER.num_train_timesteps, beta_start=SCHEDULER.beta_start,
        beta_end=SCHEDULER.beta_end, beta_schedule="scaled_linear", clip_sample=False,
        set_alpha_to_one=False, steps_offset=SCHEDULER.steps_offset,
        timestep_spacing="leading", prediction_type="epsilon",
    )  # fmt: skip
    reference = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=None, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip
    reference.set_progress_bar_config(disable=True)
    ours = onnx_pipeline.Pipeline(out, threads=2)
    size, steps, seed = REFERENCE["size"], REFERENCE["steps"], REFERENCE["seed"]
    guidance = float(REFERENCE["guidance_scale"])
    latents = ours.initial_latents(size, size, seed)
    prompt_ids = torch.from_numpy(TOKENIZER.encode(str(REFERENCE["prompt"])))
    empty_ids = torch.from_numpy(TOKENIZER.encode(""))
    expected = reference(
        prompt_embeds=text_encoder(input_ids=prompt_ids).last_hidden_state,
        negative_prompt_embeds=text_encoder(input_ids=empty_ids).last_hidden_state,
        latents=torch.from_numpy(latents), height=size, width=size, num_inference_steps=steps,
        guidance_scale=guidance, output_type="np",
    ).images[0]  # fmt: skip
    got = ours.generate(str(REFERENCE["prompt"]), size, size, steps, guidance, seed, latents)
    expected_u8 = (expected * 255).round().astype(np.uint8)
    diff = np.abs(expected_u8.astype(np.int16) - got.pixels.astype(np.int16))
    return {
        **REFERENCE,
        "max_abs_pixel_diff": int(diff.max()),
        "pixels_differing": int((diff > 0).sum()),
        "pixel_std": float(got.pixels.std()),
    }


# --------------------------------------------------------------------------- build
def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _versions() -> dict[str, str]:
    names = ["torch", "diffusers", "transformers", "onnx", "onnxruntime", "numpy", "pillow"]
    return {name: importlib.metadata.version(name) for name in names}


def build(out_dir: Path, progress: Progress | None = None) -> dict[str, Any]:
    """Build all artifacts into ``out_dir``; return the metrics (also in metrics.json)."""
    report: Progress = progress or (lambda stage, fraction: None)
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)

    report("construct models from config (random weights)", 0.0)
    text_encoder, unet, vae = make_models()
    with torch.no_grad():
        ids = torch.from_numpy(TOKENIZER.encode(str(REFERENCE["prompt"])))
        text = text_encoder(input_ids=ids).last_hidden_state
    unet_scale = normalise_unet_output(unet, text)

    report("export to onnx", 0.2)
    (out / onnx_pipeline.PIPELINE_FILE).write_text(
        json.dumps(pipeline_config(), indent=2) + "\n", encoding="utf-8"
    )
    export_diffs = export_all(text_encoder, unet, vae, out)

    report("compare with diffusers' StableDiffusionPipeline", 0.7)
    reference = compare_with_diffusers(text_encoder, unet, vae, out)

    files = [*onnx_pipeline.MODEL_FILES]
    metrics: dict[str, Any] = {
        "model": "tiny latent diffusion (Stable Diffusion layout), RANDOM weights",
        "parameters": {
            "text_encoder": _params(text_encoder),
            "unet": _params(unet),
            "vae_decoder": _params(vae.decoder) + _params(vae.post_quant_conv),
        },
        "configs": {"text_encoder": TEXT_ENCODER_CONFIG, "unet": UNET_CONFIG, "vae": VAE_CONFIG},
        "unet_conv_out_scale": unet_scale,
        "opset": OPSET,
        "export_max_abs_diff": export_diffs,
        "diffusers_reference": reference,
        "sizes_bytes": {name: (out / name).stat().st_size for name in files},
        "sha256": {name: _sha256(out / name) for name in files},
        "versions": _versions(),
        "build_seconds": round(time.perf_counter() - started, 2),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    report("done", 1.0)
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    args = parser.parse_args(argv)

    def show(stage: str, fraction: float) -> None:
        print(f"[{fraction:4.0%}] {stage}", file=sys.stderr, flush=True)

    metrics = build(args.out, show)
    print(json.dumps(metrics, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
