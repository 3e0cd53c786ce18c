"""Seed 004's shape (web.py): FastAPI behind the Web Adapter, the GGUF fetched from S3 at INIT,
tokens streamed, SnapStart on. Publishing runs INIT once; the version's environments are
restored from it (REPORT: Restore Duration, no Init Duration), and each streams tokens.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from lambda_sandbox.log_lines import Report

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.timeout(1800),  # the first bundle build on a machine compiles llama-cpp-python
]


def _chat(payload: dict[str, Any]) -> bytes:
    return json.dumps({
        "version": "2.0", "rawPath": "/chat", "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "POST", "path": "/chat"}},
        "body": json.dumps(payload), "isBase64Encoded": False,
    }).encode()  # fmt: skip


def _stream(client: Any, version: str) -> tuple[dict[str, Any], list[bytes]]:
    """The HTTP prelude the adapter sent, and the body's chunks."""
    resp = client.invoke_with_response_stream(
        FunctionName="llm-web", Qualifier=version,
        Payload=_chat({"prompt": "Once upon a time", "max_tokens": 12, "temperature": 0}),
    )  # fmt: skip
    raw, chunks, complete = b"", [], None
    for event in resp["EventStream"]:
        if "PayloadChunk" in event:
            raw += event["PayloadChunk"]["Payload"]
            chunks.append(event["PayloadChunk"]["Payload"])
        elif "InvokeComplete" in event:
            complete = event["InvokeComplete"]
    assert complete is not None and "ErrorCode" not in complete, complete
    prelude, _, body = raw.partition(b"\0" * 8)
    return json.loads(prelude), [body] if len(chunks) < 2 else chunks[1:]


def _published(client: Any) -> str:
    version = str(client.publish_version(FunctionName="llm-web")["Version"])
    deadline = time.monotonic() + 300
    while True:
        state = client.get_function_configuration(FunctionName="llm-web", Qualifier=version)
        if state["State"] != "Pending":
            assert state["State"] == "Active", state
            return version
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_the_web_app_is_restored_from_its_snapshot_and_streams(
    llm_sandbox: Any, llm_client: Any
) -> None:
    version = _published(llm_client)
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: _stream(llm_client, version), range(2)))
    for prelude, chunks in answers:
        assert prelude["statusCode"] == 200, prelude
        assert prelude["headers"]["content-type"].startswith("text/plain")
        assert b"".join(chunks), chunks  # tokens came
    function = llm_sandbox.sandbox.service.functions["llm-web"]
    logs = [line for _, line in function.log.recent]
    init = [line for line in logs if line.startswith("INIT_REPORT Init Duration")]
    assert len(init) == 1, logs  # INIT ran once, at publish
    init_ms = float(init[0].split("Init Duration: ")[1].split(" ms")[0])
    reports = [r for r in (Report.parse(line) for line in logs) if r is not None]
    restores = [r.restore_ms for r in reports if r.restore_ms is not None]
    assert len(restores) == 2 and all(r.init_ms is None for r in reports), logs
    assert max(restores) < init_ms, (init_ms, restores)
    assert function.metrics()["SnapStartRestores"] == 2
    assert any("llm: model loaded" in line for line in logs)  # INIT's S3 fetch, at publish
