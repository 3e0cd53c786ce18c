"""The text-to-image pipeline: three ONNX models and a numpy sampling loop.

Stable Diffusion's shape, scaled down: the prompt's token ids go through a CLIP text encoder;
Gaussian latents of (4, height/8, width/8) are denoised by a UNet conditioned on the text
(classifier-free guidance: the UNet sees the prompt and the empty prompt in one batch of 2);
DDIM (scheduler.py) turns each noise prediction into the next latents; the VAE decoder turns
the final latents into pixels. build_model.py writes the models and ``pipeline.json``.
"""

from __future__ import annotations

import io
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from PIL import Image

from imagegen.scheduler import DDIMScheduler
from imagegen.tokenizer import HashTokenizer

PIPELINE_FILE = "pipeline.json"
TEXT_ENCODER_FILE = "text_encoder.onnx"
UNET_FILE = "unet.onnx"
VAE_DECODER_FILE = "vae_decoder.onnx"
MODEL_FILES = (TEXT_ENCODER_FILE, UNET_FILE, VAE_DECODER_FILE, PIPELINE_FILE)


def thread_count(env: Mapping[str, str]) -> int:
    """ONNX Runtime intra-op threads: SANDBOX_VCPUS rounded up, else 1."""
    raw = env.get("SANDBOX_VCPUS", "").strip()
    try:
        vcpus = float(raw) if raw else 1.0
    except ValueError:
        return 1
    if not math.isfinite(vcpus) or vcpus <= 0:
        return 1
    return max(1, math.ceil(vcpus))


def _session(path: Path, threads: int) -> ort.InferenceSession:
    if not path.is_file():
        raise RuntimeError(f"model artifact not found: {path}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Spinning worker threads burn a throttled environment's CPU quota without doing work.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def to_png(pixels: np.ndarray) -> bytes:
    """uint8 (height, width, 3) -> PNG bytes."""
    buf = io.BytesIO()
    Image.fromarray(pixels, mode="RGB").save(buf, format="PNG")
    return buf.getvalue()


@dataclass(frozen=True)
class Generated:
    pixels: np.ndarray  # uint8 (height, width, 3)
    timings_ms: dict[str, float]


class Pipeline:
    """The ONNX sessions and configuration of one model directory; load once per environment."""

    def __init__(self, model_dir: Path, threads: int = 1) -> None:
        config_path = model_dir / PIPELINE_FILE
        if not config_path.is_file():
            raise RuntimeError(f"model artifact not found: {config_path}")
        config: dict[str, Any] = json.loads(config_path.read_text(encoding="utf-8"))
        self.config = config
        self.tokenizer = HashTokenizer.from_config(config["tokenizer"])
        self.scheduler = DDIMScheduler.from_config(config["scheduler"])
        self.latent_channels = int(config["latent_channels"])
        self.vae_scale_factor = int(config["vae_scale_factor"])
        self.latent_multiple = int(config["unet_latent_multiple"])
        self.scaling_factor = float(config["vae_scaling_factor"])
        self.threads = threads
        self.text_encoder = _session(model_dir / TEXT_ENCODER_FILE, threads)
        self.unet = _session(model_dir / UNET_FILE, threads)
        self.vae_decoder = _session(model_dir / VAE_DECODER_FILE, threads)
        self._empty_prompt: np.ndarray | None = None

    # ------------------------------------------------------------------ stages
    def encode_prompt(self, prompt: str) -> np.ndarray:
        """(1, tokens, hidden) float32: the text encoder's last hidden state."""
        ids = self.tokenizer.encode(prompt)
        return self.text_encoder.run(None, {"input_ids": ids})[0]

    def empty_prompt(self) -> np.ndarray:
        """The unconditional embedding for guidance: the same for every request, so cached."""
        if self._empty_prompt is None:
            self._empty_prompt = self.encode_prompt("")
        return self._empty_prompt

    def latent_shape(self, width: int, height: int) -> tuple[int, int, int, int]:
        """Latents cover the image rounded up to what the UNet's downsampling needs; the
        decoded image is cropped back to width x height."""
        step = self.vae_scale_factor * self.latent_multiple
        return (
            1,
            self.latent_channels,
            math.ceil(height / step) * self.latent_multiple,
            math.ceil(width / step) * self.latent_multiple,
        )

    def initial_latents(self, width: int, height: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return rng.standard_normal(self.latent_shape(width, height), dtype=np.float32)

    def denoise(
        self, latents: np.ndarray, text: np.ndarray, steps: int, guidance_scale: float
    ) -> np.ndarray:
        guided = guidance_scale > 1.0
        context = np.concatenate([self.empty_prompt(), text]) if guided else text
        batch = context.shape[0]
        for t in self.scheduler.timesteps(steps):
            sample = np.concatenate([latents] * batch) if guided else latents
            timestep = np.full((batch,), t, dtype=np.float32)
            eps = self.unet.run(
                None, {"sample": sample, "timestep": timestep, "encoder_hidden_states": context}
            )[0]
            if guided:
                uncond, cond = eps[:1], eps[1:]
                eps = uncond + np.float32(guidance_scale) * (cond - uncond)
            latents = self.scheduler.step(eps, int(t), latents, steps)
        return latents

    def decode(self, latents: np.ndarray) -> np.ndarray:
        """Latents -> float32 (1, 3, H, W) in [0, 1]."""
        image = self.vae_decoder.run(None, {"latent": latents / np.float32(self.scaling_factor)})[0]
        return np.clip(image / 2 + 0.5, 0.0, 1.0)

    # ------------------------------------------------------------------ whole run
    def generate(
        self,
        prompt: str,
        width: int,
        height: int,
        steps: int,
        guidance_scale: float,
        seed: int,
        latents: np.ndarray | None = None,
    ) -> Generated:
        t0 = time.perf_counter()
        text = self.encode_prompt(prompt)
        t1 = time.perf_counter()
        if latents is None:
            latents = self.initial_latents(width, height, seed)
        latents = self.denoise(latents, text, steps, guidance_scale)
        t2 = time.perf_counter()
        image = self.decode(latents)[0, :, :height, :width]
        pixels = np.ascontiguousarray((image.transpose(1, 2, 0) * 255).round().astype(np.uint8))
        t3 = time.perf_counter()
        timings = {
            "text_encoder": (t1 - t0) * 1000,
            "denoise": (t2 - t1) * 1000,
            "vae_decode": (t3 - t2) * 1000,
        }
        return Generated(pixels, {k: round(v, 2) for k, v in timings.items()})
