"""The management API through boto3, the pytest plugin, and the CLI's lifecycle."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner

from lambda_sandbox.aws_side import free_port
from lambda_sandbox.cli import main
from lambda_sandbox.pytest_plugin import make_lambda_client

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]
pytest_plugins = ["pytester"]


def test_function_configuration_api(probe_client: Any) -> None:
    names = [f["FunctionName"] for f in probe_client.list_functions()["Functions"]]
    assert {"probe", "probe-mem", "probe-reserved"} <= set(names)
    fn = probe_client.get_function(FunctionName="probe-reserved")
    cfg = fn["Configuration"]
    assert cfg["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:probe-reserved"
    assert (cfg["MemorySize"], cfg["Timeout"], cfg["State"]) == (256, 30, "Active")
    assert cfg["EphemeralStorage"] == {"Size": 512}
    assert fn["Concurrency"] == {"ReservedConcurrentExecutions": 1}
    probe_client.get_waiter("function_active_v2").wait(FunctionName="probe")

    probe_client.put_function_concurrency(FunctionName="probe", ReservedConcurrentExecutions=5)
    got = probe_client.get_function_concurrency(FunctionName="probe")
    assert got["ReservedConcurrentExecutions"] == 5
    probe_client.delete_function_concurrency(FunctionName="probe")
    assert "ReservedConcurrentExecutions" not in probe_client.get_function_concurrency(
        FunctionName="probe"
    )

    updated = probe_client.update_function_configuration(
        FunctionName="probe", Environment={"Variables": {"GREETING": "hi"}}
    )
    assert updated["Environment"] == {"Variables": {"GREETING": "hi"}}
    out = probe_client.invoke(
        FunctionName="probe", Payload=b'{"action": "getenv", "name": "GREETING"}'
    )
    assert json.loads(out["Payload"].read()) == {"GREETING": "hi"}, "new environments see it"
    unvalidated = make_lambda_client(probe_client.meta.endpoint_url, validate=False)
    with pytest.raises(ClientError) as info:
        unvalidated.update_function_configuration(FunctionName="probe", MemorySize=64)
    # AWS's answer (the Lambda API's range check, not a template reader's, with no file path)
    assert info.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "1 validation error detected: Value '64' at 'memorySize' failed to satisfy "
        "constraint: Member must have value greater than or equal to 128",
    }


def test_dry_run_and_event_invocations(probe_client: Any) -> None:
    dry = probe_client.invoke(FunctionName="probe", InvocationType="DryRun")
    assert dry["StatusCode"] == 204
    event = probe_client.invoke(FunctionName="probe", InvocationType="Event", Payload=b"{}")
    assert event["StatusCode"] == 202


def test_pytest_plugin_fixtures(pytester: pytest.Pytester) -> None:
    shutil.copytree(ROOT / "functions" / "hello", pytester.path / "fns" / "hello")
    pytester.makeini("[pytest]\nsandbox_functions = fns\n")
    pytester.makepyfile(
        """
        import json

        def test_hello(lambda_client):
            resp = lambda_client.invoke(FunctionName="hello", Payload=b'{"name": "plugin"}')
            assert json.load(resp["Payload"])["hello"] == "plugin"
        """
    )
    result = pytester.runpytest_subprocess("-k", "hello")
    assert result.ret == 0, result.stdout.str()[-3000:]
    result.assert_outcomes(passed=1)


def test_cli_ls_build_and_bad_definition(tmp_path: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(main, ["ls", "--functions", str(ROOT / "tests" / "functions")])
    assert listed.exit_code == 0 and "probe-reserved" in listed.output
    bad = tmp_path / "fns" / "broken"
    (bad / "src").mkdir(parents=True)
    (bad / "function.yaml").write_text("Handler: app.handler\nMemorySize: 20000\n")
    failed = runner.invoke(main, ["ls", "--functions", str(tmp_path / "fns")])
    assert failed.exit_code == 1
    assert "MemorySize: 20000 is not valid; allowed: an integer from 128 to 10240" in (
        failed.output
    )


@pytest.mark.root
def test_up_serves_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lambda_sandbox.cli",
            "up",
            "--functions",
            str(ROOT / "functions"),
            "--function",
            "hello",
            "--port",
            str(port),
            "--no-aws",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_sandbox/info", timeout=2) as r:
                    info = json.load(r)
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
                time.sleep(0.2)
        assert info["enforcement"]["memory"] is True
        client = make_lambda_client(url)
        body = json.load(client.invoke(FunctionName="hello", Payload=b'{"name": "up"}')["Payload"])
        assert body["hello"] == "up"
        runtime_pids = _runtime_pids(proc.pid)
        assert runtime_pids, "a runtime process serves hello"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "Lambda sandbox on" in out
    assert not [p for p in runtime_pids if Path(f"/proc/{p}").exists()], "no runtime left"
    leftovers = list(Path("/sys/fs/cgroup/memory").rglob(f"s{proc.pid}-*"))
    assert leftovers == [], f"cgroups left behind: {leftovers}"
    log = (tmp_path / ".sandbox" / "logs" / "hello.log").read_text()
    assert "REPORT RequestId:" in log


def _parent(proc_dir: Path) -> int:
    try:
        for line in (proc_dir / "status").read_text().splitlines():
            if line.startswith("PPid:"):
                return int(line.split()[1])
    except OSError:
        pass
    return -1


def _runtime_pids(parent: int) -> list[int]:
    pids = []
    for status in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            cmd = status.read_bytes().split(b"\0")
        except OSError:
            continue
        runtime = any(part.endswith(b"/bootstrap.py") for part in cmd)  # /var/runtime/bootstrap.py
        if runtime and b"app.handler" in cmd and _parent(status.parent) == parent:
            pids.append(int(status.parent.name))
    return pids


def test_logs_command_reads_the_stream_over_http(probe_sandbox: Any, probe_client: Any) -> None:
    probe_client.invoke(FunctionName="probe", Payload=b"{}")
    result = CliRunner().invoke(main, ["logs", "probe", "--endpoint", probe_sandbox.url])
    missing = CliRunner().invoke(main, ["logs", "nothing", "--endpoint", probe_sandbox.url])
    assert result.exit_code == 0 and "REPORT RequestId:" in result.output
    assert missing.exit_code == 1 and "Function not found" in missing.output
    # a bad query is a 400 that says what to give, not a 500
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{probe_sandbox.url}/_sandbox/logs/probe?since=abc")
    assert info.value.code == 400
    assert "Unix time" in json.loads(info.value.read())["message"]


def test_stats_command_prints_the_metrics(probe_sandbox: Any, probe_client: Any) -> None:
    probe_client.invoke(FunctionName="probe", Payload=b"{}")
    result = CliRunner().invoke(main, ["stats", "--endpoint", probe_sandbox.url])
    assert result.exit_code == 0, result.output
    assert "probe-reserved" in result.output and "probe-mem" in result.output
