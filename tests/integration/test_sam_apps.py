"""Real SAM applications (tests/apps/, shaped like the public ones), each served from its own
template.yaml, unchanged, and called the way their users call them: boto3, the API Gateway
route, the function URL, the CLI from the app's folder."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from lambda_sandbox.build.runtimes import find_python
from lambda_sandbox.pytest_plugin import make_lambda_client
from lambda_sandbox.runner import SandboxOptions, SandboxThread
from tests.conftest import invoke

APPS = Path(__file__).parents[1] / "apps"
pytestmark = [pytest.mark.integration, pytest.mark.root, pytest.mark.slow]


def serve(app: str, project_dir: Path, **options: Any) -> SandboxThread:
    """The app served from its template, its builds kept out of the repository."""
    opts = SandboxOptions(template=APPS / app / "template.yaml", port=0, aws_port=0,
                          project_dir=project_dir, **options)  # fmt: skip
    return SandboxThread(opts).start(timeout_s=900)


@pytest.fixture(scope="module")
def runtimes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SandboxThread, Any]]:
    assert find_python("3.12") is not None, "the host needs a CPython 3.12 (pyenv, uv, system)"
    thread = serve("lambda-runtimes", tmp_path_factory.mktemp("runtimes"), embedded_aws=False)
    try:
        yield thread, make_lambda_client(thread.url)
    finally:
        thread.stop()


def test_a_function_sees_lambdas_filesystem(runtimes: tuple[SandboxThread, Any]) -> None:
    _, client = runtimes
    _, seen, _ = invoke(client, "ProbeFunction", {})
    assert seen["cwd"] == "/var/task"
    assert seen["version"] == [3, 12] and seen["executable"] == "/var/lang/bin/python3.12"
    assert seen["runtime_dir"] == "/var/runtime" and seen["task_root"] == "/var/task"
    assert seen["boto3"] == "/var/runtime/boto3/__init__.py"  # LAMBDA_RUNTIME_DIR holds boto3
    assert {"awslambdaric", "boto3", "botocore"} <= set(seen["runtime_dir_holds"])
    assert seen["path"] == "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin"
    assert seen["ld_library_path"].startswith("/var/lang/lib:")
    assert seen["sys_path"][:4] == [
        "/var/task", "/opt/python/lib/python3.12/site-packages", "/opt/python", "/var/runtime",
    ]  # fmt: skip
    assert seen["python_on_path"] == ["python", "python3"]
    assert seen["uid"] != 0 and seen["task_writable"] is False
    # Lambda's limits and shell variables (LocalStack's snapshots test_runtime_ulimits and
    # test_introspection_invoke, recorded against AWS)
    assert seen["ulimits"] == {"CORE": [10737418240, 10737418240], "MEMLOCK": [65536, 65536],
                               "NOFILE": [1024, 1024]}  # fmt: skip
    assert seen["environment"]["SHLVL"] == "0" and seen["environment"]["PWD"] == "/var/task"
    # nothing of the host but its system folders: no /root, /home, /work, no host /tmp
    assert set(seen["root"]) <= {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "opt",
                                 "proc", "sbin", "tmp", "usr", "var"}  # fmt: skip
    host_paths = [str(APPS), sys.prefix, str(Path.home())]
    leaked = {k: v for k, v in seen["environment"].items() if any(p in v for p in host_paths)}
    assert leaked == {}, "no host path in the function's environment"


def test_stack_traces_name_var_task(runtimes: tuple[SandboxThread, Any]) -> None:
    _, client = runtimes
    resp, body, _ = invoke(client, "ProbeFunction", {"fail": True})
    assert resp["FunctionError"] == "Unhandled" and body["errorType"] == "RuntimeError"
    assert body["stackTrace"] and all("/var/task/app.py" in f for f in body["stackTrace"])


def test_a_custom_runtime_runs_its_bootstrap(runtimes: tuple[SandboxThread, Any]) -> None:
    # provided.al2023, a #!/bin/sh bootstrap with `set -euo pipefail`: bash, as on Amazon Linux
    _, client = runtimes
    _, body, log = invoke(client, "CustomRuntimeFunction", {"k": 1})
    assert body == {"custom": True, "event": {"k": 1}, "cwd": "/var/task",
                    "runtime_dir": "/var/runtime"}, log  # fmt: skip


def test_an_exec_wrapper_runs_the_runtime(runtimes: tuple[SandboxThread, Any]) -> None:
    _, client = runtimes
    _, body, _ = invoke(client, "WrappedFunction", {})
    # the wrapper got the runtime's command line: python -S /var/runtime/bootstrap.py handler
    assert body == {"wrapped_by": "wrapper.sh", "argc": "4", "argv0": "/var/runtime/bootstrap.py"}


def test_hello_world_with_policies_tracing_and_logging_config(tmp_path: Path) -> None:
    thread = serve("hello-world", tmp_path)
    try:
        client = make_lambda_client(thread.url)
        _, body, _ = invoke(client, "HelloWorldFunction", {})
        message = json.loads(body["body"])
        assert message["message"] == "hello world" and message["requests"]
        with urllib.request.urlopen(f"{thread.gateway.api_url}/hello", timeout=60) as resp:
            assert json.load(resp)["message"] == "hello world"
        with urllib.request.urlopen(f"{thread.url}/_sandbox/info", timeout=10) as resp:
            info = json.load(resp)["functions"]["HelloWorldFunction"]
        assert {"Policies", "Tracing", "LoggingConfig"} <= set(info["not_emulated"])
        bundle = thread.sandbox.bundles["HelloWorldFunction"].path
        assert (bundle / "requests").is_dir() and not (bundle / "tests").exists()
    finally:
        thread.stop()


def test_inline_code_functions(tmp_path: Path) -> None:
    thread = serve("inline-code", tmp_path, embedded_aws=False)
    try:
        client = make_lambda_client(thread.url)
        _, body, _ = invoke(client, "InlineFunction", {})
        assert body == {"inline": True, "file": "/var/task/index.py", "name": "InlineFunction"}
        _, body, _ = invoke(client, "cfn-inline", {"x": 1})
        assert body == {"cfn": True, "echo": {"x": 1}}
    finally:
        thread.stop()


def test_a_layer_built_with_a_makefile(tmp_path: Path) -> None:
    thread = serve("makefile-layer", tmp_path, embedded_aws=False)
    try:
        _, body, log = invoke(make_lambda_client(thread.url), "LayeredFunction", {"text": "hi"})
        assert body["shout"] == "HI!" and body["module"] == "/opt/python/shared_util.py", log
        assert body["which"] == "overrides"  # layers merge in order, the later one wins
        assert body["greet"] == "greet from /opt/bin: layers"  # /opt/bin on PATH
        assert body["marker"] == "built by make"
        assert {"bin", "lib", "python"} <= set(body["opt"])
        layers_bytes = thread.sandbox.bundles["LayeredFunction"].layers_bytes
        assert layers_bytes > 0, "layers count in the 250 MB"
    finally:
        thread.stop()


def _sse(url: str, path: str) -> list[tuple[float, dict[str, Any]]]:
    """(arrival time, event) of each server-sent event, as it arrives."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    conn.request("GET", path)
    resp = conn.getresponse()
    assert resp.status == 200 and resp.headers["content-type"].startswith("text/event-stream")
    events, pending = [], b""
    while chunk := resp.read1(65536):
        arrived = time.time()
        pending += chunk
        while b"\n\n" in pending:
            block, pending = pending.split(b"\n\n", 1)
            if block.startswith(b"data: "):
                events.append((arrived, json.loads(block[6:])))
    conn.close()
    return events


