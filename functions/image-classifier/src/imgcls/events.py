"""Turning Lambda events into classification requests, and results into responses.

Accepted events:
- direct invoke: ``{"image_base64": "...", "top_k": 5}`` or
  ``{"s3": {"bucket": "...", "key": "..."}, "top_k": 5}``
- API Gateway REST proxy (payload 1.0), HTTP API and function URLs (payload 2.0): the same JSON
  in ``body`` (base64-encoded when ``isBase64Encoded``), or the raw image bytes as the body
  when the request's content type is ``image/*`` or ``application/octet-stream``.

Every problem with the input raises ValueError with a message for the caller.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_TOP_K = 5
MAX_TOP_K = 20
DEFAULT_MAX_IMAGE_BYTES = 20 * 1024 * 1024

RAW_IMAGE_CONTENT_TYPES = ("image/", "application/octet-stream")

FetchS3 = Callable[[str, str, int], bytes]


@dataclass(frozen=True)
class ClassifyRequest:
    image: bytes
    top_k: int


def is_http_event(event: Mapping[str, Any]) -> bool:
    """True for API Gateway (payload 1.0 / 2.0) and function URL events."""
    context = event.get("requestContext")
    if not isinstance(context, Mapping):
        return False
    return "httpMethod" in event or "routeKey" in event or "http" in context


def decode_base64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise ValueError(f"{what} must be a base64 string, got {type(text).__name__}")
    compact = "".join(text.split())
    if compact.startswith("data:") and "," in compact:  # tolerate data URLs
        compact = compact.split(",", 1)[1]
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{what} is not valid base64: {exc}") from exc


def parse_top_k(payload: Mapping[str, Any]) -> int:
    top_k = payload.get("top_k", DEFAULT_TOP_K)
    if isinstance(top_k, bool) or not isinstance(top_k, int):
        raise ValueError(f"top_k must be an integer from 1 to {MAX_TOP_K}, got {top_k!r}")
    if not 1 <= top_k <= MAX_TOP_K:
        raise ValueError(f"top_k must be from 1 to {MAX_TOP_K}, got {top_k}")
    return top_k


def parse_payload(
    payload: Any, fetch_s3: FetchS3, max_bytes: int = DEFAULT_MAX_IMAGE_BYTES
) -> ClassifyRequest:
    """A JSON object with ``image_base64`` or ``s3`` -> ClassifyRequest."""
    if not isinstance(payload, Mapping):
        raise ValueError(
            'request must be a JSON object like {"image_base64": "..."} or '
            '{"s3": {"bucket": "...", "key": "..."}}'
        )
    top_k = parse_top_k(payload)
    if "image_base64" in payload:
        image = decode_base64(payload["image_base64"], "image_base64")
    elif "s3" in payload:
        location = payload["s3"]
        if not isinstance(location, Mapping):
            raise ValueError('"s3" must be an object {"bucket": "...", "key": "..."}')
        bucket, key = location.get("bucket"), location.get("key")
        if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
            raise ValueError('"s3" needs non-empty string fields "bucket" and "key"')
        image = fetch_s3(bucket, key, max_bytes)
    else:
        raise ValueError(
            'missing image: give "image_base64" (base64 of the image file) or '
            '"s3": {"bucket": "...", "key": "..."}'
        )
    if len(image) > max_bytes:
        raise ValueError(f"image is {len(image)} bytes, over the limit of {max_bytes} bytes")
    return ClassifyRequest(image=image, top_k=top_k)


def _header(event: Mapping[str, Any], name: str) -> str:
    headers = event.get("headers") or {}
    for key, value in headers.items():
        if key.lower() == name and isinstance(value, str):
            return value
    return ""


def parse_http_event(
    event: Mapping[str, Any], fetch_s3: FetchS3, max_bytes: int = DEFAULT_MAX_IMAGE_BYTES
) -> ClassifyRequest:
    """API Gateway / function URL event -> ClassifyRequest."""
    body = event.get("body")
    if body is None or body == "":
        raise ValueError(
            'request body is empty: send JSON {"image_base64": "..."} or the image bytes'
        )
    if not isinstance(body, str):
        raise ValueError("request body must be a string")
    raw = decode_base64(body, "body") if event.get("isBase64Encoded") else body.encode()
    content_type = _header(event, "content-type").split(";")[0].strip().lower()
    if content_type.startswith(RAW_IMAGE_CONTENT_TYPES):
        if len(raw) > max_bytes:
            raise ValueError(f"image is {len(raw)} bytes, over the limit of {max_bytes} bytes")
        query = event.get("queryStringParameters") or {}
        top_k_param: dict[str, Any] = {}
        if "top_k" in query:
            try:
                top_k_param["top_k"] = int(query["top_k"])
            except (TypeError, ValueError) as exc:
                raise ValueError(f"top_k must be an integer, got {query['top_k']!r}") from exc
        return ClassifyRequest(image=raw, top_k=parse_top_k(top_k_param))
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(
            "request body is not valid JSON (for raw image bytes set content-type: image/*)"
        ) from exc
    return parse_payload(payload, fetch_s3, max_bytes)


def result_body(predictions: list[dict[str, Any]], top_k: int, model: str) -> dict[str, Any]:
    key = "top5" if top_k == DEFAULT_TOP_K else "topk"
    return {key: predictions, "model": model}


def http_response(status: int, body: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }
