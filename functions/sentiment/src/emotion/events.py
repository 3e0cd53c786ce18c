"""Requests in, responses out: direct invokes, API Gateway REST (1.0), HTTP API / URLs (2.0).

Direct invoke:  {"text": "..."}            -> {"label": ..., "scores": {...}}
                {"texts": ["...", ...]}    -> {"results": [{"label": ..., "scores": ...}, ...]}
HTTP events carry the same JSON in ``body`` (base64 when ``isBase64Encoded``) and get
``{"statusCode", "headers", "body"}`` back. Bad input raises ValueError with a message that
says what to send; the handler turns it into a 400 for HTTP events.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

DEFAULT_MAX_TEXT_CHARS = 5000
DEFAULT_MAX_BATCH = 32
USAGE = 'send {"text": "..."} or {"texts": ["...", ...]}'


@dataclass(frozen=True)
class Request:
    texts: list[str]
    batch: bool


def is_http_event(event: dict[str, Any]) -> bool:
    """API Gateway proxy events (1.0: httpMethod; 2.0 and function URLs: routeKey)."""
    return "requestContext" in event and ("httpMethod" in event or "routeKey" in event)


def _check_text(value: Any, where: str, max_chars: int) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{where} is empty")
    if len(value) > max_chars:
        raise ValueError(f"{where} is {len(value)} characters long, over the limit of {max_chars}")
    return value


def parse_payload(payload: Any, max_chars: int, max_batch: int) -> Request:
    """Validate a direct-invoke payload (or a decoded HTTP body)."""
    if not isinstance(payload, dict):
        raise ValueError(f"expected a JSON object, got {type(payload).__name__}: {USAGE}")
    has_text, has_texts = "text" in payload, "texts" in payload
    if has_text and has_texts:
        raise ValueError(f"give either 'text' or 'texts', not both: {USAGE}")
    if has_text:
        return Request([_check_text(payload["text"], "'text'", max_chars)], batch=False)
    if not has_texts:
        raise ValueError(f"missing 'text': {USAGE}")
    texts = payload["texts"]
    if not isinstance(texts, list):
        raise ValueError(f"'texts' must be a list of strings, got {type(texts).__name__}")
    if not texts:
        raise ValueError("'texts' is an empty list")
    if len(texts) > max_batch:
        raise ValueError(f"'texts' has {len(texts)} items, over the limit of {max_batch}")
    return Request(
        [_check_text(t, f"'texts'[{i}]", max_chars) for i, t in enumerate(texts)], batch=True
    )


def http_body(event: dict[str, Any]) -> Any:
    """The JSON document in an API Gateway / function URL event's body."""
    body = event.get("body")
    if body is None or body == "":
        raise ValueError(f"the request body is empty: {USAGE}")
    if not isinstance(body, str):
        raise ValueError(f"the request body must be a string, got {type(body).__name__}")
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ValueError(f"the body is marked base64 but is not base64 UTF-8: {exc}") from exc
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the request body is not valid JSON ({exc}): {USAGE}") from exc


def http_response(status: int, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(payload),
    }


def result(request: Request, predictions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"results": predictions} if request.batch else predictions[0]
