"""Benchmark fixtures: the sandbox serving benchmarks/functions (and functions/), the real RIE.

The RIE binary ships inside the aws-sam-cli wheel (samcli/local/rapid/aws-lambda-rie-*); it is
downloaded once with `pip download --no-deps` and cached under ~/.cache/lambda-sandbox/rie.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambda_sandbox.aws_side import free_port
from lambda_sandbox.build.rie_binary import rie_binary
from lambda_sandbox.build.runtimes import prepare_runtime

HERE = Path(__file__).parent


class Client:
    """A keep-alive HTTP client: the same code measures the sandbox and the RIE."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.conn = http.client.HTTPConnection(host, port, timeout=30)
        self.path = path

    def invoke(self, body: bytes = b"{}") -> bytes:
        self.conn.request("POST", self.path, body, {"Content-Type": "application/json"})
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {data[:200]!r}")
        return data

    def close(self) -> None:
        self.conn.close()


class Rie:
    """The real Runtime Interface Emulator running the no-op function on the host."""

    def __init__(self) -> None:
        self.port = free_port()
        version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
        layer = prepare_runtime(version).runtime_dir  # awslambdaric and boto3, as /var/runtime
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": f"{HERE / 'functions/noop/src'}:{layer}",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "3538",
        }
        self.proc = subprocess.Popen(
            [
                str(rie_binary()),
                "--runtime-interface-emulator-address",
                f"127.0.0.1:{self.port}",
                sys.executable,
                "-S",
                "-m",
                "awslambdaric",
                "app.handler",
            ],
            cwd=HERE / "functions/noop/src",
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            client = self.client()
            try:
                client.invoke()
                return
            except (OSError, RuntimeError, http.client.HTTPException):
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.1)
            finally:
                client.close()

    def client(self) -> Client:
        return Client("127.0.0.1", self.port, "/2015-03-31/functions/function/invocations")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


class SandboxProcess:
    """`sandbox up` in its own process, as users run it (the client is another process)."""

    def __init__(
        self, functions: Path, embedded_aws: bool = False, extra: list[str] | None = None
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        aws = [] if embedded_aws else ["--no-aws"]
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lambda_sandbox.cli",
                "up",
                "--functions",
                str(functions),
                "--port",
                str(self.port),
                *aws,
                *(extra or []),
            ],
            cwd=HERE.parent,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 900
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/_sandbox/info", timeout=2):
                    return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def pytest_configure(config: pytest.Config) -> None:
    """pytest-benchmark writes --benchmark-json without making its folder (reports/ is not in
    a fresh clone)."""
    path = config.getoption("benchmark_json", None)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="session")
def bench_sandbox() -> Iterator[SandboxProcess]:
    server = SandboxProcess(HERE / "functions")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def ml_sandbox() -> Iterator[SandboxProcess]:
    """The example functions of functions/, with the embedded AWS side holding their models."""
    server = SandboxProcess(HERE.parent / "functions", embedded_aws=True)
    try:
        yield server
    finally:
        server.stop()


def sandbox_client(server: SandboxProcess, function: str) -> Client:
    return Client("127.0.0.1", server.port, f"/2015-03-31/functions/{function}/invocations")


@pytest.fixture
def rie() -> Iterator[Rie]:
    server = Rie()
    try:
        yield server
    finally:
        server.stop()
