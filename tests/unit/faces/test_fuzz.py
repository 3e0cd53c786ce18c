"""Fuzzing what users and their tools send (hypothesis, fixed seed and example budget): the
Invoke API (names, qualifiers, headers, bodies), malformed HTTP, function.yaml and SAM
templates. Bad input never crashes the sandbox, never gets a 5xx or a traceback, and every
error is AWS-shaped JSON; a definition is either read or refused with a ConfigError."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import logging
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambda_sandbox.config import load_function, load_sam_template
from lambda_sandbox.environments.fake import FakeBackend, FakeFunction
from lambda_sandbox.exceptions import ConfigError
from lambda_sandbox.faces.app import build_app
from lambda_sandbox.service.lambda_service import LambdaService
from tests.unit.service.test_lambda_service import config

FUZZ = settings(
    derandomize=True,
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ANSWERS = {200, 202, 204, 400, 403, 404, 405, 409, 413, 429}
ARN = "arn:aws:lambda:us-east-1:000000000000:function:f"


def _failing(event: Any) -> Any:
    raise ValueError("a function error")


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    """The Lambda API on a real port, over the fake backend, on a loop of its own."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def start() -> None:
        service = LambdaService(FakeBackend({"f": FakeFunction(), "g": FakeFunction(_failing)}))
        for name in ("f", "g"):
            service.register(config(name), Path("."))
        runner = web.AppRunner(build_app(service), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        holder.update(service=service, runner=runner,
                      port=site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]  # fmt: skip
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()))
    thread.start()
    ready.wait(30)
    yield int(holder["port"])

    async def stop() -> None:
        await holder["runner"].cleanup()
        await holder["service"].close()

    asyncio.run_coroutine_threadsafe(stop(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(30)
    loop.close()


def _request(port: int, method: str, path: str, body: bytes, headers: dict[str, str]) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body, headers)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def _assert_aws_shaped(status: int, headers: dict[str, str], body: bytes) -> None:
    assert status in ANSWERS, (status, body[:300])
    if status >= 400:
        parsed = json.loads(body)
        assert {"message", "Message"} & set(parsed), parsed
        assert headers.get("x-amzn-ErrorType"), headers


header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


@FUZZ
@given(
    name=st.one_of(st.sampled_from(["f", "g", "f:$LATEST", ARN]), st.text(max_size=80)),
    qualifier=st.one_of(st.none(), st.sampled_from(["$LATEST", "1", "live"]), st.text(max_size=20)),
    body=st.one_of(st.binary(max_size=2048),
                   st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                                lambda inner: st.lists(inner, max_size=4)
                                | st.dictionaries(st.text(max_size=5), inner, max_size=4),
                                max_leaves=30).map(lambda v: json.dumps(v).encode()),
                   st.integers(1, 3000).map(lambda depth: b"[" * depth + b"]" * depth)),
    invocation_type=st.one_of(st.none(), st.sampled_from(["Event", "DryRun", "RequestResponse"]),
                              header_text),
    log_type=st.one_of(st.none(), st.sampled_from(["Tail", "None"]), header_text),
    client_context=st.one_of(st.none(), header_text),
)  # fmt: skip
def test_invoke_answers_every_input_aws_shaped(
    port: int,
    name: str,
    qualifier: str | None,
    body: bytes,
    invocation_type: str | None,
    log_type: str | None,
    client_context: str | None,
) -> None:
    path = f"/2015-03-31/functions/{urllib.parse.quote(name, safe='')}/invocations"
    if qualifier is not None:
        path += "?Qualifier=" + urllib.parse.quote(qualifier, safe="")
    headers = {"Content-Type": "application/json"}
    for key, value in (("X-Amz-Invocation-Type", invocation_type), ("X-Amz-Log-Type", log_type),
                       ("X-Amz-Client-Context", client_context)):  # fmt: skip
        if value is not None:
            headers[key] = value
    _assert_aws_shaped(*_request(port, "POST", path, body, headers))


