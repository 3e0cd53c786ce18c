"""How image-gen's time grows with pixels x steps, measured through a running sandbox.

`sandbox up` (its own process, embedded S3 holding the model) serves functions/image-gen at its
function.yaml MemorySize. After a cold start, every round invokes each (width, height, steps)
configuration once, in an order that rotates between rounds, so all of them see the same
machine; the time is the REPORT line's Duration (what Lambda bills). Only ratios of medians
measured side by side are asserted: doubling the pixels or the steps must cost clearly more
(> 1.3x). Absolute milliseconds are recorded, not asserted (a shared 2-core host).
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.conftest import SandboxProcess
from benchmarks.measure import cpu_info, invoke
from lambda_sandbox.config import load_function
from lambda_sandbox.pytest_plugin import make_lambda_client

ROOT = Path(__file__).parents[1]
FUNCTION = "image-gen"
ROUNDS = int(os.environ.get("SANDBOX_BENCH_IMAGE_GEN_ROUNDS", "5"))
MIN_RATIO = 1.3

# (width, height, steps): a base, 2x and 4x pixels, 2x steps, 4x pixels x 2x steps, and the
# default MAX_IMAGE_SIZE (16x pixels; recorded, where attention's quadratic share shows)
BASE = (128, 128, 10)
CONFIGS: tuple[tuple[int, int, int], ...] = (
    BASE,
    (256, 128, 10),
    (256, 256, 10),
    (128, 128, 20),
    (256, 256, 20),
    (512, 512, 10),
)
# (numerator, denominator, what doubles): each must take > MIN_RATIO as long
DOUBLINGS = (
    ((256, 128, 10), BASE, "pixels"),
    ((256, 256, 10), (256, 128, 10), "pixels"),
    ((128, 128, 20), BASE, "steps"),
    ((256, 256, 20), (256, 256, 10), "steps"),
)


@pytest.fixture(scope="module")
def image_gen_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    """`sandbox up` serving only functions/image-gen (linked into a folder of its own)."""
    root = tmp_path_factory.mktemp("image-gen-functions")
    (root / FUNCTION).symlink_to(ROOT / "functions" / FUNCTION, target_is_directory=True)
    server = SandboxProcess(root, embedded_aws=True)
    try:
        yield server
    finally:
        server.stop()


def _payload(width: int, height: int, steps: int) -> bytes:
    return json.dumps({"prompt": "a lighthouse on a cliff at dusk", "width": width,
                       "height": height, "steps": steps, "seed": 42}).encode()  # fmt: skip


def scaling_rows(runs: dict[tuple[int, int, int], list[float]]) -> list[dict[str, Any]]:
    base = statistics.median(runs[BASE])
    base_work = BASE[0] * BASE[1] * BASE[2]
    rows = []
    for (width, height, steps), durations in runs.items():
        median = statistics.median(durations)
        rows.append(
            {
                "width": width,
                "height": height,
                "steps": steps,
                "pixels_x_steps": width * height * steps,
                "durations_ms": [round(d, 1) for d in durations],
                "median_ms": round(median, 1),
                "min_ms": round(min(durations), 1),
                "work_vs_base": width * height * steps / base_work,
                "time_vs_base": median / base,
            }
        )
    return rows


def test_time_grows_with_pixels_times_steps(
    benchmark: Any, image_gen_sandbox: SandboxProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_lambda_client(image_gen_sandbox.url)
    benchmark.group = "image-gen scaling"
    memory = load_function(ROOT / "functions" / FUNCTION).memory_mb
    cold = invoke(client, FUNCTION, _payload(64, 64, 1))  # the cold start, not counted
    assert cold.ok, cold.error

    runs: dict[tuple[int, int, int], list[float]] = {c: [] for c in CONFIGS}
    peak_mb = [cold.max_memory_mb or 0]
    turn = [0]

    def one_round() -> None:
        start = turn[0] % len(CONFIGS)
        turn[0] += 1
        for config in CONFIGS[start:] + CONFIGS[:start]:
            call = invoke(client, FUNCTION, _payload(*config))
            assert call.ok and call.duration_ms is not None, f"{config}: {call.error}"
            body = call.body
            assert (body["width"], body["height"], body["steps"]) == config
            runs[config].append(call.duration_ms)
            peak_mb[0] = max(peak_mb[0], call.max_memory_mb or 0)

    benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1)
    rows = scaling_rows(runs)
    medians = {(r["width"], r["height"], r["steps"]): r["median_ms"] for r in rows}
    ratios = [
        {"doubles": what, "of": list(den), "to": list(num), "ratio": medians[num] / medians[den]}
        for num, den, what in DOUBLINGS
    ]
    benchmark.extra_info.update(
        kind="image_gen_scaling",
        function=FUNCTION,
        memory_mb=memory,
        **cpu_info(memory),
        rounds=ROUNDS,
        cold_init_ms=cold.init_ms,
        max_memory_used_mb=peak_mb[0],
        rows=rows,
        ratios=ratios,
    )
    with capsys.disabled():
        print(
            f"\nimage-gen at {memory} MB: REPORT Duration, median of {ROUNDS} rounds "
            f"(cold start: Init Duration {cold.init_ms} ms; Max Memory Used {peak_mb[0]} MB)"
        )
        print("  size        steps  pixels x steps   median ms   vs base (work / time)")
        for r in rows:
            print(
                f"  {r['width']:>3}x{r['height']:<3}    {r['steps']:>3}  {r['pixels_x_steps']:>14,}"
                f"  {r['median_ms']:>10.1f}   {r['work_vs_base']:.0f}x / {r['time_vs_base']:.2f}x"
            )
        for q in ratios:
            print(f"  2x {q['doubles']}: {q['of']} -> {q['to']}: {q['ratio']:.2f}x")
    slow = [q for q in ratios if q["ratio"] <= MIN_RATIO]
    assert not slow, f"doubling did not cost > {MIN_RATIO}x: {slow}"
