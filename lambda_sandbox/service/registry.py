"""The function registry: which functions exist, by name or ARN, and their code's identity.

`register` adds a function (or replaces its code and configuration, keeping its environments
and counters, which then drain as an older generation); `get` resolves a name or an ARN to its
state, or raises Lambda's ResourceNotFoundException.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from pathlib import Path

from lambda_sandbox.config import FunctionConfig
from lambda_sandbox.exceptions import ResourceNotFoundException
from lambda_sandbox.service.environment_variables import AwsSide
from lambda_sandbox.service.function_state import FunctionState
from lambda_sandbox.service.logs import LogStream
from lambda_sandbox.types import Filesystem

__all__ = ["FunctionRegistry"]


class FunctionRegistry:
    def __init__(self, aws: AwsSide, logs_dir: Path | None) -> None:
        self.aws = aws
        self.logs_dir = logs_dir
        self.functions: dict[str, FunctionState] = {}

    def arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.aws.region}:{self.aws.account_id}:function:{name}"

    def register(
        self, config: FunctionConfig, bundle_dir: Path, filesystem: Filesystem | None = None
    ) -> FunctionState:
        state = FunctionState(
            config=config,
            bundle_dir=bundle_dir,
            arn=self.arn(config.name),
            log=LogStream(config.name, self.logs_dir),
            filesystem=filesystem,
        )
        state.code_size, state.code_sha256 = dir_digest(bundle_dir)
        old = self.functions.get(config.name)
        if old is not None:
            state.log.close()
            state.log = old.log  # one stream per function, across reloads
            state.generation = old.generation + 1
            state.idle, state.busy, state.in_use = old.idle, old.busy, old.in_use
            state.stats = old.stats
        self.functions[config.name] = state
        return state

    def get(self, name_or_arn: str) -> FunctionState:
        name = name_or_arn.rsplit(":function:", 1)[-1].split(":", 1)[0]
        state = self.functions.get(name)
        if state is None:
            raise ResourceNotFoundException(f"Function not found: {self.arn(name)}")
        return state


def dir_digest(path: Path) -> tuple[int, str]:
    """Size in bytes and a SHA-256 over file names and sizes (cheap, stable per build)."""
    size = 0
    digest = hashlib.sha256()
    with contextlib.suppress(OSError):
        for f in sorted(path.rglob("*")):
            if f.is_file():
                st = f.stat()
                size += st.st_size
                digest.update(f"{f.relative_to(path)}:{st.st_size}".encode())
    return size, base64.b64encode(digest.digest()).decode()
