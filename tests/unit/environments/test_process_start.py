"""The process backend's start releases what it made when a later step fails."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lambda_sandbox.environments.cgroups import Cgroup, CgroupDriver
from lambda_sandbox.environments.process import ProcessBackend
from lambda_sandbox.exceptions import BackendError
from lambda_sandbox.types import EnvironmentSpec, Filesystem


class RefusingDriver(CgroupDriver):
    version = "test"

    def create(self, *args: object) -> Cgroup:
        raise BackendError("cannot create cgroup: refused (test)")

    def reap_stale(self, is_alive: object) -> int:
        return 0

    def remove_session(self, session: str) -> None:
        pass

    def roots(self) -> list[Path]:
        return []


def spec(tmp_path: Path) -> EnvironmentSpec:
    return EnvironmentSpec(
        function_name="f",
        handler="app.handler",
        runtime="python3.11",
        bundle_dir=tmp_path,
        memory_mb=128,
        ephemeral_mb=512,
        vcpus=0.1,
        environment={},
        pids_max=64,
        nofile=64,
        filesystem=Filesystem(
            task=tmp_path, runtime=tmp_path, lang=Path(sys.base_prefix), python_version="3.11"
        ),
    )


async def test_a_failed_cgroup_leaves_no_tmp_storage(tmp_path: Path) -> None:
    backend = ProcessBackend(tmp_path / "state", "s1-test", 1000, 1000)
    backend._cgroups = RefusingDriver()
    with pytest.raises(BackendError, match="refused"):
        await backend.start("env1", spec(tmp_path))
    assert not (tmp_path / "state" / "s1-test" / "env1").exists()
    await backend.runtime_server.stop()
