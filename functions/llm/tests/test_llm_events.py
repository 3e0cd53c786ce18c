"""Request parsing: direct payloads, function URL and API Gateway events, bad input."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import pytest
from smol.events import ChatRequest, Limits, http_response, parse
from smol.generate import thread_counts

CHAT = [{"role": "user", "content": "What is the capital of France?"}]


def url_event(body: Any = None, query: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "version": "2.0",
        "rawPath": "/",
        "requestContext": {
            "domainName": "abc123.lambda-url.us-east-1.on.aws",
            "http": {"method": "POST", "path": "/"},
        },
        "body": body if body is None or isinstance(body, str) else json.dumps(body),
        "isBase64Encoded": False,
        "queryStringParameters": query,
    }


def http_api_event(body: Any) -> dict[str, Any]:
    event = url_event(body)
    event["requestContext"]["domainName"] = "api1.execute-api.us-east-1.amazonaws.com"
    return event


def test_chat_defaults_are_deterministic_and_not_streamed() -> None:
    req = parse({"messages": CHAT})
    assert req == ChatRequest(messages=CHAT, max_tokens=128, temperature=0.0, stream=False)


def test_a_chat_without_system_message_gets_the_default_one() -> None:
    system = {"role": "system", "content": "Be brief."}
    assert parse({"messages": CHAT}, system_prompt="Be brief.").messages == [system, *CHAT]
    own = [{"role": "system", "content": "Mine."}, *CHAT]
    assert parse({"messages": own}, system_prompt="Be brief.").messages == own
    assert parse({"prompt": "x"}, system_prompt="Be brief.").messages is None


def test_completion_with_options() -> None:
    req = parse({"prompt": "Hi", "max_tokens": 5, "temperature": 0.7, "stream": True, "stop": "."})
    assert (req.prompt, req.max_tokens, req.temperature, req.stream, req.stop) == (
        "Hi",
        5,
        0.7,
        True,
        ["."],
    )


def test_function_url_events_stream_by_default() -> None:
    req = parse(url_event({"messages": CHAT}))
    assert req.http and req.stream and req.messages == CHAT
    assert not parse(url_event({"messages": CHAT, "stream": False})).stream


def test_function_url_query_parameters() -> None:
    req = parse(url_event(query={"prompt": "Hello", "max_tokens": "3", "stream": "false"}))
    assert (req.prompt, req.max_tokens, req.stream) == ("Hello", 3, False)


def test_api_gateway_buffers_unless_asked() -> None:
    assert not parse(http_api_event({"prompt": "x"})).stream
    assert parse(http_api_event({"prompt": "x", "stream": True})).stream


def test_base64_body() -> None:
    event = url_event(base64.b64encode(json.dumps({"prompt": "x"}).encode()).decode())
    event["isBase64Encoded"] = True
    assert parse(event).prompt == "x"


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({}, "either 'messages' .* or 'prompt'"),
        ({"prompt": "a", "messages": CHAT}, "not both"),
        ({"prompt": ""}, "'prompt' must be a non-empty string"),
        ({"prompt": 3}, "'prompt' must be a non-empty string"),
        ({"messages": []}, "'messages' must be a non-empty list"),
        ({"messages": ["hi"]}, r"'messages'\[0\] must be an object"),
        ({"messages": [{"role": "robot", "content": "x"}]}, r"\.role must be one of"),
        ({"messages": [{"role": "user", "content": " "}]}, r"\.content must be a non-empty"),
        ({"messages": [{"role": "assistant", "content": "x"}]}, "last message must not be"),
        ({"prompt": "x", "max_tokens": 0}, "'max_tokens' must be a positive integer"),
        ({"prompt": "x", "max_tokens": True}, "'max_tokens' must be a positive integer"),
        ({"prompt": "x", "max_tokens": 513}, "513, over the limit of 512"),
        ({"prompt": "x", "temperature": "hot"}, "'temperature' must be a number"),
        ({"prompt": "x", "temperature": 3}, "from 0 to 2"),
        ({"prompt": "x", "stream": "yes"}, "'stream' must be true or false"),
        ({"prompt": "x", "stop": [""]}, "'stop' must be"),
        ({"prompt": "x" * 8001}, "8001 characters, over the limit of 8000"),
        ("a string", "expected a JSON object, got str"),
    ],
)
def test_bad_input(event: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse(event)


@pytest.mark.parametrize(
    ("body", "message"),
    [(None, "the request body is empty"), ("{nope", "not valid JSON"), ("[1]", "got list")],
)
def test_bad_http_bodies(body: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse(url_event(body))


def test_limits_from_environment() -> None:
    limits = Limits.from_env({"MAX_TOKENS_LIMIT": "16", "DEFAULT_MAX_TOKENS": "4"})
    assert parse({"prompt": "x"}, limits).max_tokens == 4
    with pytest.raises(ValueError, match="17, over the limit of 16"):
        parse({"prompt": "x", "max_tokens": 17}, limits)


def test_http_response_shape() -> None:
    assert http_response(400, {"message": "no"}) == {
        "statusCode": 400,
        "headers": {"content-type": "application/json"},
        "body": '{"message": "no"}',
    }


@pytest.mark.parametrize(
    ("vcpus", "expected"),
    [
        (None, (1, 1)),
        ("0.579", (1, 1)),
        ("1.000", (1, 1)),
        ("1.158", (1, 2)),
        ("1.737", (2, 2)),
        ("2.000", (2, 2)),
    ],
)
def test_threads_follow_the_cpu_share(vcpus: str | None, expected: tuple[int, int]) -> None:
    env = {} if vcpus is None else {"SANDBOX_VCPUS": vcpus}
    cpus = len(os.sched_getaffinity(0))
    assert thread_counts(env) == tuple(min(n, cpus) for n in expected)


def test_thread_overrides_and_bad_shares() -> None:
    assert thread_counts(
        {"SANDBOX_VCPUS": "1.5", "LLAMA_THREADS": "1", "LLAMA_BATCH_THREADS": "1"}
    ) == (1, 1)
    with pytest.raises(ValueError, match="SANDBOX_VCPUS must be a number"):
        thread_counts({"SANDBOX_VCPUS": "two"})
