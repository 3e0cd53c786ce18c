"""Functions are untrusted code: each test is an attack a function could make on another
function, the host or the sandbox (tests/isolation/attacker), and asserts it gets nothing.

What holds it (process backend, as root): every environment runs as a uid of its own from the
sandbox's range (environments/identity.py) and sees only its own processes (/proc mounted with
hidepid=invisible in its mount namespace), so it can neither read another's /proc/<pid>
(environ, root/tmp) nor signal it; each Runtime API port answers only connections from its own
environment's uid (runtime_api/peer.py); the sandbox's endpoints refuse connections from any
environment's uid while the Lambda API stays open to them; the root shows nothing writable
but the environment's own /tmp, and nothing of the host's /tmp.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambda_sandbox.pytest_plugin import make_lambda_client
from lambda_sandbox.runner import SandboxOptions, SandboxThread

pytestmark = [pytest.mark.integration, pytest.mark.root]

HERE = Path(__file__).parent.parent / "isolation"
SECRET_ENV = "victim-env-secret-4711"
SECRET_TMP = "victim-tmp-secret-0815"


@pytest.fixture(scope="module")
def isolation_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxThread]:
    # the functions' folders under the host's /tmp: the case where the host's /tmp leaked
    root = tmp_path_factory.mktemp("isolation")
    for name in ("attacker", "victim"):
        shutil.copytree(HERE / name, root / name)
    options = SandboxOptions(functions_dir=root, embedded_aws=False, port=0, project_dir=root)
    with SandboxThread(options).start() as thread:
        yield thread


@pytest.fixture(scope="module")
def client(isolation_sandbox: SandboxThread) -> Any:
    return make_lambda_client(isolation_sandbox.url)


def call(client: Any, function: str, event: dict[str, Any]) -> dict[str, Any]:
    resp = client.invoke(FunctionName=function, Payload=json.dumps(event).encode())
    body = json.loads(resp["Payload"].read())
    assert "FunctionError" not in resp, body
    return body  # type: ignore[no-any-return]


def test_a_function_cannot_take_another_environments_events(client: Any) -> None:
    """The attack of issue 17: poll every other Runtime API port's /next while the victim is
    invoked, and answer what arrives with a forged response."""
    call(client, "victim", {"warm": True})
    result: dict[str, Any] = {}
    attacker = threading.Thread(
        target=lambda: result.update(call(client, "attacker", {"attack": "steal_events",
                                                                "seconds": 6}))
    )  # fmt: skip
    attacker.start()
    time.sleep(2.0)  # the attacker's /next requests are waiting on every port it found
    for i in range(3):
        answer = call(client, "victim", {"secret": f"event-secret-{i}"})
        assert answer.get("victim") is True, f"the caller got a forged answer: {answer}"
        assert answer["event"] == {"secret": f"event-secret-{i}"}
    attacker.join(30)
    assert result["tried"], "the attacker found Runtime API ports to try"
    assert result["stolen"] == [], "an event reached another environment"
    assert result["forged"] == []


def test_a_function_cannot_see_read_or_signal_another(client: Any) -> None:
    victim = call(client, "victim", {"warm": True})
    found = call(client, "attacker", {"attack": "read_processes", "kill": victim["pid"]})
    assert found["uid"] != victim["uid"], "each environment runs as a uid of its own"
    seen = [p["pid"] for p in found["visible"]]
    assert victim["pid"] not in seen, "the victim's process is invisible"
    assert all(p["uid"] == found["uid"] for p in found["visible"]), found["visible"]
    assert not [e for e in found["environ"] if SECRET_ENV in e["environ"]]
    assert not [t for t in found["tmp"] if "victim-secret.txt" in t["files"]]
    assert found["signalled"] == [] and found["killed"] is False
    assert found["cmdline_1"] is None, "the host's /proc/1 is not visible"
    again = call(client, "victim", {"after": "attack"})
    assert again["pid"] == victim["pid"], "the victim's environment survived"


def test_the_hosts_tmp_is_invisible_and_nothing_outside_tmp_is_writable(client: Any) -> None:
    marker = f"host-secret-{uuid.uuid4().hex}"
    host_file = Path("/tmp") / marker
    host_file.write_text("host-tmp-secret")
    host_file.chmod(0o644)  # readable by anyone on the host: only isolation can hide it
    try:
        found = call(client, "attacker", {"attack": "host_files", "marker": marker})
    finally:
        host_file.unlink()
    assert found["read"] == [], found["read"]
    assert found["written"] == [], found["written"]
    assert not found.get("errors"), found.get("errors")
    assert not list(Path("/tmp").glob("attacker-was-here-*"))


def test_the_sandbox_endpoints_are_closed_to_functions_the_lambda_api_is_not(
    client: Any,
) -> None:
    found = call(client, "attacker", {"attack": "sandbox_api"})
    assert found["endpoint"].startswith("http://"), "functions get AWS_ENDPOINT_URL_LAMBDA"
    assert found["reached"] == {}, f"a function reached the sandbox's endpoints: {found}"
    for status, body in found["refused"].values():
        assert status == 403 and json.loads(body)["Type"] == "User", body
    assert found["lambda_api"]["victim"] is True, found["lambda_api"]
    assert found["lambda_api"]["event"] == {"from": "attacker"}
