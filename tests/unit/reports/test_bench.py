"""lambda_sandbox.reports.bench on a small hand-made benchmark JSON (no sandbox, no benchmark
run)."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lambda_sandbox.reports.bench import build_tables, main, write_report
from lambda_sandbox.reports.bench_data import load, parse

PNG = b"\x89PNG\r\n\x1a\n"


def tier(memory: int, **changes: Any) -> dict[str, Any]:
    """One ml_tier row as benchmarks/test_ml_tiers.py writes it."""
    row: dict[str, Any] = {
        "kind": "ml_tier",
        "function": "demo",
        "memory_mb": memory,
        "lambda_vcpus": memory / 1769,
        "host_vcpus": min(memory / 1769, 2.0),
        "capped": memory / 1769 > 2,
        "host_cpus": 2,
        "status": "ok",
        "errors": {},
        "cold": {"init_ms": 900.0, "duration_ms": 30.0, "billed_ms": 930.0, "error": None,
                 "init_suppressed": False, "attempts": 1},
        "warm": {"n": 20, "p50_ms": 12.5, "p95_ms": 20.25, "mean_ms": 13.0, "billed_mean_ms": 13.4,
                 "durations_ms": [12.5] * 20},
        "max_memory_mb": 140,
        "notes": ["runs on python3.11, not python3.12"],
        "cold_start_rate": 0.01,
        "cold_extra_ms": 900.0,
        "usd_per_million_x86_64": 0.5123,
        "usd_per_million_arm64": 0.4456,
        "init_share_x86_64": 0.3,
        "tiers_not_run": [{"memory_mb": 4096, "lambda_vcpus": 2.315, "host_vcpus": 2.0,
                           "capped": True, "reason": "capped"}],
    }  # fmt: skip
    row.update(changes)
    return row


def entry(name: str, info: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "fullname": f"benchmarks/x.py::{name}", "extra_info": info,
            "stats": {"min": 0.01, "max": 0.02, "mean": 0.015, "rounds": 5}}  # fmt: skip


def sample() -> dict[str, Any]:
    failed = tier(
        128,
        status="failed",
        errors={"Runtime.ExitError": 2},
        cold={"init_ms": None, "duration_ms": None, "billed_ms": None,
              "error": "Runtime.ExitError", "init_suppressed": False, "attempts": 2},
        warm={"n": 0, "p50_ms": None, "p95_ms": None, "billed_mean_ms": None},
        max_memory_mb=128,
    )  # fmt: skip
    for key in ("usd_per_million_x86_64", "usd_per_million_arm64", "init_share_x86_64"):
        failed.pop(key)
    suppressed = tier(
        256,
        cold={"init_ms": None, "duration_ms": 11000.0, "billed_ms": 11001.0, "error": None,
              "init_suppressed": True, "attempts": 1},
        warm={"n": 20, "p50_ms": 80.0, "p95_ms": 150.0, "billed_mean_ms": 81.0},
        usd_per_million_x86_64=1.234,
    )  # fmt: skip
    capped = tier(5120, warm={"n": 20, "p50_ms": 4.0, "p95_ms": 5.0, "billed_mean_ms": 5.0})
    fidelity_rows = [
        {"memory_mb": m, "lambda_vcpus": v, "host_vcpus": min(v, 2.0), "capped": v > 2,
         "threads": max(1, round(v + 0.49)), "units": 100, "min_duration_ms": d,
         "expected_ms": e, "ratio": d / e, "deviation_pct": (d / e - 1) * 100,
         "ratio_host": r, "deviation_host_pct": (r - 1) * 100, "delivered_vcpus": g}
        for m, v, d, e, r, g in [
            (512, 0.289, 1100.0, 1200.0, 0.917, 0.31),
            (1769, 1.0, 1200.0, 1200.0, 1.0, 1.0),
            (10240, 5.789, 1210.0, 415.0, 1.004, 1.99),
        ]
    ]  # fmt: skip
    arch_rows = [
        {"platform": "Lambda 1024 MB", "arch": "x86_64", "vcpus": 0.579,
         "inferences_per_second": 80.0, "usd_per_million": 0.53, "basis": "measured",
         "how": "billed 10 ms", "hourly_usd": None, "break_even_ips": None,
         "break_even_utilization": None},
        {"platform": "EC2 t3.medium", "arch": "x86_64", "vcpus": 2.0,
         "inferences_per_second": 200.0, "usd_per_million": 0.0578, "basis": "estimated",
         "how": "100/s per vCPU x 2", "hourly_usd": 0.0416, "break_even_ips": 21.7,
         "break_even_utilization": 0.108},
        {"platform": "EC2 g4dn.xlarge", "arch": "x86_64", "vcpus": 4.0,
         "inferences_per_second": 100.0, "usd_per_million": 1.46, "basis": "estimated",
         "how": "CPU only", "hourly_usd": 0.526, "break_even_ips": 275.0,
         "break_even_utilization": 2.75},
    ]  # fmt: skip
    return {
        "datetime": "2026-11-22T12:00:00+00:00",
        "machine_info": {"cpu": {"count": 2, "brand_raw": "Test CPU"},
                         "python_implementation": "CPython", "python_version": "3.11.7"},
        "commit_info": {"id": "0123456789abcdef", "dirty": True},
        "benchmarks": [
            entry("test_sequential_p50_sandbox_vs_rie",
                  {"sandbox_p50_ms": 0.8, "rie_p50_ms": 0.9, "ratio": 0.889,
                   "sandbox_p99_ms": 1.2, "rie_p99_ms": 1.9}),
            entry("test_two_client_throughput_sandbox_vs_rie",
                  {"sandbox": {"per_second": 1500.0, "ok": 7500, "errors": 0},
                   "rie_two_clients": {"per_second": 300.0, "ok": 1500, "errors": 4},
                   "rie_one_client": {"per_second": 1180.0, "ok": 5900, "errors": 0},
                   "ratio": 1.27, "rie_survived_two_clients": False}),
            entry("test_function_at_tier[demo-1024]", tier(1024)),
            entry("test_function_at_tier[demo-128]", failed),
            entry("test_function_at_tier[demo-256]", suppressed),
            entry("test_function_at_tier[demo-5120]", capped),
            entry("test_function_at_tier[other-512]", tier(512, function="other")),
            entry("test_cpu_share_against_the_rule",
                  {"kind": "fidelity", "rounds": 5, "target_s": 1.2, "anchor_mb": 1769,
                   "host_cpus": 2, "reference": "sha256", "rows": fidelity_rows}),
            entry("test_architecture_comparison[demo]",
                  {"kind": "architecture", "function": "demo", "chosen_memory_mb": 1024,
                   "chosen_why": "the cheapest tier", "cold_start_rate": 0.01,
                   "measured": {"environment_ips": 80.0, "per_vcpu_ips": 100.0,
                                "client_ips": 60.0},
                   "mean_duration_ms": 12.5, "one_vcpu_mean_ms": 10.0, "invokes": 100,
                   "rows": arch_rows}),
        ],
    }  # fmt: skip


@pytest.fixture
def bench_json(tmp_path: Path) -> Path:
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(sample()))
    return path


def test_parse_sorts_entries_by_kind() -> None:
    bench = parse(sample())
    assert list(bench.tiers) == ["demo", "other"]
    assert [r["memory_mb"] for r in bench.tiers["demo"]] == [128, 256, 1024, 5120]
    assert bench.fidelity is not None and len(bench.fidelity["rows"]) == 3
    assert [a["function"] for a in bench.architecture] == ["demo"]
    assert bench.sequential is not None and bench.sequential["ratio"] == 0.889
    assert bench.throughput is not None and bench.throughput["ratio"] == 1.27
    assert [t["memory_mb"] for t in bench.not_run] == [4096]
    assert bench.host_cpus == 2 and bench.cold_start_rate == 0.01


def test_tier_table_marks_failed_suppressed_and_capped_tiers() -> None:
    table = build_tables(parse(sample()))["tiers"][0]
    rows = {row[0]: row for row in table.rows}
    assert rows["128 MB"][2] == "failed: Runtime.ExitError x2"
    assert rows["128 MB"][3] == "failed (Runtime.ExitError)"
    assert rows["128 MB"][8] == "-"  # no cost for a tier that never ran
    assert rows["256 MB"][3] == "suppressed (> 10 s): first invoke 11001 ms"
    assert rows["1024 MB"][4:11] == [
        "12.5 ms", "20.2 ms", "13.4 ms", "140 MB", "$0.512", "$0.446", "30.0%",
    ]  # fmt: skip
    assert rows["5120 MB"][1] == "2.00 of 2.89 (capped)"
    assert table.classes == ["failed", "", "", "capped"]
    assert any("capped by this host at 5120 MB" in n for n in table.notes)


def test_markdown_has_every_section(bench_json: Path, tmp_path: Path) -> None:
    paths = write_report(bench_json, tmp_path / "out")
    md = paths["md"].read_text()
    for text in [
        "## Summary",
        "## Functions across memory tiers",
        "### demo",
        "### other",
        "| 1024 MB | 0.579 | ok | 900 ms | 12.5 ms | 20.2 ms | 13.4 ms | 140 MB | $0.512 |",
        "Not run: 4096 MB, capped on this 2-core host",
        "1% cold starts",
        "## Fidelity: CPU share against Lambda's memory-to-CPU rule",
        "| 512 MB | 0.289 | 0.289 | 1 | 1100.0 ms | 1200.0 ms | 0.917 | -8.3% | 0.310 | - |",
        "| 10240 MB | 5.789 | 2.000 (capped) |",
        "1.004 (+0.4%)",
        "## Architecture comparison: $ per 1M inferences",
        "| EC2 t3.medium | x86_64 | 2 | 200.0 | $0.058 | estimated |",
        "cheaper than Lambda x86_64 above 21.7/s (11% busy)",
        "never cheaper than Lambda x86_64",
        "| no-op invoke p50, sequential | 0.800 ms | 0.900 ms | 0.89 | <= 1 | yes |",
        "| 1500/s | 1180/s | 1.27 | >= 1.5 | no |",
        "crashed",
        "![tiers-demo](bench-tiers-demo.png)",
        "![fidelity](bench-fidelity.png)",
        "![arch](bench-arch.png)",
        "Commit 0123456789 (with uncommitted changes).",
    ]:
        assert text in md, text
    summary = md.split("## Functions")[0]
    assert (
        "| demo | 1024 MB | $0.512 | $0.446 | 30.0% | 1024 MB: 12.5 ms | 128 MB (failed) |"
        in summary
    )
    assert "-8.3% (512 MB) to +0.0% (1769 MB)" in summary


def test_html_is_self_contained_with_the_charts(bench_json: Path, tmp_path: Path) -> None:
    paths = write_report(bench_json, tmp_path)
    page = paths["html"].read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 4  # demo, other, fidelity, architecture
    assert all(base64.b64decode(image).startswith(PNG) for image in images)
    assert "http://" not in page and "https://" not in page  # nothing fetched
    assert '<tr class="failed">' in page and '<tr class="capped">' in page
    for name in ("tiers-demo", "tiers-other", "fidelity", "arch"):
        assert (tmp_path / f"bench-{name}.png").read_bytes().startswith(PNG)


def test_a_partial_run_reports_what_it_has(tmp_path: Path) -> None:
    data = sample()
    data["benchmarks"] = data["benchmarks"][:2]  # only the invoke overhead ran
    (tmp_path / "b.json").write_text(json.dumps(data))
    paths = write_report(tmp_path / "b.json", tmp_path)
    md = paths["md"].read_text()
    assert "## Invoke overhead against the AWS RIE" in md
    assert "## Functions" not in md and "## Fidelity" not in md
    assert set(paths) == {"md", "html"}  # no chart to draw
    assert load(tmp_path / "b.json").tiers == {}


def test_main_writes_the_report_and_refuses_a_missing_file(
    bench_json: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(bench_json), "--out", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "bench.md").exists() and (tmp_path / "r" / "bench.html").exists()
    assert "bench.html" in capsys.readouterr().out
    assert main([str(tmp_path / "missing.json")]) == 2
    assert "run `tox -e bench` first" in capsys.readouterr().err


def test_importing_the_report_does_not_import_matplotlib() -> None:
    code = "import sys, lambda_sandbox.reports.bench; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_init_burst_rows_and_table() -> None:
    """The INIT burst benchmark's rows (from hand-made cold starts) and its report table: Init
    Duration flat across tiers against the burst's rule, the handler's by the tier's share."""
    from benchmarks.test_init_burst import init_burst_rows

    runs = {
        128: [{"init_ms": 640.0, "duration_ms": 7000.0}, {"init_ms": 630.0, "duration_ms": 7100.0}],
        1769: [{"init_ms": 637.0, "duration_ms": 500.0}, {"init_ms": 700.0, "duration_ms": 495.0}],
    }  # fmt: skip
    rows = init_burst_rows(runs)
    low, anchor = rows
    assert low["init_ms"] == 630.0 and low["init_expected_ratio"] == 1.0
    assert round(low["init_ratio"], 3) == round(630 / 637, 3)
    assert round(low["duration_ratio"], 2) == round(7000 / 495, 2)
    assert round(low["duration_expected_ratio"], 2) == round(1769 / 128, 2)
    assert anchor["init_ratio"] == 1.0 and anchor["init_vcpus"] == 1.0
    data = {"benchmarks": [entry("test_init_burst_against_the_rule",
            {"kind": "init_burst", "rounds": 2, "anchor_mb": 1769, "init_units": 900,
             "burst_vcpus": 1.0, "reference": "sha256", "rows": rows})]}  # fmt: skip
    bench = parse(data)
    assert bench.init_burst is not None
    (table,) = build_tables(bench)["fidelity"]
    assert table.rows[0][:5] == ["128 MB", "0.072", "1.000", "630.0 ms", "0.99 (1.00)"]
    assert table.rows[0][6] == "14.14 (13.82)"
    assert "900 units" in table.notes[0]


