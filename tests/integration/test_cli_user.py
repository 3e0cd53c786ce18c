"""The `sandbox` command as a user runs it: `sandbox up` in a project, the other commands from
other folders, output for pipes, exit codes, hot reload, one-line errors.

Each `sandbox` here is a subprocess with its own registry of running sandboxes
($XDG_RUNTIME_DIR), so the tests find only the sandbox they started.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambda_sandbox.aws_side import free_port
from lambda_sandbox.pytest_plugin import make_lambda_client

pytestmark = [pytest.mark.integration, pytest.mark.root]
SANDBOX = [sys.executable, "-m", "lambda_sandbox.cli"]

HANDLER_V1 = """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("a message\\nover two lines")
    return {"version": 1, "name": event.get("name", "world")}
"""
HANDLER_V2 = HANDLER_V1.replace('"version": 1', '"version": 2')


def run(
    args: list[str], cwd: Path, env: dict[str, str], **kw: Any
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SANDBOX, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120, **kw)  # fmt: skip


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("user-project")
    fn = root / "functions" / "greet"
    fn.mkdir(parents=True)
    (fn / "function.yaml").write_text("Handler: app.handler\nRuntime: python3.11\nCodeUri: .\n")
    (fn / "app.py").write_text(HANDLER_V1)
    return root


@pytest.fixture(scope="module")
def user_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    runtime = tmp_path_factory.mktemp("xdg-runtime")
    env = {k: v for k, v in os.environ.items() if k != "SANDBOX_URL"}
    env["XDG_RUNTIME_DIR"] = str(runtime)  # this module's own registry of running sandboxes
    env["CI"] = "true"  # progress as plain lines
    return env


@pytest.fixture(scope="module")
def up(project: Path, user_env: dict[str, str]) -> Iterator[str]:
    """`sandbox up` in the project folder; yields its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [*SANDBOX, "up", "--port", str(port), "--no-aws"],
        cwd=project,
        env=user_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    registry = Path(user_env["XDG_RUNTIME_DIR"]) / "lambda-sandbox"
    while not list(registry.glob("*.json")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "sandbox up did not register itself"
        time.sleep(0.2)
    try:
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
        assert not list(registry.glob("*.json")), "a stopped sandbox leaves the registry"


def test_invoke_from_another_folder_pipes_the_payload(
    up: str, user_env: dict[str, str], tmp_path: Path
) -> None:
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    piped = subprocess.run(
        f"{' '.join(SANDBOX)} invoke greet --payload '{{\"name\": \"pipe\"}}' "
        f"| {sys.executable} -m json.tool",
        shell=True, cwd=elsewhere, env=user_env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout) == {"version": 1, "name": "pipe"}
    assert "REPORT RequestId:" in piped.stderr, "the log tail goes to stderr, not the pipe"


def test_a_function_error_exits_1_with_the_error_on_stdout_and_the_traceback_on_stderr(
    up: str, user_env: dict[str, str], tmp_path: Path
) -> None:
    result = run(["invoke", "greet", "--payload", '{"fail": true}'], tmp_path, user_env)
    assert result.returncode == 1
    error = json.loads(result.stdout)  # exactly the function's answer
    assert (error["errorType"], error["errorMessage"]) == (
        "ValueError",
        "a message\nover two lines",
    )
    lines = result.stderr.splitlines()
    assert "Traceback (most recent call last):" in lines, "the traceback keeps its lines"
    # the runtime indents frames with no-break spaces, as in Lambda's logs
    assert any(line.lstrip("\xa0 ").startswith("File ") for line in lines), repr(result.stderr)


def test_logs_from_another_folder_print_the_report_line(
    up: str, user_env: dict[str, str], tmp_path: Path
) -> None:
    run(["invoke", "greet", "-q"], tmp_path, user_env)
    result = run(["logs", "greet", "-n", "20"], tmp_path, user_env)
    assert result.returncode == 0, result.stderr
    assert "REPORT RequestId:" in result.stdout and "Billed Duration:" in result.stdout
    missing = run(["logs", "nothing"], tmp_path, user_env)
    assert missing.returncode == 1 and "Function not found" in missing.stderr


def test_ls_and_stats_print_json_for_scripts(
    up: str, project: Path, user_env: dict[str, str], tmp_path: Path
) -> None:
    listed = run(["ls", "-o", "json"], project, user_env)
    assert listed.returncode == 0, listed.stderr
    (fn,) = json.loads(listed.stdout)
    assert (fn["function"], fn["memory_mb"], fn["timeout_s"]) == ("greet", 128, 3.0)
    stats = run(["stats", "-o", "json"], tmp_path, user_env)
    assert json.loads(stats.stdout)["greet"]["Invocations"] >= 1


def test_a_piped_table_prints_every_value_whole(
    up: str, project: Path, user_env: dict[str, str]
) -> None:
    long = project / "functions" / "a-function-with-a-rather-long-name-indeed"
    shutil.copytree(project / "functions" / "greet", long)
    try:
        listed = run(["ls"], project, user_env)
    finally:
        shutil.rmtree(long)
    assert "a-function-with-a-rather-long-name-indeed" in listed.stdout
    assert "…" not in listed.stdout


def test_an_edited_handler_answers_within_2_s_and_no_request_fails(up: str, project: Path) -> None:
    client = make_lambda_client(up)
    answers: list[Any] = []
    failures: list[str] = []
    stop = threading.Event()

    def keep_invoking() -> None:
        while not stop.is_set():
            try:
                resp = client.invoke(FunctionName="greet", Payload=b"{}")
                body = json.loads(resp["Payload"].read())
                if resp.get("FunctionError"):
                    failures.append(str(body))
                answers.append(body.get("version"))
            except Exception as exc:  # any failed request is a failure of the reload
                failures.append(repr(exc))

    worker = threading.Thread(target=keep_invoking)
    worker.start()
    try:
        time.sleep(0.5)
        edited = time.monotonic()
        (project / "functions" / "greet" / "app.py").write_text(HANDLER_V2)
        seen = None
        while time.monotonic() - edited < 10:
            resp = client.invoke(FunctionName="greet", Payload=b"{}")
            if json.loads(resp["Payload"].read()).get("version") == 2:
                seen = time.monotonic() - edited
                break
            time.sleep(0.05)
        time.sleep(0.5)
    finally:
        stop.set()
        worker.join(30)
        (project / "functions" / "greet" / "app.py").write_text(HANDLER_V1)
    print(f"new answer {seen:.2f} s after the edit; {len(answers)} invokes during the reload")
    assert seen is not None and seen < 2.0, f"the new code answered after {seen} s"
    assert failures == []
    assert 1 in answers and 2 in answers and answers.index(2) > answers.index(1)


def test_a_busy_port_is_a_one_line_error_naming_the_option(
    project: Path, user_env: dict[str, str]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run(["up", "--port", str(port), "--no-aws", "--no-watch"], project, user_env)
    assert result.returncode == 1
    assert f"127.0.0.1:{port}" in result.stderr and "--port" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_error_with_brackets_is_printed_whole(tmp_path: Path, user_env: dict[str, str]) -> None:
    # the CLI prints errors as text, not rich markup: "[x86_64] or [arm64]" survives
    (tmp_path / "template.yaml").write_text(
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        "      CodeUri: .\n      Handler: app.handler\n      Runtime: python3.12\n"
        "      Architectures: [x86_64, arm64]\n"
    )
    result = run(["ls"], tmp_path, user_env)
    assert result.returncode == 1
    assert "allowed: [x86_64] or [arm64]" in " ".join(result.stderr.split())
