"""A function's code as `sam build` takes it: only its own tests/ left out, nothing inside."""

from __future__ import annotations

import stat
from pathlib import Path

from lambda_sandbox.build.code import code_files, write_code
from lambda_sandbox.config import load_sam_template

TEMPLATE = """\
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src/, Handler: app.handler, Runtime: python3.11}
"""


def test_only_the_functions_own_tests_and_caches_are_left_out(tmp_path: Path) -> None:
    src = tmp_path / "src"
    files = ["app.py", "tests/test_app.py", "vendored/numpy/_core/tests/_natype.py",
             "pkg/tests/__init__.py", "__pycache__/app.cpython-311.pyc", ".aws-sam/x"]  # fmt: skip
    for rel in files:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text("x = 1\n")
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    (config,) = load_sam_template(tmp_path / "template.yaml")
    assert sorted(code_files(config)) == [
        "app.py", "pkg/tests/__init__.py", "vendored/numpy/_core/tests/_natype.py",
    ]  # fmt: skip


def test_the_bundle_gets_the_modes_lambda_needs(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.py").write_text("x = 1\n")
    (src / "app.py").chmod(0o600)  # a user's umask 077: Lambda's user could not read it
    (src / "run.sh").write_text("#!/bin/sh\n")
    (src / "run.sh").chmod(0o700)
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    (config,) = load_sam_template(tmp_path / "template.yaml")
    out = tmp_path / "bundle"
    out.mkdir()
    write_code(config, out)
    assert stat.S_IMODE((out / "app.py").stat().st_mode) == 0o644
    assert stat.S_IMODE((out / "run.sh").stat().st_mode) == 0o755
