"""Tokens per second per memory tier for functions/llm, like Table 1 of the AWS Compute Blog's
llama.cpp post (seeds/004): prompt eval tok/s, generation tok/s, billed duration, billed GB-s
and $ per 1k requests, through a running sandbox (`sandbox up`, its own process).

Per tier (UpdateFunctionConfiguration MemorySize; the handler sizes llama.cpp's threads from
the tier's CPU share): one cold start, then warm invokes of events/bench.json (a ~90-token
prompt, 128 tokens to generate, temperature 0). Rates come from llama.cpp's own counters as the
function reports them; Billed Duration and Max Memory Used from the REPORT line. Tiers whose
CPU share exceeds this host's cores are run and marked capped (their rates are the host's, not
Lambda's). Only a ratio is asserted: generation at the largest uncapped tier against the
smallest tier (more CPU must mean clearly more tokens/s).
"""

from __future__ import annotations

import os
import statistics
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.conftest import SandboxProcess
from benchmarks.measure import Call, cpu_info, invoke, set_memory
from sandbox.cost import cost_per_invocation
from sandbox.pytest_plugin import make_lambda_client

ROOT = Path(__file__).parents[1]
FUNCTION = "llm"
# Table 1's sizes (2,048-10,240 MB by 1,024) thinned, plus 1,024, one vCPU and the host's 2 vCPU
DEFAULT_TIERS = (1024, 1769, 2048, 3072, 3538, 4096, 6144, 8192, 10240)
TIERS = [
    int(t)
    for t in os.environ.get("SANDBOX_BENCH_LLM_TIERS", ",".join(map(str, DEFAULT_TIERS))).split(",")
]
WARM_INVOKES = int(os.environ.get("SANDBOX_BENCH_LLM_INVOKES", "3"))
MIN_SPEEDUP = 1.5  # generation tok/s, largest uncapped tier over the smallest
EVENT = (ROOT / "functions" / FUNCTION / "events" / "bench.json").read_bytes()

_ROWS: dict[int, dict[str, Any]] = {}


@pytest.fixture(scope="module")
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    """`sandbox up` serving only functions/llm (linked into a folder of its own)."""
    root = tmp_path_factory.mktemp("llm-functions")
    (root / FUNCTION).symlink_to(ROOT / "functions" / FUNCTION, target_is_directory=True)
    server = SandboxProcess(root, embedded_aws=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def client(llm_server: SandboxProcess) -> Any:
    return make_lambda_client(llm_server.url)


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def llm_row(memory_mb: int, cold: Call, warm: list[Call]) -> dict[str, Any]:
    """One tier's row (the JSON the report reads)."""
    ok = [c for c in warm if c.ok and c.init_ms is None and isinstance(c.body, dict)]
    timings = [c.body["timings"] for c in ok]
    billed = [c.billed_ms for c in ok if c.billed_ms is not None]
    errors = Counter(c.error for c in [cold, *warm] if c.error)
    billed_ms = _mean(billed)
    row: dict[str, Any] = {
        "kind": "llm_tier",
        "function": FUNCTION,
        "memory_mb": memory_mb,
        **cpu_info(memory_mb),
        "status": "ok" if not errors else ("partial" if ok else "failed"),
        "errors": dict(errors),
        "threads": ok[0].body["model"]["threads"] if ok else None,
        "init_ms": cold.init_ms,
        "n": len(ok),
        "prompt_tokens": _mean([t["prompt_eval_tokens"] for t in timings]),
        "completion_tokens": _mean([t["completion_tokens"] for t in timings]),
        "prompt_tokens_per_s": _mean([t["prompt_tokens_per_s"] for t in timings]),
        "tokens_per_s": _mean([t["tokens_per_s"] for t in timings]),
        "first_token_ms": _mean([t["first_token_ms"] for t in timings]),
        "duration_ms": _mean([c.duration_ms for c in ok if c.duration_ms is not None]),
        "billed_ms": billed_ms,
        "max_memory_mb": max(
            (c.max_memory_mb for c in [cold, *warm] if c.max_memory_mb), default=None
        ),
        "notes": sorted({c.note for c in [cold, *warm] if c.note}),
        # other work on this host slows the tier down: the 1-minute load average, after it
        "host_load_1m": round(os.getloadavg()[0], 2),
    }
    if billed_ms is not None:
        row["billed_gb_s"] = billed_ms / 1000 * memory_mb / 1024
        for arch in ("x86_64", "arm64"):
            cost = cost_per_invocation(billed_ms, memory_mb, arch=arch)
            row[f"usd_per_1k_{arch}"] = cost.total * 1000
    return row


def _line(row: dict[str, Any]) -> str:
    head = f"{row['memory_mb']:>6} MB"
    if row["capped"]:
        head += f" (capped {row['host_vcpus']:.2f}/{row['lambda_vcpus']:.2f} vCPU)"
    if not row["n"]:
        return f"{head}: {row['status']} {row['errors']}"
    return (
        f"{head}: {row['threads']} thread(s), prompt {row['prompt_tokens_per_s']:.1f} tok/s, "
        f"gen {row['tokens_per_s']:.1f} tok/s, billed {row['billed_ms']:.0f} ms, "
        f"{row['billed_gb_s']:.3f} GB-s, ${row['usd_per_1k_x86_64']:.4f}/1k, "
        f"max mem {row['max_memory_mb']} MB"
    )


@pytest.mark.parametrize("memory", TIERS)
def test_llm_at_tier(
    benchmark: Any, client: Any, capsys: pytest.CaptureFixture[str], memory: int
) -> None:
    benchmark.group = "llm tokens/s"
    set_memory(client, FUNCTION, memory)
    cold = invoke(client, FUNCTION, EVENT)
    warm: list[Call] = []
    benchmark.pedantic(
        lambda: warm.append(invoke(client, FUNCTION, EVENT)),
        rounds=WARM_INVOKES if cold.ok else 1,
        iterations=1,
    )
    row = llm_row(memory, cold, warm)
    benchmark.extra_info.update(row)
    _ROWS[memory] = row
    with capsys.disabled():
        print("\n" + _line(row), end="")
    assert row["status"] != "failed", f"llm failed at {memory} MB: {row['errors']}"
    uncapped = [t for t in TIERS if not cpu_info(t)["capped"]]
    if memory == max(uncapped) and min(uncapped) in _ROWS and len(uncapped) > 1:
        # generation tok/s, the largest uncapped tier against the smallest, same run
        low = _ROWS[min(uncapped)]
        ratio = row["tokens_per_s"] / low["tokens_per_s"]
        assert ratio >= MIN_SPEEDUP, (
            f"{memory} MB generates only {ratio:.2f}x as fast as {low['memory_mb']} MB"
        )
