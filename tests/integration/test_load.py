"""Locust load tests (issue 8) against the probe sandbox: Locust runs as a subprocess (gevent
patches that process, not pytest's), the sandbox's /_sandbox/metrics is sampled meanwhile, and
the run must reconcile exactly: client requests = server invocations + throttles."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambda_sandbox.runner import SandboxOptions, SandboxThread
from lambda_sandbox.tools.load import LoadResult, invocations_url, run_load

pytestmark = [pytest.mark.integration, pytest.mark.root, pytest.mark.slow]
ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the reports go: LOAD_REPORTS_DIR to keep them, a temporary directory otherwise."""
    kept = os.environ.get("LOAD_REPORTS_DIR")
    return Path(kept) if kept else tmp_path_factory.mktemp("load-reports")


def _summary(result: LoadResult) -> str:
    s = result.server
    return (
        f"{result.name}: {result.requests} requests, {result.failures} failures, "
        f"throttles client {result.throttles} / server {s.get('Throttles')}, "
        f"{result.rps:.1f} rps, p50 {result.latency_ms.get('p50')} ms, "
        f"p95 {result.latency_ms.get('p95')} ms, cold starts {s.get('ColdStarts')}, "
        f"cost ${result.cost_usd}\n" + "\n".join(result.reconciliation_lines)
    )


def _check_report(result: LoadResult, reports: Path) -> None:
    assert result.report_html is not None
    page = Path(result.report_html).read_text()
    assert page.count("data:image/png;base64,") == 3
    assert "reconciled: true" in page
    stored = json.loads(Path(result.report_html).with_suffix(".json").read_text())
    assert stored["reconciled"] is True
    for key in ("users-rps", "latency", "server"):
        assert Path(f"{reports}/load-{result.name}-{key}.png").stat().st_size > 5_000
    assert result.timeline and len(result.samples) >= 5


@pytest.fixture(scope="module")
def hello_sandbox() -> Iterator[SandboxThread]:
    """The example function from functions/, as users load-test it."""
    options = SandboxOptions(
        functions_dir=ROOT / "functions",
        only=["hello"],
        port=0,
        embedded_aws=False,
        project_dir=ROOT,
    )
    thread = SandboxThread(options).start()
    try:
        yield thread
    finally:
        thread.stop()


def test_heavy_ci_sized_run_reconciles(hello_sandbox: SandboxThread, reports: Path) -> None:
    # heavy: 100 users, ramp 50 s, 1 min, wait 1-3 s; scale 0.3 -> ramp 15 s, 18 s, wait 0.3-0.9 s
    result = run_load(
        invocations_url(hello_sandbox.url, "hello"),
        "heavy",
        scale=0.3,
        payload=b'{"name": "load"}',
        out_dir=reports,
        name="ci-heavy-hello",
    )
    print(_summary(result))
    assert result.reconciled, result.reconciliation_errors
    assert result.failures == 0 and result.throttles == 0
    assert result.requests > 300
    assert result.server["Invocations"] == result.requests
    assert result.cost_usd is not None and result.cost_usd > 0
    _check_report(result, reports)


def test_throttled_run_counts_429s_on_both_sides(
    probe_sandbox: SandboxThread, reports: Path
) -> None:
    result = run_load(
        invocations_url(probe_sandbox.url, "probe-reserved-2"),
        "heavy",
        users=20,
        spawn_rate=10,
        duration_s=10,
        scale=0.3,
        payload=b'{"action": "sleep", "seconds": 0.3}',
        out_dir=reports,
        name="ci-throttle-reserved-2",
    )
    print(_summary(result))
    assert result.reconciled, result.reconciliation_errors
    assert result.throttles > 0
    assert result.throttles == result.server["Throttles"]
    assert result.failures == result.throttles  # nothing but 429s failed
    assert result.server["MaxConcurrentExecutionsSeen"] <= 2
    _check_report(result, reports)


def test_one_scenario_on_demand_snapstart_and_provisioned_side_by_side(
    tmp_path: Path, reports: Path
) -> None:
    """`sandbox load FN --side-by-side`: the same scenario three ways in one sandbox; each
    run reconciles, each mode shows its own kind of cold start, and what the comparison made
    (two versions, SnapStart on) is gone afterwards."""
    from lambda_sandbox.client import lambda_client
    from lambda_sandbox.tools.load.side_by_side import run_side_by_side

    folder = tmp_path / "slow-init"
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "app.py").write_text(
        "import time\ntime.sleep(0.5)  # a model load\n\n"
        "def handler(event, context):\n    time.sleep(0.05)\n    return {'ok': True}\n"
    )
    (folder / "function.yaml").write_text(
        "Handler: app.handler\nRuntime: python3.12\nCodeUri: src\nMemorySize: 512\nTimeout: 10\n"
    )
    options = SandboxOptions(functions_dir=tmp_path, port=0, embedded_aws=False,
                             project_dir=tmp_path)  # fmt: skip
    with SandboxThread(options).start() as thread:
        client = lambda_client(thread.url)
        page, runs = run_side_by_side(
            client, thread.url, "slow-init", "bursty", provisioned=2, out_dir=reports,
            users=3, scale=0.05,
        )  # fmt: skip
        assert [v["Version"] for v in
                client.list_versions_by_function(FunctionName="slow-init")["Versions"]] == [
            "$LATEST"]  # fmt: skip
        config = client.get_function_configuration(FunctionName="slow-init")
        assert config["SnapStart"]["ApplyOn"] == "None"
    on_demand, snap, provisioned = (r.result for r in runs)
    assert on_demand and snap and provisioned, [r.note for r in runs]
    for result in (on_demand, snap, provisioned):
        assert result.reconciled, _summary(result)
    assert on_demand.server["ColdStarts"] >= 1 and on_demand.server["SnapStartRestores"] == 0
    assert snap.server["SnapStartRestores"] >= 1 and snap.server["InitDurationP50"] is None
    assert snap.server["RestoreDurationP50"] < on_demand.server["InitDurationP50"]
    assert provisioned.server["ProvisionedConcurrencyInvocations"] >= 1
    assert all(r.cost_usd is not None and r.cost_usd > 0 for r in runs)
    assert runs[2].cost_usd > runs[0].cost_usd, "two environments configured cost more here"
    html = page.read_text()
    assert "<th>on-demand</th><th>SnapStart</th><th>provisioned</th>" in html
    assert html.count("data:image/png;base64,") == 1