def test_snapstart_table() -> None:
    """The SnapStart benchmark's entry: per function, on-demand Init Duration against the
    restore from its snapshot, with the mechanism and what the CRIU probe said."""
    rows = [
        {"function": "llm", "rounds": 3, "init_ms": 1703.4, "restore_ms": 8.25,
         "billed_restore_ms": 6.0, "speedup": 1703.4 / 8.25, "publish_s": 2.25,
         "max_memory_mb": 255, "memory_mb": 1769, "warm_billed_ms": 200.0},
        {"function": "broken", "rounds": 3, "init_ms": None, "restore_ms": 9.0,
         "billed_restore_ms": None, "speedup": None, "publish_s": 1.0, "max_memory_mb": None},
    ]  # fmt: skip
    info = {"kind": "snapstart", "rounds": 3, "mechanism": "fork", "rows": rows,
            "criu": {"available": False, "detail": "Error (criu/vdso.c): bad vdso"}}  # fmt: skip
    bench = parse({"benchmarks": [entry("test_snapstart_restore_against_init", info)]})
    table = build_tables(bench)["snapstart"][0]
    assert table.rows[0] == [
        "llm", "1703 ms", "8.25 ms", "6 ms", "206x faster", "2.25 s", "255 MB",
    ]  # fmt: skip
    assert table.rows[1][1] == "-" and table.rows[1][4] == "-"
    assert "not usable here (Error (criu/vdso.c): bad vdso)" in table.notes[0]


