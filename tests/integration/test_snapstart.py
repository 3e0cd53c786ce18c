"""SnapStart on the process backend, through boto3 (issue 18; AWS's behaviour from the Lambda
docs: snapstart.html, snapstart-monitoring.html, snapstart-uniqueness.html,
snapstart-troubleshooting.html, snapstart-runtime-hooks-python.html).

- Publishing a SnapStart version answers Pending, INIT runs once (before-snapshot hooks too),
  the version becomes Active; its cold starts are restores: REPORT has Restore Duration and
  Billed Restore Duration, no Init Duration; AWS_LAMBDA_INITIALIZATION_TYPE is snap-start; the
  log stream variables are unset. $LATEST never uses the snapshot.
- An after-restore hook that re-seeds `random` runs in every restored environment, and two
  restored environments then draw different numbers; without it they draw the same, and the
  uniqueness warning and its metric say so.
- Python threads at the end of INIT fail the version with a reason naming them (never a
  hang); native threads (a library's pool, which a fork does not carry) are warned about;
  invoking a Pending version is SnapStartNotReadyException; an after-restore hook that raises is
  SnapStartException.
- Restored environments share their template's Runtime API port: another function that
  connects to it is refused.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambda_sandbox.log_lines import Report
from lambda_sandbox.pytest_plugin import make_lambda_client
from lambda_sandbox.runner import SandboxOptions, SandboxThread

pytestmark = [pytest.mark.integration, pytest.mark.root]

APP = """import _thread
import os
import random
import threading
import time

from snapshot_restore_py import register_after_restore, register_before_snapshot

time.sleep(float(os.environ.get("INIT_SLEEP", "0.3")))
HOOKS = []
if os.environ.get("THREAD") == "1":
    threading.Thread(target=time.sleep, args=(3600,), name="model-pool", daemon=True).start()
if os.environ.get("NATIVE_THREAD") == "1":  # not threading's: as a native library's pool
    _thread.start_new_thread(time.sleep, (3600,))


@register_before_snapshot
def before():
    HOOKS.append("before")


if os.environ.get("RESEED") == "1":
    @register_after_restore
    def reseed():
        random.seed()
        HOOKS.append("after")

if os.environ.get("HOOK_FAILS") == "1":
    @register_after_restore
    def broken():
        raise ValueError("cannot reconnect")


def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {"type": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"), "pid": os.getpid(),
            "draw": random.random(), "hooks": HOOKS,
            "stream": os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME"),
            "api": os.environ["AWS_LAMBDA_RUNTIME_API"]}
"""

SNOOP = """import http.client


def handler(event, context):
    host, port = event["api"].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=3)
    try:
        conn.request("GET", "/2018-06-01/runtime/invocation/next")
        resp = conn.getresponse()
        return {"status": resp.status, "body": resp.read().decode()[:200]}
    except OSError as exc:
        return {"status": 0, "body": repr(exc)}
"""

ALIASED = """import time

time.sleep(1.0)
MARK = "%s"


def handler(event, context):
    return {"mark": MARK, "version": context.function_version}
"""

SNAP = "SnapStart:\n  ApplyOn: PublishedVersions\n"
FUNCTIONS = {
    "reseeded": ("RESEED: '1'", SNAP),
    "same-seed": ("NONE: '1'", SNAP),
    "threads": ("THREAD: '1'", SNAP),
    "native-thread": ("NATIVE_THREAD: '1'", SNAP),
    "hook-fails": ("HOOK_FAILS: '1'", SNAP),
    "slow-init": ("INIT_SLEEP: '3'", SNAP),
    # the sandbox's streaming runtime (lambda_stream.py), not awslambdaric, runs this one
    "streamed": (
        "RESEED: '1'",
        SNAP + "FunctionUrlConfig:\n  AuthType: NONE\n  InvokeMode: RESPONSE_STREAM\n",
    ),
    "wrapped": ("AWS_LAMBDA_EXEC_WRAPPER: /var/task/wrapper.sh", SNAP),
}
# an exec wrapper that is a runtime of its own (as the Web Adapter is): it polls for events
# without asking for a snapshot
WRAPPER = """#!/bin/sh
exec "$1" -c 'import os, urllib.request
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
while True:
    urllib.request.urlopen(f"http://{api}/2018-06-01/runtime/invocation/next").read()'
"""


# INIT writes a file to /tmp (in the snapshot); each invoke writes its own under one name
TMP_APP = """import ctypes
import os
import time

