"""Image decoding and ImageNet preprocessing with Pillow + numpy only.

The pipeline is torchvision's classic ImageNet eval transform, written out by hand so that the
Lambda bundle needs neither torch nor torchvision:
resize the shorter side to 256 (bilinear), center crop 224x224, scale to [0, 1], normalise with
the ImageNet mean / std, HWC -> CHW, add a batch axis. Build-time evaluation (build_model.py)
uses this same module, so the numbers in metrics.json are what the handler computes.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps

RESIZE = 256
CROP = 224
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
DEFAULT_MAX_PIXELS = 25_000_000  # 25 megapixels: larger images are rejected before decoding

_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode encoded image bytes (JPEG, PNG, WebP, GIF, BMP, TIFF ...) into an RGB image.

    Raises ValueError with a message meant for the caller when the bytes are not an image,
    the image is truncated, or it has more than ``max_pixels`` pixels. The pixel count is
    checked from the header, before the pixels are decoded.
    """
    if not data:
        raise ValueError("image is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ValueError(f"image is too large: {exc}") from exc
    except (OSError, SyntaxError) as exc:  # UnidentifiedImageError is an OSError
        raise ValueError(
            "input is not a decodable image (expected JPEG, PNG, WebP, GIF, BMP or TIFF bytes)"
        ) from exc

    width, height = img.size
    if width * height > max_pixels:
        raise ValueError(
            f"image is {width}x{height} = {width * height} pixels, over the limit of "
            f"{max_pixels} pixels"
        )
    if width < 1 or height < 1:
        raise ValueError(f"image has no pixels ({width}x{height})")
    # JPEG only: let libjpeg decode at a reduced scale (DCT scaling) while keeping the
    # shorter side >= RESIZE. Large photos then decode several times faster.
    img.draft("RGB", (RESIZE, RESIZE))
    try:
        img.load()
        img = ImageOps.exif_transpose(img)
    except (OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"image data is corrupt or truncated: {exc}") from exc
    return to_rgb(img)


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB; transparent areas are composited onto white."""
    if img.mode == "RGB":
        return img
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in _ALPHA_MODES:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # 16-bit / 32-bit / float grayscale: rescale to 8 bits before conversion.
        arr = np.asarray(img, dtype=np.float32)
        top = float(arr.max()) if arr.size else 0.0
        scaled = arr * (255.0 / top) if top > 0 else arr
        img = Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8), mode="L")
    return img.convert("RGB")


def resize_center_crop(img: Image.Image, resize: int = RESIZE, crop: int = CROP) -> Image.Image:
    """Resize so the shorter side is ``resize`` (bilinear), then center crop ``crop`` x ``crop``.

    Rounding follows torchvision's Resize / CenterCrop on PIL images.
    """
    width, height = img.size
    if width <= height:
        new_w, new_h = resize, max(1, int(resize * height / width))
    else:
        new_w, new_h = max(1, int(resize * width / height)), resize
    if (new_w, new_h) != (width, height):
        img = img.resize((new_w, new_h), Image.Resampling.BILINEAR)
    left = round((new_w - crop) / 2.0)
    top = round((new_h - crop) / 2.0)
    return img.crop((left, top, left + crop, top + crop))


def to_tensor(img: Image.Image) -> np.ndarray:
    """RGB image (already CROP x CROP) -> normalised float32 array of shape (3, H, W)."""
    arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    arr = (arr - MEAN) / STD
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def preprocess(img: Image.Image) -> np.ndarray:
    """Decoded image -> model input of shape (1, 3, 224, 224), float32."""
    return to_tensor(resize_center_crop(to_rgb(img)))[np.newaxis]


def preprocess_bytes(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Encoded image bytes -> model input of shape (1, 3, 224, 224), float32."""
    return preprocess(decode_image(data, max_pixels))
