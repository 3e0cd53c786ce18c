"""DDIM sampling (Song et al. 2020, eta = 0) in numpy, with Stable Diffusion's noise schedule.

It reproduces diffusers' DDIMScheduler configured as SD 1.x ships it: 1,000 training steps,
"scaled_linear" betas from 0.00085 to 0.012, "leading" timestep spacing with steps_offset 1,
set_alpha_to_one False, epsilon prediction, no sample clipping. build_model.py checks the whole
ONNX + numpy pipeline against diffusers' StableDiffusionPipeline with that scheduler.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class DDIMScheduler:
    num_train_timesteps: int = 1000
    beta_start: float = 0.00085
    beta_end: float = 0.012
    steps_offset: int = 1
    alphas_cumprod: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # float32 throughout, as diffusers computes it
        root = np.linspace(
            self.beta_start**0.5, self.beta_end**0.5, self.num_train_timesteps, dtype=np.float32
        )
        alphas = np.float32(1.0) - root * root
        object.__setattr__(self, "alphas_cumprod", np.cumprod(alphas, dtype=np.float32))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DDIMScheduler:
        return cls(
            num_train_timesteps=int(config.get("num_train_timesteps", 1000)),
            beta_start=float(config.get("beta_start", 0.00085)),
            beta_end=float(config.get("beta_end", 0.012)),
            steps_offset=int(config.get("steps_offset", 1)),
        )

    def as_config(self) -> dict[str, Any]:
        return {
            "name": "DDIM",
            "num_train_timesteps": self.num_train_timesteps,
            "beta_start": self.beta_start,
            "beta_end": self.beta_end,
            "beta_schedule": "scaled_linear",
            "timestep_spacing": "leading",
            "steps_offset": self.steps_offset,
            "set_alpha_to_one": False,
            "prediction_type": "epsilon",
        }

    def timesteps(self, steps: int) -> np.ndarray:
        """The timesteps of a ``steps``-step run, from noisiest to cleanest."""
        if not 1 <= steps < self.num_train_timesteps:  # steps_offset pushes the last one up
            raise ValueError(f"steps must be from 1 to {self.num_train_timesteps - 1}, got {steps}")
        ratio = self.num_train_timesteps // steps
        return (np.arange(steps, dtype=np.int64) * ratio)[::-1] + self.steps_offset

    def step(self, eps: np.ndarray, t: int, sample: np.ndarray, steps: int) -> np.ndarray:
        """One deterministic DDIM update x_t -> x_{t - 1000/steps}."""
        prev_t = t - self.num_train_timesteps // steps
        alpha_t = self.alphas_cumprod[t]
        # set_alpha_to_one=False: the last step lands on alphas_cumprod[0], not 1
        alpha_prev = self.alphas_cumprod[prev_t] if prev_t >= 0 else self.alphas_cumprod[0]
        pred_x0 = (sample - np.sqrt(1 - alpha_t) * eps) / np.sqrt(alpha_t)
        return (np.sqrt(alpha_prev) * pred_x0 + np.sqrt(1 - alpha_prev) * eps).astype(np.float32)