def test_snapstart_note_sets_criu_against_fork() -> None:
    """Where CRIU works, the note gives both restores; where it does not, why, and fork's."""
    measured = {"model_mb": 200, "fork_ms_median": 4.63, "criu_dump_ms": 269.3,
                "criu_image_mb": 202.8, "criu_restore_ms_median": 116.4,
                "criu_probe": {"available": True, "version": "Version: 4.1.1"}}  # fmt: skip
    refused = {"model_mb": 200, "fork_ms_median": 3.1,
               "criu_probe": {"available": False, "detail": "bad vdso"}}  # fmt: skip
    notes = []
    for criu in (measured, refused):
        info = {"kind": "snapstart", "rounds": 3, "mechanism": "fork", "rows": [], "criu": criu}
        bench = parse({"benchmarks": [entry("test_snapstart_restore_against_init", info)]})
        notes.append(build_tables(bench)["snapstart"][0].notes[0])
    assert "Against CRIU (Version: 4.1.1), on one 200 MB process: restore 116.4 ms" in notes[0]
    assert "a 202.8 MB image), fork 4.63 ms" in notes[0]
    assert "not usable here (bad vdso); fork of a 200 MB process: 3.10 ms." in notes[1]


def test_snapstart_section_has_its_chart(tmp_path: Path) -> None:
    rows = [
        {"function": "llm", "init_ms": 820.0, "restore_ms": 4.4, "speedup": 186.4},
        {"function": "llm-web", "init_ms": 1102.2, "restore_ms": 71.3, "speedup": 15.5},
    ]
    info = {"kind": "snapstart", "rounds": 3, "mechanism": "fork", "rows": rows}
    (tmp_path / "b.json").write_text(
        json.dumps({"benchmarks": [entry("test_snapstart_restore_against_init", info)]})
    )
    paths = write_report(tmp_path / "b.json", tmp_path)
    assert (tmp_path / "bench-snapstart.png").read_bytes().startswith(PNG)
    assert "![snapstart](bench-snapstart.png)" in paths["md"].read_text()
    assert paths["html"].read_text().count("data:image/png;base64,") == 1


