"""The example ML functions across memory tiers, through a running sandbox (`sandbox up`).

For each function and tier: the cold start's Init Duration, then warm Duration p50/p95 from the
REPORT lines, billed ms, Max Memory Used and $ per 1M invocations. Written to
reports/ml-tiers.md and kept in the benchmark JSON (extra_info).
"""

from __future__ import annotations

import base64
import json
import statistics
from pathlib import Path
from typing import Any

import pytest

from benchmarks.conftest import SandboxProcess
from sandbox.cost import cost_per_million
from sandbox.pytest_plugin import make_lambda_client

ROOT = Path(__file__).parents[1]
TIERS = (512, 1024, 1769)
WARM_INVOKES = 20


def _report(resp: dict[str, Any]) -> dict[str, float]:
    log = base64.b64decode(resp["LogResult"]).decode()
    line = next(ln for ln in log.splitlines() if ln.startswith("REPORT "))
    fields = {}
    for part in line.split("\t")[1:]:
        if ": " in part:
            key, value = part.split(": ", 1)
            fields[key] = float(value.split()[0]) if value.split()[0][0].isdigit() else value
    return fields


@pytest.fixture(scope="module")
def ml_sandbox() -> Any:
    server = SandboxProcess(ROOT / "functions", embedded_aws=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("function", ["sentiment", "image-classifier"])
def test_ml_function_across_tiers(
    benchmark: Any, ml_sandbox: SandboxProcess, function: str
) -> None:
    client = make_lambda_client(ml_sandbox.url)
    event = (ROOT / "functions" / function / "events" / "direct.json").read_bytes()
    rows = []
    for memory in TIERS:
        client.update_function_configuration(FunctionName=function, MemorySize=memory)
        cold = client.invoke(FunctionName=function, Payload=event, LogType="Tail")
        assert "FunctionError" not in cold, cold["Payload"].read()
        init = _report(cold)["Init Duration"]
        warm = []
        for _ in range(WARM_INVOKES):
            resp = client.invoke(FunctionName=function, Payload=event, LogType="Tail")
            assert "FunctionError" not in resp
            warm.append(_report(resp))
        durations = sorted(r["Duration"] for r in warm)
        p50 = statistics.median(durations)
        p95 = durations[int(0.95 * (len(durations) - 1))]
        billed = statistics.median(r["Billed Duration"] for r in warm)
        rows.append(
            {
                "memory_mb": memory,
                "init_ms": init,
                "p50_ms": p50,
                "p95_ms": p95,
                "billed_ms": billed,
                "max_memory_mb": max(r["Max Memory Used"] for r in warm),
                "usd_per_million_x86": cost_per_million(billed, memory),
                "usd_per_million_arm64": cost_per_million(billed, memory, arch="arm64"),
            }
        )
    benchmark.extra_info["tiers"] = rows
    benchmark.pedantic(
        lambda: client.invoke(FunctionName=function, Payload=event)["Payload"].read(), rounds=10
    )
    lines = [
        f"### {function}",
        "",
        "| memory | Init Duration | p50 | p95 | billed | Max Memory Used | $/1M x86 | $/1M arm64 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['memory_mb']} MB | {r['init_ms']:.0f} ms | {r['p50_ms']:.1f} ms | "
            f"{r['p95_ms']:.1f} ms | {r['billed_ms']:.0f} ms | {r['max_memory_mb']:.0f} MB | "
            f"{r['usd_per_million_x86']:.2f} | {r['usd_per_million_arm64']:.2f} |"
        )
    out = ROOT / "reports" / f"ml-tiers-{function}.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n" + "\n".join(lines))
    assert json.dumps(rows)
