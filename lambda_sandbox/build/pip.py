"""pip, run the one way the build uses it: quiet, in a subprocess, its error tail in a BuildError.

Every install (a bundle's requirements, Lambda-platform wheels, a model's build venv, the offline
images' wheels, the RIE's wheel) goes through `run_pip`.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence

from lambda_sandbox.exceptions import BuildError

__all__ = ["run_pip"]


def run_pip(
    args: Sequence[str],
    *,
    python: str = sys.executable,
    target_python: str | None = None,
    env: dict[str, str] | None = None,
    what: str = "pip",
    hint: str = "",
    tail: int = 2000,
) -> None:
    """`python -m pip ARGS --quiet`; raises BuildError naming `what` with pip's last lines.
    `target_python`: install for that interpreter (pip's --python), e.g. a function's 3.12."""
    command, *rest = args
    cmd = [python, "-m", "pip"]
    if target_python is not None and target_python != python:
        cmd += ["--python", target_python]
    cmd += [command, "--quiet", "--disable-pip-version-check", *rest]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        # pip warns about every configured index it cannot read; those lines hide the error
        errors = "\n".join(ln for ln in proc.stderr.splitlines() if "is ignored" not in ln)
        raise BuildError(f"{what} failed:\n{errors[-tail:]}" + (f"\n{hint}" if hint else ""))
