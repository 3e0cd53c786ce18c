"""The attack of a web app on another's port: on Lambda each execution environment has a
network of its own; on the process backend they share the host's, so a second environment of
a Web Adapter function could not bind its app's port, and its adapter forwarded its events to
whichever app held it: another environment's, or another function's. Now an environment
whose port is taken gives its app a free one (in PORT), and one whose app ignores PORT fails
its INIT instead of reaching the other app (lambda_web_adapter.py own_port, served_by_app)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from lambda_sandbox.client import invoke
from lambda_sandbox.pytest_plugin import make_lambda_client
from lambda_sandbox.runner import SandboxOptions, SandboxThread
from tests.integration.test_isolation import call

pytestmark = [pytest.mark.integration, pytest.mark.root]

APP = Path(__file__).parent.parent / "isolation" / "web-app"
ADAPTER = "arn:aws:lambda:us-east-1:753240598075:layer:LambdaAdapterLayerX86:25"


def _definition(fixed_port: bool) -> str:
    fixed = "\n    FIXED_PORT: '1'" if fixed_port else ""
    return (
        "Handler: run.sh\nRuntime: python3.12\nCodeUri: .\nMemorySize: 128\nTimeout: 30\n"
        f"Layers: [{ADAPTER}]\nEnvironment:\n  Variables:\n"
        f"    AWS_LAMBDA_EXEC_WRAPPER: /opt/bootstrap{fixed}\n"
    )


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    root = tmp_path_factory.mktemp("ports")
    for name, fixed in (("web-first", False), ("web-second", False), ("web-fixed", True)):
        shutil.copytree(APP, root / name)
        (root / name / "function.yaml").write_text(_definition(fixed))
    options = SandboxOptions(functions_dir=root, embedded_aws=False, port=0, project_dir=root)
    with SandboxThread(options).start() as thread:
        yield make_lambda_client(thread.url)


def test_another_functions_app_on_the_same_port_gets_none_of_its_events(client: Any) -> None:
    first = call(client, "web-first", {"n": 1})
    assert first["who"] == "web-first" and first["port"] == 8080
    second = invoke(client, "web-second", b'{"n": 2}')
    assert second.ok, second.error
    answer = json.loads(second.payload)
    assert answer["who"] == "web-second", f"web-second's event reached {answer['who']}"
    assert answer["port"] != 8080 and "port 8080 is in use on this host" in second.log
    again = call(client, "web-first", {"n": 3})
    assert again["seen"] == 2, "web-first's app saw only its own two events"


def test_two_environments_of_one_function_have_an_app_each(client: Any) -> None:
    call(client, "web-first", {"warm": True})  # holds 8080
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: call(client, "web-second", {"sleep": 1.5}), range(2)))
    assert {a["who"] for a in answers} == {"web-second"}
    assert len({a["pid"] for a in answers}) == 2, f"one app served both environments: {answers}"


def test_an_app_that_ignores_port_fails_its_init_instead_of_reaching_another(
    client: Any,
) -> None:
    before = call(client, "web-first", {"count": True})["seen"]
    fixed = invoke(client, "web-fixed", b'{"secret": "for web-fixed only"}')
    assert not fixed.ok, f"web-fixed's event was answered: {fixed.payload!r}"
    assert "an app that listens on a fixed port cannot run beside it" in fixed.log, fixed.log
    after = call(client, "web-first", {"count": True})["seen"]
    assert after == before + 1, "the event never reached web-first's app"