with open("/tmp/from-init.txt", "w") as f:
    f.write("init")


def handler(event, context):
    with open("/tmp/mine.txt", "w") as f:
        f.write(event["me"])
    time.sleep(1.0)  # the other restore writes its own meanwhile
    with open("/tmp/mine.txt") as f, open("/tmp/from-init.txt") as g:
        answer = {"mine": f.read(), "init": g.read(), "pid": os.getpid()}
    # the attack: unmount this environment's /tmp to reach the snapshot's, which all share
    libc = ctypes.CDLL(None, use_errno=True)
    answer["umount"] = libc.umount2(b"/tmp", 2) or -ctypes.get_errno()
    with open("/proc/self/status") as f:
        answer["caps"] = [l.split()[1] for l in f if l.startswith(("CapEff", "CapPrm"))]
    return answer
"""


def _function(root: Path, name: str, code: str, variables: str, extra: str) -> None:
    folder = root / name
    folder.mkdir()
    (folder / "app.py").write_text(code)
    (folder / "function.yaml").write_text(
        "Handler: app.handler\nRuntime: python3.12\nCodeUri: .\nMemorySize: 256\nTimeout: 10\n"
        f"Environment:\n  Variables:\n    {variables}\n{extra}"
    )


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    root = tmp_path_factory.mktemp("snapstart")
    for name, (variables, extra) in FUNCTIONS.items():
        _function(root, name, APP, variables, extra)
    _function(root, "aliased", ALIASED % "first", "NONE: '1'", SNAP + "AutoPublishAlias: live\n")
    (root / "wrapped" / "wrapper.sh").write_text(WRAPPER)
    (root / "wrapped" / "wrapper.sh").chmod(0o755)
    _function(root, "snoop", SNOOP, "NONE: '1'", "")
    _function(root, "tmpwriter", TMP_APP, "NONE: '1'", SNAP)
    _function(root, "tuned", APP, "NONE: '1'", "")  # SnapStart off: tune turns it on and back
    options = SandboxOptions(functions_dir=root, embedded_aws=False, port=0, project_dir=root)
    with SandboxThread(options).start() as running:
        yield running


def _active(client: Any, name: str) -> str:
    published = client.publish_version(FunctionName=name)
    assert published["State"] == "Pending"
    assert published["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
    version = str(published["Version"])
    deadline = time.monotonic() + 60
    while True:
        state = client.get_function_configuration(FunctionName=name, Qualifier=version)
        if state["State"] != "Pending":
            return version if state["State"] == "Active" else f"{state['State']}: {state}"
        assert time.monotonic() < deadline
        time.sleep(0.1)


def _two_restores(client: Any, name: str, version: str) -> list[tuple[dict[str, Any], str]]:
    """Two concurrent invokes: two environments restored from the snapshot."""

    def call(_: int) -> tuple[dict[str, Any], str]:
        resp = client.invoke(
            FunctionName=name, Qualifier=version, LogType="Tail", Payload=b'{"sleep": 0.5}'
        )
        return json.loads(resp["Payload"].read()), base64.b64decode(resp["LogResult"]).decode()

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(call, range(2)))
    assert answers[0][0]["pid"] != answers[1][0]["pid"]
    return answers


def test_after_restore_hook_reseeds_each_restored_environment(sandbox: Any) -> None:
    client = make_lambda_client(sandbox.url)
    version = _active(client, "reseeded")
    answers = _two_restores(client, "reseeded", version)
    for answer, log in answers:
        assert answer["type"] == "snap-start"
        assert answer["hooks"] == ["before", "after"]  # INIT's before hook, this one's after
        assert answer["stream"] is None  # not available in SnapStart functions (AWS docs)
        report = Report.parse(log)
        assert report is not None and report.init_ms is None
        assert report.restore_ms is not None and report.billed_restore_ms is not None
        assert "SnapStart uniqueness" not in log
    assert answers[0][0]["draw"] != answers[1][0]["draw"]
    metrics = sandbox.sandbox.service.functions["reseeded"].metrics()
    assert metrics["SnapStartRestores"] == 2 and metrics["SnapStartUniquenessWarnings"] == 0
    # INIT ran once, at publish: its INIT_REPORT is in the function's log
    logs = [line for _, line in sandbox.sandbox.service.functions["reseeded"].log.recent]
    assert sum(line.startswith("INIT_REPORT Init Duration") for line in logs) == 1
    # $LATEST never uses the snapshot
    resp = client.invoke(FunctionName="reseeded", LogType="Tail")
    assert json.loads(resp["Payload"].read())["type"] == "on-demand"
    latest = Report.parse(base64.b64decode(resp["LogResult"]).decode())
    assert latest is not None and latest.init_ms is not None and latest.restore_ms is None


def test_the_streaming_runtime_is_snapshotted_and_runs_the_hooks(sandbox: Any) -> None:
    client = make_lambda_client(sandbox.url)
    version = _active(client, "streamed")
    answers = _two_restores(client, "streamed", version)
    for answer, log in answers:
        assert answer["type"] == "snap-start" and answer["hooks"] == ["before", "after"]
        report = Report.parse(log)
        assert report is not None and report.init_ms is None and report.restore_ms is not None
    assert answers[0][0]["draw"] != answers[1][0]["draw"]


def test_a_runtime_that_never_asks_for_a_snapshot_fails_at_once(sandbox: Any) -> None:
    client = make_lambda_client(sandbox.url)
    started = time.monotonic()
    outcome = _active(client, "wrapped")
    assert outcome.startswith("Failed"), outcome
    assert time.monotonic() - started < 30  # not the 130 s INIT limit
    reason = client.get_function_configuration(FunctionName="wrapped", Qualifier="1")
    assert "without asking for a snapshot" in reason["StateReason"]


def test_without_a_hook_restored_environments_repeat_random_and_are_warned(sandbox: Any) -> None:
    client = make_lambda_client(sandbox.url)
    version = _active(client, "same-seed")
    answers = _two_restores(client, "same-seed", version)
    assert answers[0][0]["draw"] == answers[1][0]["draw"]  # the snapshot's state, twice
    warned = [log for _, log in answers if "SnapStart uniqueness: Python's random module" in log]
    assert len(warned) == 1, answers  # the second restore matches the first
    assert "register_after_restore" in warned[0]
    metrics = sandbox.sandbox.service.functions["same-seed"].metrics()
    assert metrics["SnapStartUniquenessWarnings"] == 1


def test_threads_at_the_end_of_init_fail_the_version_with_the_reason(sandbox: Any) -> None:
    client = make_lambda_client(sandbox.url)
    outcome = _active(client, "threads")
    assert outcome.startswith("Failed"), outcome
    state = client.get_function_configuration(FunctionName="threads", Qualifier="1")
    assert state["StateReasonCode"] == "FunctionError"
    assert "model-pool" in state["StateReason"] and "after-restore hook" in state["StateReason"]
    with pytest.raises(ClientError) as err:
        client.invoke(FunctionName="threads", Qualifier="1")
    assert err.value.response["Error"]["Code"] == "ResourceConflictException"


def test_the_alias_moves_to_a_new_snapstart_version_once_it_is_active(sandbox: Any) -> None:
    """AutoPublishAlias with SnapStart: as a SAM deploy, the alias points at the new version
    only when its snapshot is taken; until then invokes of the alias answer from the old one."""
    from lambda_sandbox.hot_reload import reload

    client = make_lambda_client(sandbox.url)
    deadline = time.monotonic() + 60
    while True:  # the first version: the alias is there at once, ready after the snapshot
        try:
            first = json.load(client.invoke(FunctionName="aliased", Qualifier="live")["Payload"])
            break
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "SnapStartNotReadyException"
            assert time.monotonic() < deadline
            time.sleep(0.1)
    assert first == {"mark": "first", "version": "1"}
    app = Path(sandbox.sandbox.service.functions["aliased"].config.code_dir) / "app.py"
    app.write_text(ALIASED % "second")
    sandbox.call(lambda: reload(sandbox.sandbox, {app}, lambda _m: None))
    during = json.load(client.invoke(FunctionName="aliased", Qualifier="live")["Payload"])
    assert during == {"mark": "first", "version": "1"}  # version 2 is still being snapshotted
    assert client.get_function_configuration(FunctionName="aliased", Qualifier="2")["State"] == (
        "Pending"
    )
    while client.get_alias(FunctionName="aliased", Name="live")["FunctionVersion"] != "2":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    after = client.invoke(FunctionName="aliased", Qualifier="live", LogType="Tail")
    assert json.load(after["Payload"]) == {"mark": "second", "version": "2"}
    report = Report.parse(base64.b64decode(after["LogResult"]).decode())
    assert report is not None and report.restore_ms is not None


def test_native_threads_are_reported_at_publish_and_restores_run(sandbox: Any) -> None:
    client = make_lambda_client(sandbox.url)
    version = _active(client, "native-thread")
    logs = [line for _, line in sandbox.sandbox.service.functions["native-thread"].log.recent]
    assert any("SANDBOX SnapStart: 1 native thread(s)" in line for line in logs), logs
    answers = _two_restores(client, "native-thread", version)
    assert all(answer["type"] == "snap-start" for answer, _ in answers)


def test_a_pending_version_is_not_ready_and_a_failing_hook_is_reported(sandbox: Any) -> None:
    client = make_lambda_client(sandbox.url)
    published = client.publish_version(FunctionName="slow-init")
    with pytest.raises(ClientError) as err:
        client.invoke(FunctionName="slow-init", Qualifier=published["Version"])
    assert err.value.response["Error"]["Code"] == "SnapStartNotReadyException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    version = _active(client, "hook-fails")
    with pytest.raises(ClientError) as err:
        client.invoke(FunctionName="hook-fails", Qualifier=version)
    assert err.value.response["Error"]["Code"] == "SnapStartException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_another_function_cannot_use_the_snapshots_runtime_api(sandbox: Any) -> None:
    """The attack: read a restored environment's Runtime API address, poll it from another
    function for the next event."""
    client = make_lambda_client(sandbox.url)
    version = _active(client, "reseeded") if "1" not in _versions(client) else "1"
    victim = json.loads(client.invoke(FunctionName="reseeded", Qualifier=version)["Payload"].read())
    payload = json.dumps({"api": victim["api"]}).encode()
    stolen = json.loads(client.invoke(FunctionName="snoop", Payload=payload)["Payload"].read())
    assert stolen["status"] in (0, 403), stolen
    assert "belongs to another" in stolen["body"] or stolen["status"] == 0
    again = client.invoke(FunctionName="reseeded", Qualifier=version)
    assert "FunctionError" not in again


def _versions(client: Any) -> set[str]:
    listed = client.list_versions_by_function(FunctionName="reseeded")["Versions"]
    return {v["Version"] for v in listed}


def test_tune_measures_a_restore_and_prices_cold_starts_three_ways(sandbox: Any) -> None:
    """`sandbox tune --snapstart`: at the chosen size, a version published with SnapStart and
    restored, then deleted and SnapStart set back; the month priced on-demand, with SnapStart
    and with provisioned concurrency."""
    from lambda_sandbox.tools.tune import tune

    client = make_lambda_client(sandbox.url)
    result = tune(client, "tuned", [256, 512], num=2, payload=b"{}", snapstart=True,
                  monthly_invocations=30_000)  # fmt: skip
    cold = result.cold_starts
    assert cold is not None and cold.memory_mb == result.power
    assert cold.init_ms is not None and cold.restore_ms is not None, cold
    assert cold.billed_restore_ms is not None and cold.restore_ms < cold.init_ms
    assert all(value is not None for value in cold.bills().values())
    config = client.get_function_configuration(FunctionName="tuned")
    assert config["SnapStart"]["ApplyOn"] == "None"  # set back
    versions = client.list_versions_by_function(FunctionName="tuned")["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST"]  # the measuring version is gone


def test_each_restored_environment_has_a_tmp_of_its_own(sandbox: Any) -> None:
    """The attack on a shared /tmp: two restores of one snapshot write the same path at once;
    each reads back its own file, and both still see what INIT wrote (it is in the snapshot),
    as on Lambda."""
    client = make_lambda_client(sandbox.url)
    version = _active(client, "tmpwriter")

    def call(me: str) -> tuple[dict[str, Any], str]:
        resp = client.invoke(FunctionName="tmpwriter", Qualifier=version, LogType="Tail",
                             Payload=json.dumps({"me": me}).encode())  # fmt: skip
        return json.loads(resp["Payload"].read()), base64.b64decode(resp["LogResult"]).decode()

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(call, ["first", "second"]))
    assert answers[0][0].get("pid") != answers[1][0].get("pid"), answers
    assert [a["mine"] for a, _ in answers] == ["first", "second"], answers
    assert all(a["init"] == "init" for a, _ in answers)
    assert all("shares /tmp" not in log for _, log in answers)
    # no capability is left from the namespace that made the /tmp: it cannot be unmounted
    assert all(a["umount"] == -1 and a["caps"] == ["0000000000000000"] * 2 for a, _ in answers), (
        answers
    )
