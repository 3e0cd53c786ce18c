"""`sandbox fit` on the LLM: two of its variants measured through a throwaway sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambda_sandbox.config import load_function
from lambda_sandbox.tools.fit import fit, render_markdown, verdicts

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.timeout(1800),  # the first bundle build on a machine compiles llama-cpp-python
]
FUNCTION_DIR = Path(__file__).resolve().parents[1]


def test_fit_measures_storage_memory_and_latency_per_variant() -> None:
    config = load_function(FUNCTION_DIR)
    variants = {k: v for k, v in config.raw["Fit"].items() if k != "Variants"}
    two = {name: config.raw["Fit"]["Variants"][name] for name in ("Q4_1", "F16")}
    config = config.with_updates(raw={**config.raw, "Fit": {**variants, "Variants": two}})
    result = fit(config, memory_mb=1024, invokes=1)
    q4, f16 = result.rows
    assert (q4.variant, f16.variant) == ("Q4_1", "F16")
    assert q4.size_bytes == 98_362_432 and f16.size_bytes > 2 * q4.size_bytes
    assert not q4.errors and not f16.errors
    assert q4.max_memory_mb is not None and f16.max_memory_mb is not None
    # the model sits in a memfd, charged to the function's memory: the bigger file, the peak
    assert f16.max_memory_mb - q4.max_memory_mb > 0.8 * (f16.size_bytes - q4.size_bytes) / 2**20
    assert q4.init_ms is not None and q4.warm_p50_ms is not None
    v = verdicts(q4, result)
    assert v["storage_verdict"] == "fits: in the zip, or from S3"
    assert v["memory_verdict"] == f"fits: MemorySize >= {q4.max_memory_mb} MB"
    assert v["latency_verdict"] == "fits behind API Gateway (29 s)"
    assert "## Peak memory (at MemorySize 1024 MB)" in render_markdown(result)
