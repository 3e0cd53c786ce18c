"""Provisioned concurrency on the process backend, through boto3: 2 provisioned environments
under 4 concurrent callers. Two are answered by environments initialized ahead (no Init
Duration in their REPORT, AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency), two spill
over to on-demand cold starts, and the metrics say so."""

from __future__ import annotations

import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from lambda_sandbox.log_lines import Report
from lambda_sandbox.pytest_plugin import make_lambda_client
from lambda_sandbox.runner import SandboxOptions, SandboxThread

pytestmark = [pytest.mark.integration, pytest.mark.root]

APP = """import os
import time


def handler(event, context):
    time.sleep(1.0)
    return {"type": os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"], "pid": os.getpid()}
"""


def test_two_provisioned_four_callers(tmp_path: Path) -> None:
    folder = tmp_path / "pc"
    folder.mkdir()
    (folder / "app.py").write_text(APP)
    (folder / "function.yaml").write_text(
        "Handler: app.handler\nRuntime: python3.12\nCodeUri: .\nMemorySize: 256\nTimeout: 10\n"
    )
    options = SandboxOptions(
        functions_dir=tmp_path, embedded_aws=False, port=0, project_dir=tmp_path
    )
    with SandboxThread(options).start() as sandbox:
        client = make_lambda_client(sandbox.url)
        assert client.publish_version(FunctionName="pc")["Version"] == "1"
        put = client.put_provisioned_concurrency_config(
            FunctionName="pc", Qualifier="1", ProvisionedConcurrentExecutions=2
        )
        assert put["Status"] == "IN_PROGRESS"
        deadline = time.monotonic() + 60
        while True:
            got = client.get_provisioned_concurrency_config(FunctionName="pc", Qualifier="1")
            if got["Status"] == "READY":
                break
            assert time.monotonic() < deadline, got
            time.sleep(0.1)
        assert got["AllocatedProvisionedConcurrentExecutions"] == 2

        def call(_: int) -> tuple[dict[str, Any], Report]:
            resp = client.invoke(FunctionName="pc", Qualifier="1", LogType="Tail")
            report = Report.parse(base64.b64decode(resp["LogResult"]).decode())
            assert report is not None
            return json.loads(resp["Payload"].read()), report

        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(call, range(4)))
        provisioned = [(a, r) for a, r in answers if r.init_ms is None]
        spilled = [(a, r) for a, r in answers if r.init_ms is not None]
        assert len(provisioned) == 2 and len(spilled) == 2, answers
        assert {a["type"] for a, _ in provisioned} == {"provisioned-concurrency"}
        assert {a["type"] for a, _ in spilled} == {"on-demand"}
        metrics = sandbox.sandbox.service.functions["pc"].metrics()  # type: ignore[union-attr]
        assert metrics["ProvisionedConcurrencyInvocations"] == 2
        assert metrics["ProvisionedConcurrencySpilloverInvocations"] == 2
        assert metrics["ProvisionedConcurrencyUtilization"] == 1.0
