"""Tiny text-to-image latent diffusion on ONNX Runtime + numpy (no torch at run time)."""
