"""The Runtime API endpoints against a recording reply: no sockets, no runtime process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from lambda_sandbox.runtime_api.channel import RuntimeChannel
from lambda_sandbox.runtime_api.endpoints import Request, dispatch
from lambda_sandbox.types import Invocation, InvocationResult

PREFIX = "/2018-06-01/runtime"


class RecordingReply:
    """What an endpoint answered: (status, body, headers), in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, bytes, dict[str, str]]] = []

    def send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.sent.append((status, body, dict(headers or {})))

    def send_soon(self, status: int, body: bytes) -> None:
        asyncio.get_running_loop().call_soon(self.send, status, body)

    def on_invocation(
        self, waiter: asyncio.Future[Invocation], send: Callable[[Invocation], None]
    ) -> None:
        if waiter.done():
            send(waiter.result())
        else:
            waiter.add_done_callback(lambda f: None if f.cancelled() else send(f.result()))


def invocation(request_id: str = "rid-1") -> Invocation:
    return Invocation(
        request_id=request_id,
        payload=b'{"n": 1}',
        deadline_ms=1_700_000_000_000,
        function_arn="arn:aws:lambda:us-east-1:000000000000:function:f",
        trace_id="Root=1-abc;Parent=def;Sampled=0",
        client_context='{"custom": {"a": 1}}',
    )


def call(channel: RuntimeChannel, method: str, path: str, body: bytes = b"", **headers: str) -> Any:
    reply = RecordingReply()
    dispatch(channel, Request(method, PREFIX + path, headers, body), reply)
    return reply


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_next_hands_over_the_event_with_the_runtime_headers() -> None:
    channel = RuntimeChannel("env", max_response_bytes=100, max_stream_bytes=1000)
    result = channel.submit(invocation())
    reply = call(channel, "GET", "/invocation/next")
    status, body, headers = reply.sent[0]
    assert status == 200 and body == b'{"n": 1}'
    assert headers["Lambda-Runtime-Aws-Request-Id"] == "rid-1"
    assert headers["Lambda-Runtime-Deadline-Ms"] == "1700000000000"
    assert headers["Lambda-Runtime-Invoked-Function-Arn"].endswith(":function:f")
    assert headers["Lambda-Runtime-Trace-Id"].startswith("Root=1-")
    assert headers["Lambda-Runtime-Client-Context"] == '{"custom": {"a": 1}}'
    assert channel.first_next.done() and not result.done()


async def test_next_waits_until_an_invocation_is_submitted() -> None:
    channel = RuntimeChannel("env", max_response_bytes=100, max_stream_bytes=1000)
    reply = call(channel, "GET", "/invocation/next")
    assert reply.sent == []
    channel.submit(invocation())
    await settle()
    assert reply.sent[0][0] == 200


async def test_response_resolves_the_invocation_and_is_accepted() -> None:
    channel = RuntimeChannel("env", max_response_bytes=100, max_stream_bytes=1000)
    result = channel.submit(invocation())
    call(channel, "GET", "/invocation/next")
    reply = call(channel, "POST", "/invocation/rid-1/response", b'{"ok": true}')
    assert (await result).payload == b'{"ok": true}'
    await settle()
    assert reply.sent == [(202, b'{"status":"OK"}', {})]


async def test_an_unknown_request_id_is_refused() -> None:
    channel = RuntimeChannel("env", max_response_bytes=100, max_stream_bytes=1000)
    channel.submit(invocation())
    reply = call(channel, "POST", "/invocation/other/response", b"{}")
    status, body, _ = reply.sent[0]
    assert status == 400 and json.loads(body)["errorType"] == "InvalidRequestID"


async def test_a_response_over_the_limit_is_413_and_replaces_the_environment() -> None:
    channel = RuntimeChannel("env", max_response_bytes=10, max_stream_bytes=1000)
    result = channel.submit(invocation())
    reply = call(channel, "POST", "/invocation/rid-1/response", b"x" * 11)
    assert reply.sent[0][0] == 413
    answer: InvocationResult = await result
    assert answer.error_type == "Function.ResponseSizeTooLarge" and answer.fatal
    assert "(10 bytes)" in json.loads(answer.payload)["errorMessage"]


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({"lambda-runtime-function-error-type": "Custom.Error"}, b"{}", "Custom.Error"),
        ({}, b'{"errorType": "ValueError", "errorMessage": "bad"}', "ValueError"),
        ({}, b"not json", "Runtime.Unknown"),
    ],
)
async def test_error_takes_its_type_from_the_header_else_the_body(
    headers: dict[str, str], body: bytes, expected: str
) -> None:
    channel = RuntimeChannel("env", max_response_bytes=100, max_stream_bytes=1000)
    result = channel.submit(invocation())
    reply = RecordingReply()
    dispatch(channel, Request("POST", f"{PREFIX}/invocation/rid-1/error", headers, body), reply)
    answer = await result
    assert answer.error_type == expected and answer.payload == body and not answer.fatal


async def test_init_error_is_kept_for_the_init_outcome() -> None:
    channel = RuntimeChannel("env", max_response_bytes=100, max_stream_bytes=1000)
    body = b'{"errorType": "Runtime.ImportModuleError", "errorMessage": "no module"}'
    reply = call(channel, "POST", "/init/error", body)
    assert reply.sent[0][0] == 202
    assert channel.init_error == ("Runtime.ImportModuleError", body)


async def test_anything_else_is_404() -> None:
    channel = RuntimeChannel("env", max_response_bytes=100, max_stream_bytes=1000)
    reply = call(channel, "GET", "/invocation/rid-1/response")
    assert reply.sent[0][0] == 404


async def test_an_event_the_runtime_never_took_is_marked_undelivered() -> None:
    """The runtime died before its /next: the invocation ran nowhere (the service runs it in
    a new environment); one it took and then died under is not."""
    channel = RuntimeChannel("env", max_response_bytes=100, max_stream_bytes=1000)
    queued = channel.submit(invocation())
    channel.abort(InvocationResult.error("Runtime.ExitError", "gone", fatal=True))
    assert (await queued).undelivered is True
    other = RuntimeChannel("env2", max_response_bytes=100, max_stream_bytes=1000)
    taken = other.submit(invocation("rid-2"))
    call(other, "GET", "/invocation/next")
    other.abort(InvocationResult.error("Runtime.ExitError", "gone", fatal=True))
    assert (await taken).undelivered is False