@FUZZ
@given(
    method=st.sampled_from(["GET", "PUT", "DELETE", "PATCH", "POST", "OPTIONS"]),
    path=st.one_of(
        st.sampled_from(["/2015-03-31/functions/", "/2015-03-31/functions/f",
                         "/2015-03-31/functions/f/configuration", "/2017-03-31/functions/f/policy",
                         "/2019-09-25/functions/f/event-invoke-config",
                         "/2021-10-31/functions/f/url",
                         "/2015-03-31/functions/f/versions", "/2015-03-31/functions/f/aliases",
                         "/_sandbox/metrics"]),
        st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=60)
        .map(lambda t: "/" + urllib.parse.quote(t, safe="/")),
    ),
    query=st.sampled_from(["", "?MaxItems=abc", "?Marker=%00", "?since=abc", "?Qualifier=$",
                           "?MaxItems=-1", "?FunctionVersion=x"]),
    body=st.one_of(st.binary(max_size=512), st.just(b"[" * 5000)),
)  # fmt: skip
def test_every_route_answers_bad_input_aws_shaped(
    port: int, method: str, path: str, query: str, body: bytes
) -> None:
    _assert_aws_shaped(*_request(port, method, path + query, body, {}))


@FUZZ
@given(garbage=st.binary(min_size=1, max_size=300))
def test_malformed_http_never_takes_the_sandbox_down(port: int, garbage: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(garbage + b"\r\n\r\n")
        conn.settimeout(2)
        with contextlib.suppress(TimeoutError, ConnectionError):
            conn.recv(4096)  # an answer (400) or a close: either is fine
    status, _, _ = _request(port, "GET", "/2015-03-31/functions/", b"", {})
    assert status == 200, "the sandbox still serves"  # (the route fuzz may have deleted f)


properties = st.dictionaries(
    st.sampled_from(["Handler", "Runtime", "CodeUri", "MemorySize", "Timeout", "Environment",
                     "EphemeralStorage", "Layers", "Architectures", "ReservedConcurrentExecutions",
                     "Events", "FunctionUrlConfig", "PackageType", "ImageUri", "Description",
                     "SnapStart", "AutoPublishAlias", "EventInvokeConfig", "DeadLetterQueue"]),
    st.recursive(st.none() | st.booleans() | st.integers(-5, 20000) | st.text(max_size=12),
                 lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8),
    max_size=8,
)  # fmt: skip


@FUZZ
@given(props=properties, raw=st.one_of(st.none(), st.text(max_size=200)))
def test_a_function_yaml_is_read_or_refused_with_a_config_error(
    tmp_path_factory: pytest.TempPathFactory, props: dict[str, Any], raw: str | None
) -> None:
    folder = tmp_path_factory.mktemp("fn") / "f"
    folder.mkdir()
    (folder / "app.py").write_text("def handler(e, c):\n    return e\n")
    text = raw if raw is not None else yaml.safe_dump(props)
    (folder / "function.yaml").write_text(text)
    with contextlib.suppress(ConfigError):
        load_function(folder)


@FUZZ
@given(
    props=properties,
    globals_=st.one_of(st.none(), properties),
    kind=st.sampled_from(["AWS::Serverless::Function", "AWS::Lambda::Function", "Other::Thing"]),
)
def test_a_template_is_read_or_refused_with_a_config_error(
    tmp_path_factory: pytest.TempPathFactory,
    props: dict[str, Any],
    globals_: dict[str, Any] | None,
    kind: str,
) -> None:
    folder = tmp_path_factory.mktemp("sam")
    (folder / "app.py").write_text("def handler(e, c):\n    return e\n")
    template: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {"Fn": {"Type": kind, "Properties": props}},
    }
    if globals_ is not None:
        template["Globals"] = {"Function": globals_}
    path = folder / "template.yaml"
    path.write_text(yaml.safe_dump(template))
    with contextlib.suppress(ConfigError):
        load_sam_template(path)


def test_a_malformed_request_is_one_line_in_the_log(
    port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp.server")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
        assert conn.recv(4096).startswith(b"HTTP/1.0 400")
    for _ in range(50):
        if any(r.name == "aiohttp.server" for r in caplog.records):
            break
        time.sleep(0.02)
    records = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert len(records) == 1, records
    assert records[0].exc_info is None and records[0].levelname == "WARNING"
    assert records[0].getMessage().startswith("malformed request: 400")
