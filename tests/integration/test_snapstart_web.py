"""SnapStart for a web app behind the Web Adapter (issue 18; build/web_adapter/snapstart):
the web app's own process is the snapshot, so what its INIT loaded is in every restored
environment, each with its own event loop, socket, port and adapter.

Served from tests/apps/fastapi-snapstart/template.yaml (AutoPublishAlias with SnapStart):
two concurrent invokes of the alias are two restores, with Restore Duration and no Init
Duration, the model INIT loaded (the same weights), the hooks run (before at publish, after in
each) and, re-seeded by the after-restore hook, different draws; a second round reaches the
same two environments warm. The same app on uvloop (a loop a fork cannot carry) fails to
publish, saying to run it on asyncio's loop, and so does a WSGI app under gunicorn (whose
workers stop in a fork whose pid is not INIT's), saying why.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from lambda_sandbox.log_lines import Report
from lambda_sandbox.pytest_plugin import make_lambda_client
from lambda_sandbox.runner import SandboxThread
from tests.integration.test_sam_apps import serve

pytestmark = [pytest.mark.integration, pytest.mark.root, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxThread]:
    thread = serve("fastapi-snapstart", tmp_path_factory.mktemp("web"), embedded_aws=False)
    try:
        yield thread
    finally:
        thread.stop()


def _event(path: str, query: str) -> bytes:
    return json.dumps({
        "version": "2.0", "rawPath": path, "rawQueryString": query, "headers": {},
        "requestContext": {"http": {"method": "GET", "path": path}},
        "isBase64Encoded": False,
    }).encode()  # fmt: skip


def _call(client: Any, query: str) -> tuple[dict[str, Any], str]:
    resp = client.invoke(FunctionName="SnapFunction", Qualifier="live", LogType="Tail",
                         Payload=_event("/whoami", query))  # fmt: skip
    answer = json.loads(resp["Payload"].read())
    assert answer.get("statusCode") == 200, answer
    return json.loads(answer["body"]), base64.b64decode(resp["LogResult"]).decode()


def _active(client: Any) -> str:
    deadline = time.monotonic() + 120
    while True:
        alias = client.get_alias(FunctionName="SnapFunction", Name="live")
        state = client.get_function_configuration(
            FunctionName="SnapFunction", Qualifier=alias["FunctionVersion"]
        )
        if state["State"] != "Pending":
            assert state["State"] == "Active", state
            return str(alias["FunctionVersion"])
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_each_restored_web_app_has_inits_model_and_its_own_process(web: SandboxThread) -> None:
    client = make_lambda_client(web.url)
    _active(client)
    with ThreadPoolExecutor(2) as pool:
        first = list(pool.map(lambda _: _call(client, "sleep=1.0"), range(2)))
    (a, log_a), (b, log_b) = first
    assert a["pid"] != b["pid"] and a["init_pid"] == b["init_pid"]  # two forks of one INIT
    assert a["pid"] != a["init_pid"]
    assert a["weights"] == b["weights"]  # the model INIT loaded, in both
    assert a["hooks"] == b["hooks"] == ["before", "after"]
    assert a["draw"] != b["draw"]  # re-seeded by the after-restore hook
    assert a["type"] == "snap-start"
    for app in (a, b):  # its adapter is a fork of it, not a new Python
        assert app["children"] == [app["cmdline"]], app
    for log in (log_a, log_b):
        report = Report.parse(log)
        assert report is not None and report.init_ms is None, log
        assert report.restore_ms is not None and report.billed_restore_ms is not None, log
        assert "SnapStart uniqueness" not in log
    # the second restore's app could not have the port the first one holds
    assert "is in use on this host by another execution environment" in log_a + log_b
    with ThreadPoolExecutor(2) as pool:
        second = list(pool.map(lambda _: _call(client, "sleep=1.0"), range(2)))
    assert {s["pid"] for s, _ in second} == {a["pid"], b["pid"]}  # warm, each its own
    for _, log in second:
        report = Report.parse(log)
        assert report is not None and report.restore_ms is None and report.init_ms is None
    metrics = web.sandbox.service.functions["SnapFunction"].metrics()
    assert metrics["SnapStartRestores"] == 2


def test_restores_are_faster_than_init(web: SandboxThread) -> None:
    client = make_lambda_client(web.url)
    _active(client)
    logs = [line for _, line in web.sandbox.service.functions["SnapFunction"].log.recent]
    init = [line for line in logs if line.startswith("INIT_REPORT Init Duration")]
    assert init, logs
    init_ms = float(init[0].split("Init Duration: ")[1].split(" ms")[0])
    assert init_ms > 1500  # INIT_SLEEP: the model load ran at publish
    restores = [Report.parse(line) for line in logs if line.startswith("REPORT")]
    restore_ms = [r.restore_ms for r in restores if r is not None and r.restore_ms is not None]
    assert restore_ms and max(restore_ms) < init_ms / 3, (init_ms, restore_ms)


def _failed(client: Any, name: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        state: dict[str, Any] = client.get_function_configuration(FunctionName=name, Qualifier="1")
        if state["State"] != "Pending" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert state["State"] == "Failed", state
    return state


def test_an_app_on_uvloop_fails_to_publish_saying_why(web: SandboxThread) -> None:
    state = _failed(make_lambda_client(web.url), "UvloopFunction")
    assert "uvloop" in state["StateReason"] and "--loop asyncio" in state["StateReason"], state


def test_an_app_under_gunicorn_fails_to_publish_saying_why(web: SandboxThread) -> None:
    """Restored, its workers stopped ("Parent changed"): the second call to one timed out."""
    state = _failed(make_lambda_client(web.url), "GunicornFunction")
    assert "gunicorn's master keeps the pid it had at INIT" in state["StateReason"], state
    assert "uvicorn" in state["StateReason"], state
