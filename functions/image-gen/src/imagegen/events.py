"""Lambda events -> generation requests (with every knob clamped to safe limits) -> responses.

Accepted events:
- direct invoke: ``{"prompt": "...", "width": 256, "height": 256, "steps": 10, "seed": 1,
  "guidance_scale": 7.5, "store": true}``; only ``prompt`` is required.
- API Gateway REST proxy (payload 1.0), HTTP API and function URLs (payload 2.0): the same JSON
  as the body (base64-encoded when ``isBase64Encoded``), or the fields as query parameters
  (``GET /?prompt=a+fox&width=128``). The answer is the PNG itself (``image/png``,
  ``isBase64Encoded``) or, when stored, JSON with its URLs.

Width and height are rounded down to a multiple of 8 and clamped to [MIN_SIZE, MAX_IMAGE_SIZE];
steps are clamped to [1, MAX_STEPS]; guidance to [1, MAX_GUIDANCE]. Values of the wrong type,
an empty or over-long prompt and a seed out of range raise ValueError with a message for the
caller (HTTP: 400).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SIZE_MULTIPLE = 8
MIN_SIZE = 64
DEFAULT_SIZE = 256
DEFAULT_MAX_SIZE = 512
DEFAULT_STEPS = 10
DEFAULT_MAX_STEPS = 50
DEFAULT_GUIDANCE = 7.5
MAX_GUIDANCE = 20.0
MAX_PROMPT_CHARS = 1000
MAX_SEED = 2**32 - 1

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def parse_flag(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"{what} must be true or false, got {value!r}")


def _env_int(env: Mapping[str, str], name: str, default: int, low: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise RuntimeError(f"environment variable {name} must be an integer, got {raw!r}") from exc
    if value < low:
        raise RuntimeError(f"environment variable {name} must be at least {low}, got {value}")
    return value


@dataclass(frozen=True)
class Limits:
    """The function's configuration, from its environment variables."""

    max_size: int = DEFAULT_MAX_SIZE
    default_size: int = DEFAULT_SIZE
    default_steps: int = DEFAULT_STEPS
    max_steps: int = DEFAULT_MAX_STEPS
    store: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Limits:
        max_size = _env_int(env, "MAX_IMAGE_SIZE", DEFAULT_MAX_SIZE, MIN_SIZE)
        max_size -= max_size % SIZE_MULTIPLE
        max_steps = _env_int(env, "MAX_STEPS", DEFAULT_MAX_STEPS, 1)
        steps = _env_int(env, "PIPELINE_STEPS", DEFAULT_STEPS, 1)
        try:
            store = parse_flag(env.get("STORE", ""), "environment variable STORE")
        except ValueError as exc:
            raise RuntimeError(str(exc)) from exc
        return cls(
            max_size=max_size,
            default_size=clamp_size(DEFAULT_SIZE, max_size),
            default_steps=min(steps, max_steps),
            max_steps=max_steps,
            store=store,
        )


@dataclass(frozen=True)
class GenerateRequest:
    prompt: str
    width: int
    height: int
    steps: int
    guidance_scale: float
    seed: int
    store: bool
    clamped: tuple[str, ...] = ()  # the fields whose requested value was changed

    def describe(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "width": self.width,
            "height": self.height,
            "steps": self.steps,
            "guidance_scale": self.guidance_scale,
            "seed": self.seed,
            "clamped": list(self.clamped),
        }


def _number(value: Any, what: str, *, integer: bool) -> float:
    """JSON numbers, or numeric strings (query parameters are strings)."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = int(value) if integer else float(value)
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be {kind}, got {value!r}")
    if integer and isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{what} must be {kind}, got {value!r}")
        value = int(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return value


def clamp_size(value: int, max_size: int) -> int:
    """Round down to a multiple of 8, then clamp to [MIN_SIZE, max_size]."""
    return min(max(value - value % SIZE_MULTIPLE, MIN_SIZE), max_size)


def parse_payload(payload: Any, limits: Limits) -> GenerateRequest:
    """A JSON object (or query parameters) -> GenerateRequest."""
    if not isinstance(payload, Mapping):
        raise ValueError('request must be a JSON object like {"prompt": "a red fox"}')
    prompt = payload.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError('"prompt" must be a non-empty string')
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ValueError(
            f"prompt is {len(prompt)} characters, over the limit of {MAX_PROMPT_CHARS}"
        )
    clamped: list[str] = []

    def pick(name: str, default: float, low: float, high: float, *, integer: bool) -> float:
        if payload.get(name) is None:
            return default
        asked = _number(payload[name], name, integer=integer)
        if integer and name in ("width", "height"):
            value: float = clamp_size(int(asked), int(high))
        else:
            value = min(max(asked, low), high)
        if value != asked:
            clamped.append(name)
        return value

    width = int(pick("width", limits.default_size, MIN_SIZE, limits.max_size, integer=True))
    height = int(pick("height", limits.default_size, MIN_SIZE, limits.max_size, integer=True))
    steps = int(pick("steps", limits.default_steps, 1, limits.max_steps, integer=True))
    guidance = float(pick("guidance_scale", DEFAULT_GUIDANCE, 1.0, MAX_GUIDANCE, integer=False))
    if payload.get("seed") is None:
        seed = secrets.randbelow(MAX_SEED + 1)
    else:
        seed = int(_number(payload["seed"], "seed", integer=True))
        if not 0 <= seed <= MAX_SEED:
            raise ValueError(f"seed must be from 0 to {MAX_SEED}, got {seed}")
    store = limits.store if payload.get("store") is None else parse_flag(payload["store"], "store")
    return GenerateRequest(
        prompt=prompt,
        width=width,
        height=height,
        steps=steps,
        guidance_scale=guidance,
        seed=seed,
        store=store,
        clamped=tuple(clamped),
    )


# --------------------------------------------------------------------------- HTTP events
def is_http_event(event: Mapping[str, Any]) -> bool:
    """True for API Gateway (payload 1.0 / 2.0) and function URL events."""
    context = event.get("requestContext")
    if not isinstance(context, Mapping):
        return False
    return "httpMethod" in event or "routeKey" in event or "http" in context


def parse_http_event(event: Mapping[str, Any], limits: Limits) -> GenerateRequest:
    """The body's JSON object, or else the query parameters."""
    body = event.get("body")
    if body:
        if not isinstance(body, str):
            raise ValueError("request body must be a string")
        if event.get("isBase64Encoded"):
            try:
                body = base64.b64decode(body, validate=True).decode("utf-8")
            except (binascii.Error, ValueError) as exc:
                raise ValueError(f"request body is not valid base64 UTF-8: {exc}") from exc
        try:
            payload = json.loads(body)
        except json.JSONDecodeError as exc:
            raise ValueError(f"request body is not valid JSON: {exc}") from exc
        return parse_payload(payload, limits)
    return parse_payload(event.get("queryStringParameters") or {}, limits)


def json_response(status: int, body: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def png_response(png: bytes, request: GenerateRequest) -> dict[str, Any]:
    return {
        "statusCode": 200,
        "headers": {
            "content-type": "image/png",
            "x-image-seed": str(request.seed),
            "x-image-steps": str(request.steps),
            "x-image-size": f"{request.width}x{request.height}",
        },
        "body": base64.b64encode(png).decode("ascii"),
        "isBase64Encoded": True,
    }