def test_fastapi_behind_the_web_adapter_streams_server_sent_events(tmp_path: Path) -> None:
    thread = serve("fastapi-streaming", tmp_path, embedded_aws=False)
    try:
        url = thread.gateway.function_urls["FastAPIFunction"]
        events = _sse(url, "/stream?count=5&gap=0.4")
        assert [e["n"] for _, e in events] == [0, 1, 2, 3, 4]
        first_arrived = events[0][0]
        last_generated = events[-1][1]["generated_at"]
        # streamed, not buffered: the first event is here before the last one was made
        assert first_arrived < last_generated - 1.0, events
        parts = urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        conn.request("GET", "/where")
        resp = conn.getresponse()
        where = json.loads(resp.read())
        conn.close()
        assert resp.status == 200
        assert where["cwd"] == "/var/task" and where["python"] == [3, 12]
        assert where["boto3"].startswith("/var/runtime/")  # run.sh put LAMBDA_RUNTIME_DIR back
    finally:
        thread.stop()


SKLEARN_BACKENDS = [
    pytest.param("process", id="process"),
    pytest.param("docker", id="docker", marks=[pytest.mark.docker, pytest.mark.timeout(1800)]),
]


@pytest.mark.parametrize("backend", SKLEARN_BACKENDS)
def test_scikit_learn_with_scipy(backend: str, tmp_path: Path) -> None:
    thread = serve("sklearn-scipy", tmp_path, embedded_aws=False, backend=backend)
    try:
        features = {"features": [6.3, 3.3, 6.0, 2.5]}
        request = urllib.request.Request(
            f"{thread.gateway.api_url}/predict", data=json.dumps(features).encode(),
            headers={"content-type": "application/json"}, method="POST",
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=120) as resp:
            answer = json.load(resp)
        assert answer["species"] == "virginica" and answer["testing"] == "numpy.testing"
        assert answer["zscore"] == pytest.approx(-1.2247, abs=1e-3)
    finally:
        thread.stop()


