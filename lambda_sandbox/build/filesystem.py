"""What a function's environments see at Lambda's paths: its bundle at /var/task, its layers
merged at /opt, the runtime client and boto3 at /var/runtime, the Python of its Runtime at
/var/lang (build/runtimes.py, build/layers.py). The process backend mounts these; the docker
backend's images carry the same."""

from __future__ import annotations

from pathlib import Path

from lambda_sandbox.build.layers import build_opt
from lambda_sandbox.build.runtimes import prepare_runtime
from lambda_sandbox.config import FunctionConfig
from lambda_sandbox.types import Filesystem, Progress

__all__ = ["build_filesystem"]


def build_filesystem(
    config: FunctionConfig, bundle_dir: Path, build_root: Path, say: Progress | None = None
) -> Filesystem:
    report = say or (lambda _m: None)
    if not config.runtime.startswith(("python", "provided")):  # kept, listed, not run
        note = f"the sandbox runs Python and provided (custom) runtimes, not {config.runtime}"
        return Filesystem(task=bundle_dir, notes=(note,))
    runtime = prepare_runtime(config.runtime, report)
    opt = build_opt(config, build_root, report, runtime.interpreter)
    return Filesystem(
        task=bundle_dir,
        opt=opt,
        runtime=runtime.runtime_dir,
        lang=runtime.python_prefix,
        python_version=runtime.python_version,
        notes=(runtime.note,) if runtime.note else (),
    )
