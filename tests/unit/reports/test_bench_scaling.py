"""The bench report's image-generation section (entries as test_image_gen_scaling.py writes)."""

from __future__ import annotations

from typing import Any

from lambda_sandbox.reports.bench import build_tables
from lambda_sandbox.reports.bench_data import parse


def scaling_entry() -> dict[str, Any]:
    def row(w: int, h: int, steps: int, median: float) -> dict[str, Any]:
        work = w * h * steps / (128 * 128 * 10)
        return {
            "width": w,
            "height": h,
            "steps": steps,
            "pixels_x_steps": w * h * steps,
            "median_ms": median,
            "work_vs_base": work,
            "time_vs_base": median / 150.0,
        }

    return {
        "kind": "image_gen_scaling",
        "function": "image-gen",
        "memory_mb": 2048,
        "rounds": 5,
        "max_memory_used_mb": 430,
        "rows": [row(256, 256, 10, 600.0), row(128, 128, 10, 150.0), row(256, 128, 10, 255.0)],
        "ratios": [{"doubles": "pixels", "of": [128, 128, 10], "to": [256, 128, 10], "ratio": 1.7}],
    }


def test_scaling_rows_are_ordered_by_work_with_the_doublings_noted() -> None:
    bench = parse({"benchmarks": [{"extra_info": scaling_entry()}]})
    (table,) = build_tables(bench)["scaling"]
    assert table.title == "image-gen: time against pixels x steps at 2048 MB"
    assert [r[0] for r in table.rows] == ["128x128", "256x128", "256x256"]
    assert table.rows[0][3:] == ["1x", "150.0 ms", "1.00x"]
    assert table.rows[2][3:] == ["4x", "600.0 ms", "4.00x"]
    assert "Doubling pixels: 1.70x the time (128x128x10 -> 256x128x10)." in table.notes
    assert "| 256x128 | 10 | 327,680 | 2x | 255.0 ms | 1.70x |" in table.markdown()