@pytest.mark.docker
@pytest.mark.timeout(1800)
def test_an_image_function_from_its_own_dockerfile(tmp_path: Path) -> None:
    thread = serve("image-function", tmp_path, embedded_aws=False, backend="docker")
    try:
        with urllib.request.urlopen(f"{thread.gateway.api_url}/hello", timeout=120) as resp:
            answer = json.load(resp)
        assert answer["message"] == "hello from the build"  # DockerBuildArgs
        assert answer["six"] and answer["python"] == [3, 12]  # RUN pip install, offline base
        assert answer["cwd"] == "/var/task"
        bundle = thread.sandbox.bundles["ImageFunction"]
        assert bundle.kind == "image" and bundle.limit_bytes == 10240 << 20
    finally:
        thread.stop()


def _cli(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`sandbox ARGS` in `cwd`, with a registry of running sandboxes of its own: a sandbox the
    user runs elsewhere is not "the only running sandbox" these commands would talk to."""
    exe = Path(sys.executable).with_name("sandbox")
    env = {**os.environ, "XDG_RUNTIME_DIR": str(cwd.parent)}
    env.pop("SANDBOX_URL", None)
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)  # fmt: skip


def test_parameters_from_samconfig_and_overrides(tmp_path: Path) -> None:
    app = tmp_path / "parameters"
    shutil.copytree(APPS / "parameters", app)
    # in the app's folder: template.yaml and samconfig.toml are found without options
    done = _cli(["invoke", "configured-dev", "--payload", "{}"], app)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "STAGE": "dev", "MODEL": "tiny-model", "OWNER": "ml-team", "LOG_LEVEL": "DEBUG",
        "PROD": "no", "ARN_PREFIX": "arn:aws:s3:::tiny-model-000000000000",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    }  # fmt: skip
    overridden = _cli(["ls", "-o", "json", "--parameter-overrides", "Stage=prod MemorySize=512"],
                      app)  # fmt: skip
    assert overridden.returncode == 0, overridden.stderr
    (listed,) = json.loads(overridden.stdout)
    assert listed["function"] == "configured-prod" and listed["memory_mb"] == 512
    (app / "samconfig.toml").unlink()
    missing = _cli(["ls"], app)
    assert missing.returncode == 1
    assert "Owner" in missing.stderr and "Stage" in missing.stderr
    assert "--parameter-overrides" in missing.stderr


def test_a_custom_runtime_without_bootstrap_is_an_invalid_entrypoint(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "function.sh").write_text("handler () { echo 1; }\n")
    (tmp_path / "template.yaml").write_text(
        "Resources:\n  NoBootstrap:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        "      CodeUri: src/\n      Handler: function.handler\n      Runtime: provided.al2023\n"
    )
    opts = SandboxOptions(template=tmp_path / "template.yaml", port=0, embedded_aws=False,
                          project_dir=tmp_path)  # fmt: skip
    with SandboxThread(opts).start(timeout_s=300) as thread:
        resp, body, _ = invoke(make_lambda_client(thread.url), "NoBootstrap", {})
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.InvalidEntrypoint"
    assert body["errorMessage"].endswith(
        "Error: Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]"
    )


@pytest.mark.docker
@pytest.mark.timeout(1800)
def test_a_dnf_step_fails_saying_why(tmp_path: Path) -> None:
    from lambda_sandbox.exceptions import BuildError

    shutil.copytree(APPS / "image-function", tmp_path / "app")
    dockerfile = tmp_path / "app" / "hello" / "Dockerfile"
    steps = dockerfile.read_text()
    dockerfile.write_text(steps.replace("COPY app.py", "RUN dnf install -y gcc\nCOPY app.py"))
    opts = SandboxOptions(template=tmp_path / "app" / "template.yaml", port=0,
                          embedded_aws=False, project_dir=tmp_path, backend="docker")  # fmt: skip
    with pytest.raises(BuildError) as info:
        SandboxThread(opts).start(timeout_s=900)
    message = str(info.value)
    assert "dnf: not available" in message and "RUN pip install" in message
