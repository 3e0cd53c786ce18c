"""The AWS side functions talk to: an embedded moto server, or an endpoint the user names.

Functions reach it through AWS_ENDPOINT_URL (boto3 honours it), with test credentials. The
embedded server's account is the functions' own (000000000000): a queue's ARN there is the one
a function's ARN sits beside, as in one AWS account.
The embedded server is a child process (`python -m moto.server`) on loopback, so its work
never competes with the sandbox's event loop for the GIL.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

from lambda_sandbox.exceptions import BackendError, ConfigError
from lambda_sandbox.sessions import SESSION_VARIABLE

__all__ = ["EmbeddedAws", "free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class EmbeddedAws:
    """moto's server on 127.0.0.1 (S3 and the other services moto emulates)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        account_id: str = "000000000000",
        session: str | None = None,
    ) -> None:
        self.session = session  # marks the process: reaped after a crash (sessions.py)
        self.host = host
        self.port = port or free_port(host)
        self.account_id = account_id  # the functions' account: one account on both sides
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 30.0) -> None:
        with socket.socket() as probe:  # a busy port is a one-line error, not moto's traceback
            try:
                probe.bind((self.host, self.port))
            except OSError as exc:
                raise ConfigError(
                    f"the embedded AWS side cannot listen on {self.host}:{self.port} "
                    f"({exc.strerror}): choose another port with --aws-port"
                ) from None
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            env={
                **os.environ,
                "MOTO_ACCOUNT_ID": self.account_id,
                **({SESSION_VARIABLE: self.session} if self.session else {}),
            },
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BackendError(f"moto server exited with status {self._proc.returncode}")
            try:
                with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise BackendError(f"moto server did not answer on {self.endpoint_url} in {timeout_s} s")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
