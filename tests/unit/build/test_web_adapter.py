"""The Web Adapter stand-in's event mapping: API Gateway and function URL events to HTTP
requests for the app, and the app's answers back in each event's format."""

from __future__ import annotations

import base64
import email.message
import json
import os
from typing import Any

import pytest

from lambda_sandbox.build.web_adapter import lambda_web_adapter as lwa


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> lwa.Settings:
    for name in ("AWS_LWA_PORT", "PORT", "AWS_LWA_REMOVE_BASE_PATH", "REMOVE_BASE_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_LWA_REMOVE_BASE_PATH", "/prod")
    return lwa.Settings()


def test_settings_default_as_the_web_adapter_documents(settings: lwa.Settings) -> None:
    assert settings.port == 8080 and settings.ready_path == "/"
    assert settings.healthy == set(range(100, 500)) and not settings.stream
    assert settings.pass_through == "/events"


def test_a_url_event_becomes_the_request_it_was(settings: lwa.Settings) -> None:
    event = {
        "version": "2.0", "rawPath": "/prod/items/7", "rawQueryString": "a=1&b=2",
        "cookies": ["s=1", "t=2"], "headers": {"x-h": "v", "content-length": "3"},
        "requestContext": {"http": {"method": "PUT"}, "requestId": "r"},
        "body": base64.b64encode(b"abc").decode(), "isBase64Encoded": True,
    }  # fmt: skip
    method, target, headers, body, is_http = lwa.request_of(event, settings)
    assert (method, target, body, is_http) == ("PUT", "/items/7?a=1&b=2", b"abc", True)
    assert ("cookie", "s=1; t=2") in headers and ("x-h", "v") in headers
    assert not any(k == "content-length" for k, _ in headers)  # the adapter sets its own
    context = dict(headers)["x-amzn-request-context"]
    assert json.loads(context)["requestId"] == "r"


def test_a_rest_api_event_keeps_repeated_values(settings: lwa.Settings) -> None:
    event = {
        "httpMethod": "GET", "path": "/q",
        "multiValueQueryStringParameters": {"tag": ["a", "b"]},
        "multiValueHeaders": {"accept": ["text/html", "application/json"]},
        "requestContext": {}, "body": None,
    }  # fmt: skip
    method, target, headers, body, _ = lwa.request_of(event, settings)
    assert (method, target, body) == ("GET", "/q?tag=a&tag=b", b"")
    assert [v for k, v in headers if k == "accept"] == ["text/html", "application/json"]


def test_any_other_event_is_posted_to_the_pass_through_path(settings: lwa.Settings) -> None:
    method, target, _, body, is_http = lwa.request_of({"Records": [1]}, settings)
    assert (method, target, is_http) == ("POST", "/events", False)
    assert json.loads(body) == {"Records": [1]}


class Answer:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = email.message.Message()
        for k, v in headers:
            self.headers[k] = v
        self._body = body

    def read(self) -> bytes:
        return self._body


def answer(event: dict[str, Any], status: int, headers: list[tuple[str, str]], body: bytes) -> Any:
    return lwa.buffered_answer(event, Answer(status, headers, body), True)  # type: ignore[arg-type]


def test_a_url_answer_has_cookies_apart_and_binary_in_base64() -> None:
    got = answer({"version": "2.0"}, 201,
                 [("content-type", "image/png"), ("set-cookie", "a=1"), ("set-cookie", "b=2")],
                 b"\x89PNG")  # fmt: skip
    assert got["statusCode"] == 201 and got["isBase64Encoded"] is True
    assert base64.b64decode(got["body"]) == b"\x89PNG"
    assert got["cookies"] == ["a=1", "b=2"] and "set-cookie" not in got["headers"]


def test_a_rest_api_answer_has_multi_value_headers() -> None:
    headers = [("content-type", "application/json"), ("x-a", "1"), ("x-a", "2")]
    got = answer({"httpMethod": "GET"}, 200, headers, b'{"ok":1}')
    assert got["body"] == '{"ok":1}' and got["isBase64Encoded"] is False
    assert got["multiValueHeaders"]["x-a"] == ["1", "2"]


def test_a_taken_port_gives_the_app_a_free_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another environment's app holds the port: this one's app is told another, in PORT."""
    import socket

    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        monkeypatch.setenv("PORT", str(taken))
        monkeypatch.setenv("AWS_LWA_PORT", str(taken))
        s = lwa.Settings()
        lwa.own_port(s)
        assert s.taken == taken and s.port != taken and s.ready_port == s.port
        assert os.environ["PORT"] == os.environ["AWS_LWA_PORT"] == str(s.port)
    monkeypatch.setenv("PORT", str(taken))  # free now: kept as the function set it
    monkeypatch.delenv("AWS_LWA_PORT")
    free = lwa.Settings()
    lwa.own_port(free)
    assert free.port == taken and free.taken is None


def test_the_listener_must_be_the_apps_own() -> None:
    """A socket on the port held by some other process is not the app's; the app's own is."""
    import socket
    import subprocess
    import sys

    app = subprocess.Popen(
        [sys.executable, "-c", "import socket, sys, time; s = socket.socket(); "
         "s.bind(('127.0.0.1', 0)); s.listen(); print(s.getsockname()[1], flush=True); "
         "time.sleep(30)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert app.stdout is not None
        app_port = int(app.stdout.readline())
        assert lwa.served_by_app(app, app_port) is True  # type: ignore[arg-type]
        with socket.socket() as other:
            other.bind(("127.0.0.1", 0))
            other.listen()
            assert lwa.served_by_app(app, other.getsockname()[1]) is False  # type: ignore[arg-type]
    finally:
        app.kill()
        app.wait()
        if app.stdout is not None:
            app.stdout.close()
