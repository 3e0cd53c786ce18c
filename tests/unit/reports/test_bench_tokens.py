"""The bench report's tokens-per-second section (rows as benchmarks/test_llm_tiers.py writes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lambda_sandbox.reports.bench import build_tables, write_report
from lambda_sandbox.reports.bench_data import parse


def row(memory: int, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": "llm_tier",
        "function": "llm",
        "memory_mb": memory,
        "lambda_vcpus": memory / 1769,
        "host_vcpus": min(memory / 1769, 2.0),
        "capped": memory / 1769 > 2,
        "host_cpus": 2,
        "status": "ok",
        "errors": {},
        "threads": 1,
        "n": 3,
        "prompt_tokens": 90.0,
        "completion_tokens": 128.0,
        "prompt_tokens_per_s": 137.7,
        "tokens_per_s": 84.9,
        "billed_ms": 2217.0,
        "billed_gb_s": 3.830,
        "usd_per_1k_x86_64": 0.0640,
        "usd_per_1k_arm64": 0.0513,
        "max_memory_mb": 226,
        "host_load_1m": 1.2,
    }
    data.update(changes)
    return data


def bench(*rows: dict[str, Any]) -> dict[str, Any]:
    return {"benchmarks": [{"name": f"t{i}", "extra_info": r} for i, r in enumerate(rows)]}


def test_table_one_largest_tier_first_with_the_cap_marked() -> None:
    data = bench(row(1769), row(4096, threads=2, tokens_per_s=90.0, host_load_1m=2.5))
    (table,) = build_tables(parse(data))["tokens"]
    assert table.title == "llm: tokens per second"
    assert [r[0] for r in table.rows] == ["4096 MB", "1769 MB"]
    assert table.rows[1] == [
        "1769 MB", "1.000", "1", "137.70", "84.90", "2,217 ms", "3.830", "0.0640", "0.0513",
        "226 MB",
    ]  # fmt: skip
    assert table.rows[0][1] == "2.00 of 2.32 (capped)"
    assert table.classes == ["capped", ""]
    assert any("capped by this 2-core host at 4096 MB" in n for n in table.notes)
    assert any("1.20-2.50 on 2 CPUs" in n for n in table.notes)


def test_the_section_lands_in_bench_md(tmp_path: Path) -> None:
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(bench(row(1024, status="failed", errors={"Sandbox.Timedout": 1}))))
    paths = write_report(path, tmp_path)
    text = paths["md"].read_text()
    assert "## Tokens per second across memory tiers" in text
    assert "Errors: 1024 MB (Sandbox.Timedout x1)." in text
