"""The LLM function through the sandbox, as callers on AWS reach it: boto3 Invoke and
InvokeWithResponseStream, and the RESPONSE_STREAM function URL.

`llm` runs SmolLM2-135M-Instruct (real weights, the factual answer); `llm-tiny` the tiny random
GGUF (the serving path only); `llm-tmp` the tiny GGUF through the /tmp fallback.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.timeout(1800),  # the first bundle build on a machine compiles llama-cpp-python
]

CAPITAL = {"messages": [{"role": "user", "content": "What is the capital of France?"}]}
RIVERS = {"messages": [{"role": "user", "content": "Name three rivers in Europe."}]}


def invoke(client: Any, function: str, payload: dict[str, Any]) -> tuple[Any, str]:
    resp = client.invoke(
        FunctionName=function, Payload=json.dumps(payload).encode(), LogType="Tail"
    )
    body = json.loads(resp["Payload"].read())
    assert "FunctionError" not in resp, body
    return body, base64.b64decode(resp["LogResult"]).decode()


def stream(client: Any, function: str, payload: dict[str, Any]) -> tuple[list[float], list[bytes]]:
    """Chunks of an InvokeWithResponseStream and when each arrived (s since the call)."""
    t0 = time.perf_counter()
    resp = client.invoke_with_response_stream(
        FunctionName=function, Payload=json.dumps(payload).encode()
    )
    arrivals, chunks, complete = [], [], None
    for event in resp["EventStream"]:
        if "PayloadChunk" in event:
            chunks.append(event["PayloadChunk"]["Payload"])
            arrivals.append(time.perf_counter() - t0)
        elif "InvokeComplete" in event:
            complete = event["InvokeComplete"]
    assert complete is not None and "ErrorCode" not in complete, complete
    return arrivals, chunks


def test_answers_a_factual_question_through_invoke(llm_client: Any) -> None:
    body, _ = invoke(llm_client, "llm", {**CAPITAL, "max_tokens": 32})
    assert "Paris" in body["text"], body["text"]
    assert body["finish_reason"] in ("stop", "length")
    timings = body["timings"]
    assert timings["prompt_tokens"] > 5 and timings["completion_tokens"] >= 2
    assert timings["prompt_tokens_per_s"] > 0 and timings["tokens_per_s"] > 0


def test_the_model_comes_from_s3_into_memfd_and_tmp_stays_empty(llm_client: Any) -> None:
    body, _ = invoke(llm_client, "llm", {"prompt": "The capital of France is", "max_tokens": 4})
    model = body["model"]
    assert model["source"] == "memfd" and model["memfd_error"] is None
    assert model["path"].startswith("/proc/self/fd/")
    assert model["file"] == "smollm2-135m-instruct.Q4_1.gguf"
    assert model["bytes"] == 98_362_432 and model["parts"] == 6  # 16 MiB ranged GETs
    assert body["tmp"] == {"files": 0, "bytes": 0, "entries": []}
    assert "Paris" in body["text"]


def test_init_log_says_where_the_model_went(llm_client: Any) -> None:
    """A cold start's log (INIT's output is part of the first invoke's tail)."""
    llm_client.update_function_configuration(FunctionName="llm-tiny", Timeout=61)  # retire envs
    _, log = invoke(llm_client, "llm-tiny", {"prompt": "x", "max_tokens": 1})
    line = next(ln for ln in log.splitlines() if "llm: model loaded " in ln)
    loaded = json.loads(line.split("llm: model loaded ", 1)[1])
    assert (loaded["source"], loaded["tmp"]["files"]) == ("memfd", 0)
    assert "Init Duration" in log


def test_tmp_fallback_writes_the_model_to_tmp(llm_client: Any) -> None:
    body, _ = invoke(llm_client, "llm-tmp", {"prompt": "hello", "max_tokens": 4})
    assert body["model"]["source"] == "tmp"
    assert body["model"]["memfd_error"] == "MODEL_LOADER=tmp"
    assert body["tmp"]["entries"] == ["model/tiny-llama.gguf"]
    assert body["finish_reason"] == "length" and body["timings"]["completion_tokens"] >= 4


def test_streaming_delivers_the_first_token_before_the_last(llm_client: Any) -> None:
    request = {**RIVERS, "max_tokens": 48}
    arrivals, chunks = stream(llm_client, "llm", {**request, "stream": True})
    assert len(chunks) >= 10, chunks
    assert arrivals[0] < arrivals[-1]
    assert arrivals[-1] - arrivals[0] > 0
    # temperature 0: the streamed text is the text a plain Invoke answers with
    body, _ = invoke(llm_client, "llm", request)
    assert b"".join(chunks).decode() == body["text"]


def test_without_stream_the_stream_api_gets_one_json_answer(llm_client: Any) -> None:
    _, chunks = stream(llm_client, "llm-tiny", {"prompt": "hello", "max_tokens": 3})
    answer = json.loads(b"".join(chunks))
    assert answer["finish_reason"] == "length" and answer["model"]["source"] == "memfd"


def test_plain_invoke_of_a_streamed_answer_is_buffered(llm_client: Any) -> None:
    request = {"prompt": "hello", "max_tokens": 12}
    resp = llm_client.invoke(
        FunctionName="llm-tiny", Payload=json.dumps({**request, "stream": True}).encode()
    )
    body, _ = invoke(llm_client, "llm-tiny", request)
    assert resp["Payload"].read().decode() == body["text"]


def test_function_url_streams_tokens(llm_sandbox: Any) -> None:
    url = llm_sandbox.gateway.function_urls["llm"]
    t0 = time.perf_counter()
    arrivals, text = [], b""
    with httpx.stream("POST", url, json={**CAPITAL, "max_tokens": 32}, timeout=120) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "text/plain; charset=utf-8"
        for chunk in resp.iter_raw():
            arrivals.append(time.perf_counter() - t0)
            text += chunk
    assert "Paris" in text.decode()
    assert len(arrivals) >= 2 and arrivals[0] < arrivals[-1]
    answer = httpx.post(url, json={**CAPITAL, "max_tokens": 32, "stream": False}, timeout=120)
    assert answer.status_code == 200 and answer.json()["text"] == text.decode()


def test_bad_requests(llm_client: Any, llm_sandbox: Any) -> None:
    resp = llm_client.invoke(FunctionName="llm-tiny", Payload=b'{"prompt": "x", "max_tokens": 0}')
    error = json.loads(resp["Payload"].read())
    assert resp["FunctionError"] == "Unhandled"
    assert error["errorType"] == "ValueError"
    assert "'max_tokens' must be a positive integer" in error["errorMessage"]
    bad = httpx.post(llm_sandbox.gateway.function_urls["llm-tiny"], content=b"{nope", timeout=30)
    assert bad.status_code == 400
    assert bad.json() == {"message": "the request body is not valid JSON"}
