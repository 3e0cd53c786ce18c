"""The sandbox as users get it: a wheel built from this checkout, installed non-editable into a
new virtualenv, used from folders that have nothing to do with the checkout.

A user's project (a function and a pytest file with the `lambda_client` fixture) runs its
tests; `sandbox up` serves it; `sandbox invoke` from a third folder reaches it; `sandbox logs`
prints its REPORT line. Nothing of the checkout is on the path: only the wheel's files are.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambda_sandbox.aws_side import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1200)]
ROOT = Path(__file__).parents[2]

USER_TEST = """
import json


def test_greet(lambda_client):
    resp = lambda_client.invoke(FunctionName="greet", Payload=b'{"name": "wheel"}')
    assert json.load(resp["Payload"]) == {"hello": "wheel"}


def test_greet_is_configured_as_declared(lambda_client):
    config = lambda_client.get_function_configuration(FunctionName="greet")
    assert (config["MemorySize"], config["Timeout"]) == (256, 5)
"""


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtualenv with the wheel installed (its dependencies from the index) and pytest."""
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(ROOT), "-w", str(work)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    (wheel,) = work.glob("lambda_sandbox-*.whl")
    env_dir = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
    pip = [str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet",
           "--disable-pip-version-check"]  # fmt: skip
    proc = subprocess.run([*pip, str(wheel), "pytest"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return env_dir


@pytest.fixture(scope="module")
def user_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "SANDBOX_URL", "VIRTUAL_ENV") and not k.startswith("TOX_")
    }
    env["XDG_RUNTIME_DIR"] = str(tmp_path_factory.mktemp("xdg"))
    env["CI"] = "true"
    return env


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("my-project")
    fn = root / "functions" / "greet"
    fn.mkdir(parents=True)
    (fn / "function.yaml").write_text(
        "Handler: app.handler\nRuntime: python3.11\nCodeUri: .\nMemorySize: 256\nTimeout: 5\n"
    )
    (fn / "app.py").write_text(
        "def handler(event, context):\n    return {'hello': event.get('name', 'world')}\n"
    )
    (root / "tests").mkdir()
    (root / "tests" / "test_greet.py").write_text(USER_TEST)
    return root


def test_the_wheel_carries_its_data_and_nothing_of_the_checkout(venv: Path) -> None:
    site = next((venv / "lib").glob("python3*/site-packages"))
    package = site / "lambda_sandbox"
    assert (package / "data" / "limits" / "lambda.toml").is_file()
    assert (package / "data" / "docker" / "lambda-python" / "Dockerfile").is_file()
    assert (package / "build" / "streaming" / "lambda-stream-wrapper").is_file()
    assert not (site / "limits").exists() and not (site / "sandbox").exists()


def test_a_users_pytest_file_passes_with_the_fixtures(
    venv: Path, project: Path, user_env: dict[str, str]
) -> None:
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=project, env=user_env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "2 passed" in proc.stdout


@pytest.fixture(scope="module")
def running(venv: Path, project: Path, user_env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [str(venv / "bin" / "sandbox"), "up", "--port", str(port)],
        cwd=project, env=user_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    registry = Path(user_env["XDG_RUNTIME_DIR"]) / "lambda-sandbox"
    deadline = time.monotonic() + 300
    while not list(registry.glob("*.json")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "sandbox up did not start"
        time.sleep(0.3)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)


def test_sandbox_commands_from_a_third_folder_reach_the_running_sandbox(
    venv: Path, running: str, user_env: dict[str, str], tmp_path: Path
) -> None:
    third = tmp_path / "third"
    third.mkdir()
    sandbox = str(venv / "bin" / "sandbox")
    invoked = subprocess.run(
        [sandbox, "invoke", "greet", "--payload", '{"name": "third"}'],
        cwd=third, env=user_env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert invoked.returncode == 0, invoked.stderr
    assert json.loads(invoked.stdout) == {"hello": "third"}
    logs = subprocess.run(
        [sandbox, "logs", "greet"], cwd=third, env=user_env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert logs.returncode == 0, logs.stderr
    assert "REPORT RequestId:" in logs.stdout and "Memory Size: 256 MB" in logs.stdout


def test_sandbox_ls_reads_the_project(venv: Path, project: Path, user_env: dict[str, str]) -> None:
    listed = subprocess.run(
        [str(venv / "bin" / "sandbox"), "ls", "-o", "json"],
        cwd=project, env=user_env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert [f["function"] for f in json.loads(listed.stdout)] == ["greet"]
