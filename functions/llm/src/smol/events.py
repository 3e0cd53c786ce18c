"""Requests and answers: a direct Invoke payload, or a function URL / API Gateway event.

Direct payloads (Invoke, InvokeWithResponseStream):

    {"messages": [{"role": "user", "content": "..."}], "max_tokens": 64}
    {"prompt": "The capital of France is", "max_tokens": 8, "temperature": 0}
    ... plus "stream": true to have the tokens streamed (a generator) instead of one JSON answer

HTTP events (payload 1.0 or 2.0) carry the same JSON in their body (or `prompt`, `max_tokens`
and `stream` as query parameters); through a function URL the tokens stream by default, since
the URL is RESPONSE_STREAM ("stream": false asks for the JSON answer); API Gateway buffers, so
its events get the JSON answer unless they ask. Bad input raises
ValueError for direct calls (a function error) and is a 400 with {"message": ...} over HTTP.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ChatRequest",
    "Limits",
    "http_response",
    "is_function_url_event",
    "is_http_event",
    "parse",
]

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Limits:
    max_tokens: int = 512  # the most a request may ask for
    default_max_tokens: int = 128
    max_prompt_chars: int = 8000  # over all messages
    max_messages: int = 32

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Limits:
        return cls(
            max_tokens=int(env.get("MAX_TOKENS_LIMIT", cls.max_tokens)),
            default_max_tokens=int(env.get("DEFAULT_MAX_TOKENS", cls.default_max_tokens)),
            max_prompt_chars=int(env.get("MAX_PROMPT_CHARS", cls.max_prompt_chars)),
        )


@dataclass(frozen=True)
class ChatRequest:
    messages: list[dict[str, str]] | None = None  # chat style, through the model's template
    prompt: str | None = None  # plain completion
    max_tokens: int = 128
    temperature: float = 0.0
    stream: bool = False
    http: bool = False  # answer in the HTTP integration's shape
    stop: list[str] = field(default_factory=list)


def is_http_event(event: Mapping[str, Any]) -> bool:
    context = event.get("requestContext")
    return isinstance(context, dict) and ("http" in context or "httpMethod" in event)


def is_function_url_event(event: Mapping[str, Any]) -> bool:
    """A function URL's event (its domain is <id>.lambda-url.<region>.on.aws, as on AWS)."""
    context = event.get("requestContext")
    return isinstance(context, dict) and ".lambda-url." in str(context.get("domainName", ""))


def http_response(status: int, body: Any) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
    }


def _http_payload(event: Mapping[str, Any]) -> dict[str, Any]:
    body = event.get("body")
    query = event.get("queryStringParameters") or {}
    if not body:
        if not query:
            raise ValueError("the request body is empty")
        payload: dict[str, Any] = dict(query)
        for name in ("max_tokens",):
            if name in payload:
                try:
                    payload[name] = int(payload[name])
                except ValueError as exc:
                    raise ValueError(f"{name!r} must be an integer") from exc
        if "stream" in payload:
            payload["stream"] = str(payload["stream"]).lower() in ("1", "true", "yes")
        return payload
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ValueError("the request body is marked base64 but is not base64") from exc
    try:
        payload = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError("the request body is not valid JSON") from exc
    if not isinstance(payload, dict):
        raise ValueError(f"expected a JSON object, got {type(payload).__name__}")
    return payload


def _messages(raw: Any, limits: Limits) -> list[dict[str, str]]:
    if not isinstance(raw, list) or not raw:
        raise ValueError("'messages' must be a non-empty list of {role, content}")
    if len(raw) > limits.max_messages:
        raise ValueError(
            f"'messages' has {len(raw)} items, over the limit of {limits.max_messages}"
        )
    out = []
    for i, message in enumerate(raw):
        if not isinstance(message, dict):
            raise ValueError(f"'messages'[{i}] must be an object, got {type(message).__name__}")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise ValueError(f"'messages'[{i}].role must be one of {', '.join(ROLES)}")
        if not isinstance(content, str) or not content.strip():
            raise ValueError(f"'messages'[{i}].content must be a non-empty string")
        out.append({"role": role, "content": content})
    if out[-1]["role"] == "assistant":
        raise ValueError("the last message must not be the assistant's")
    return out


def parse(event: Any, limits: Limits | None = None, system_prompt: str = "") -> ChatRequest:
    """The request in `event`, checked against `limits`; ValueError says what is wrong.
    A chat without a system message gets `system_prompt` (when given) as its first message."""
    lim = limits or Limits()
    if not isinstance(event, dict):
        raise ValueError(f"expected a JSON object, got {type(event).__name__}")
    http = is_http_event(event)
    payload = _http_payload(event) if http else event
    if ("messages" in payload) == ("prompt" in payload):
        raise ValueError("give either 'messages' (chat) or 'prompt' (completion), not both")
    messages = prompt = None
    if "messages" in payload:
        messages = _messages(payload["messages"], lim)
        chars = sum(len(m["content"]) for m in messages)
        if system_prompt and messages[0]["role"] != "system":
            messages = [{"role": "system", "content": system_prompt}, *messages]
    else:
        prompt = payload["prompt"]
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("'prompt' must be a non-empty string")
        chars = len(prompt)
    if chars > lim.max_prompt_chars:
        raise ValueError(
            f"the prompt is {chars} characters, over the limit of {lim.max_prompt_chars}"
        )
    max_tokens = payload.get("max_tokens", lim.default_max_tokens)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise ValueError(f"'max_tokens' must be a positive integer, got {max_tokens!r}")
    if max_tokens > lim.max_tokens:
        raise ValueError(f"'max_tokens' is {max_tokens}, over the limit of {lim.max_tokens}")
    temperature = payload.get("temperature", 0.0)
    if isinstance(temperature, bool) or not isinstance(temperature, int | float):
        raise ValueError(f"'temperature' must be a number, got {temperature!r}")
    if not 0.0 <= temperature <= 2.0:
        raise ValueError(f"'temperature' must be from 0 to 2, got {temperature}")
    stream = payload.get("stream", is_function_url_event(event))
    if not isinstance(stream, bool):
        raise ValueError(f"'stream' must be true or false, got {stream!r}")
    stop = payload.get("stop", [])
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise ValueError("'stop' must be a string or a list of non-empty strings")
    return ChatRequest(messages, prompt, max_tokens, float(temperature), stream, http, stop)
