"""SandboxThread's life cycle as the tests and the CLI use it."""

from __future__ import annotations

from pathlib import Path

from lambda_sandbox.runner import SandboxOptions, SandboxThread


def test_entering_a_started_sandbox_thread_does_not_start_another(tmp_path: Path) -> None:
    options = SandboxOptions(
        functions_dir=tmp_path, configs=[], port=0, embedded_aws=False, project_dir=tmp_path
    )
    started = SandboxThread(options).start(timeout_s=120)  # as `with X.start(...) as s:` does
    first = started._thread
    with started as entered:
        assert entered is started and started._thread is first, "one sandbox, one thread"
        assert entered.url.startswith("http://127.0.0.1:")
    assert first is not None and not first.is_alive(), "leaving the block stops it"
