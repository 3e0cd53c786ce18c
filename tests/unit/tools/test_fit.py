"""lambda_sandbox.tools.fit's pure part: the Fit section, the verdicts against Lambda's limits,
the tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambda_sandbox.config import load_function
from lambda_sandbox.exceptions import ConfigError
from lambda_sandbox.limits import load_limits
from lambda_sandbox.tools.fit import (
    FitResult,
    FitRow,
    fit_spec,
    lambda_limits,
    render_markdown,
    verdicts,
)

MB = 1024 * 1024


def function(tmp_path: Path, fit: str) -> Path:
    (tmp_path / "src").mkdir(parents=True, exist_ok=True)
    (tmp_path / "src" / "app.py").write_text("def handler(e, c):\n    return 1\n")
    (tmp_path / "events").mkdir(exist_ok=True)
    (tmp_path / "events" / "direct.json").write_text("{}")
    (tmp_path / "function.yaml").write_text(f"Handler: app.handler\nFit: {fit}\n")
    return tmp_path


def result(*rows: FitRow, memory_mb: int = 10240, bundle_mb: float = 100) -> FitResult:
    limits = lambda_limits(load_limits())
    return FitResult("llm", memory_mb, int(bundle_mb * MB), 3, list(rows), limits)


def test_fit_spec(tmp_path: Path) -> None:
    config = load_function(function(tmp_path, "{Select: MODEL_FILE, Variants: {A: a.gguf}}"))
    spec = fit_spec(config)
    assert (spec.select, spec.variants, spec.event.name) == (
        "MODEL_FILE",
        {"A": "a.gguf"},
        "direct.json",
    )


@pytest.mark.parametrize(
    ("fit", "message"),
    [
        ("[]", "declares no Fit"),
        ("{Select: X}", r"Fit\.Variants"),
        ("{Variants: {A: a}}", r"Fit\.Select"),
        ("{Select: X, Variants: {A: a}, Event: events/none.json}", r"Fit\.Event: .* not found"),
    ],
)
def test_fit_spec_errors(tmp_path: Path, fit: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        fit_spec(load_function(function(tmp_path, fit)))


def test_a_small_model_fits_everywhere() -> None:
    row = FitRow("Q4_1", "m.gguf", 94 * MB, init_ms=900, warm_p50_ms=600, warm_max_ms=700,
                 max_memory_mb=260)  # fmt: skip
    v = verdicts(row, result(row))
    assert v == {
        "storage_verdict": "fits: in the zip, or from S3",
        "memory_verdict": "fits: MemorySize >= 260 MB",
        "latency_verdict": "fits behind API Gateway (29 s)",
    }


def test_storage_past_the_zip_and_the_default_tmp() -> None:
    row = FitRow("F16", "m.gguf", 700 * MB, max_memory_mb=900, warm_p50_ms=10)
    assert verdicts(row, result(row))["storage_verdict"] == (
        "fits from S3 (memfd or /tmp) or an image; too big for the zip; "
        "/tmp fallback needs EphemeralStorage >= 700 MB"
    )
    huge = FitRow("F32", "m.gguf", 12_000 * MB)
    assert verdicts(huge, result(huge))["storage_verdict"] == (
        "does not fit: over the 10 GB image limit; /tmp fallback impossible"
    )


def test_memory_at_the_limit_does_not_fit() -> None:
    row = FitRow("F16", "m.gguf", 10 * MB, max_memory_mb=1024, errors={"Runtime.ExitError": 2})
    v = verdicts(row, result(row, memory_mb=1024))
    assert v["memory_verdict"] == "does not fit in 1024 MB (reached the limit)"
    assert v["latency_verdict"] == "not measured (Runtime.ExitError x2)"


def test_latency_verdicts() -> None:
    slow = FitRow("A", "a", MB, init_ms=12_000, warm_p50_ms=40_000, warm_max_ms=41_000)
    assert verdicts(slow, result(slow))["latency_verdict"] == (
        "past API Gateway's 29 s: function URL or async only; "
        "INIT over 10 s: suppressed, retried in the first invoke"
    )
    over = FitRow("B", "b", MB, warm_p50_ms=901_000)
    assert verdicts(over, result(over))["latency_verdict"] == "over the 900 s timeout"


def test_markdown_has_the_three_tables() -> None:
    row = FitRow("Q4_1", "m.gguf", 94 * MB, init_ms=900, warm_p50_ms=600, max_memory_mb=260)
    text = render_markdown(result(row))
    assert text.startswith("# Fit report: llm\n")
    for title in ("## Storage", "## Peak memory (at MemorySize 10240 MB)", "## Latency"):
        assert title in text
    assert "| Q4_1 | 94.0 MB | 194.0 MB | 0.9% | fits: in the zip, or from S3 |" in text
    assert "| Q4_1 | 260 MB | 2.5% | fits: MemorySize >= 260 MB |" in text
    assert "| Q4_1 | 900 ms | 600 ms | - | fits behind API Gateway (29 s) |" in text


def test_cli_fit_of_a_function_without_variants_is_a_clear_error() -> None:
    from click.testing import CliRunner

    from lambda_sandbox.cli import main

    functions = Path(__file__).parents[3] / "functions"
    out = CliRunner().invoke(main, ["fit", "hello", "--functions", str(functions)])
    assert out.exit_code == 1
    assert "declares no Fit (Event, Select, Variants)" in " ".join(out.output.split())
    assert "%" not in out.output  # no progress bar: it failed before starting work