def test_snapstart_rows_without_timings_draw_no_chart(tmp_path: Path) -> None:
    rows = [{"function": "llm", "init_ms": None, "restore_ms": None, "error": "refused"}]
    info = {"kind": "snapstart", "rounds": 3, "mechanism": "fork", "rows": rows}
    (tmp_path / "b.json").write_text(
        json.dumps({"benchmarks": [entry("test_snapstart_restore_against_init", info)]})
    )
    paths = write_report(tmp_path / "b.json", tmp_path)
    assert not (tmp_path / "bench-snapstart.png").exists()
    assert "llm" in paths["md"].read_text()


def test_snapstart_monthly_bills() -> None:
    """The month three ways at seed 004's traffic, worked out by hand for the llm row at
    30,000 invocations, 5% cold: on-demand 1.7275 GB x (200 + 5% x 1,703.4 ms) x 30,000 =
    14,780 GB-s = $0.246, + $0.006 requests; SnapStart: cache 1.7275 GB x 2.592M s x
    $0.0000015046 = $6.74, restores 1,500 x 1.7275 GB x $0.0001398 = $0.36, compute $0.17;
    provisioned: 1.7275 GB x 2.592M s x $0.0000041667 = $18.66 + $0.10 duration + requests."""
    rows = [{"function": "llm", "init_ms": 1703.4, "billed_restore_ms": 6.0,
             "memory_mb": 1769, "warm_billed_ms": 200.0},
            {"function": "not-measured", "init_ms": 100.0}]  # fmt: skip
    bench = parse({"benchmarks": [entry("s", {"kind": "snapstart", "rows": rows})]})
    _, bills = build_tables(bench)["snapstart"]
    assert bills.rows[0] == ["llm", "1769 MB", "30,000", "5.0%", "$0.252", "$7.279", "$18.76"]
    assert bills.rows[1][:4] == ["llm", "1769 MB", "300,000", "1.0%"]
    assert len(bills.rows) == 2  # the row without a warm Duration has no bill
