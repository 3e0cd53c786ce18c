"""Response streaming: chunks reach the caller while the handler still runs, through
InvokeWithResponseStream (boto3) and a RESPONSE_STREAM function URL."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from lambda_sandbox.runner import SandboxThread

pytestmark = [pytest.mark.integration, pytest.mark.root]


def test_invoke_with_response_stream_delivers_chunks_as_they_come(probe_client: Any) -> None:
    t0 = time.perf_counter()
    resp = probe_client.invoke_with_response_stream(
        FunctionName="stream-probe", Payload=json.dumps({"chunks": 5}).encode(), LogType="Tail"
    )
    arrivals, chunks, complete = [], [], None
    for event in resp["EventStream"]:
        if "PayloadChunk" in event:
            chunks.append(event["PayloadChunk"]["Payload"])
            arrivals.append(time.perf_counter() - t0)
        elif "InvokeComplete" in event:
            complete = event["InvokeComplete"]
    assert b"".join(chunks) == b"".join(f"token-{i} ".encode() for i in range(5))
    assert len(chunks) == 5
    assert arrivals[-1] - arrivals[0] >= 1.0, f"chunks came over time: {arrivals}"
    assert complete is not None and "ErrorCode" not in complete
    assert "REPORT RequestId" in __import__("base64").b64decode(complete["LogResult"]).decode()


def test_stream_errors_arrive_in_invoke_complete(probe_client: Any) -> None:
    resp = probe_client.invoke_with_response_stream(
        FunctionName="stream-probe", Payload=json.dumps({"chunks": 2, "fail": True}).encode()
    )
    events = list(resp["EventStream"])
    assert [e["PayloadChunk"]["Payload"] for e in events if "PayloadChunk" in e] == [
        b"token-0 ",
        b"token-1 ",
    ]
    complete = events[-1]["InvokeComplete"]
    assert complete["ErrorCode"] == "RuntimeError"
    assert complete["ErrorDetails"] == "broke mid-stream"


def test_plain_invoke_of_a_streaming_function_is_buffered(probe_client: Any) -> None:
    resp = probe_client.invoke(FunctionName="stream-probe", Payload=b'{"chunks": 3}')
    assert resp["Payload"].read() == b"token-0 token-1 token-2 "
    assert "FunctionError" not in resp


def test_streaming_function_url_sends_the_first_byte_early(probe_sandbox: SandboxThread) -> None:
    url = probe_sandbox.gateway.function_urls["stream-probe"]
    t0 = time.perf_counter()
    arrivals, body = [], b""
    with httpx.stream("GET", url + "tokens", params={"n": 5}, timeout=30) as resp:
        assert resp.status_code == 207
        assert resp.headers["x-stream"] == "1"
        assert resp.headers["content-type"] == "text/plain"
        for chunk in resp.iter_raw():
            arrivals.append(time.perf_counter() - t0)
            body += chunk
    assert body == b"".join(f"token-{i} ".encode() for i in range(5))
    assert arrivals[-1] - arrivals[0] >= 1.0, f"first byte before the handler ended: {arrivals}"
    plain = httpx.get(url + "x/plain")
    assert (plain.status_code, plain.text) == (200, "not streamed")
