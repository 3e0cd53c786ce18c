"""`sandbox tune`'s arithmetic on hand-made numbers: Power Tuning's trimming, pricing, strategies.

No sandbox: these are the pure functions of lambda_sandbox/tools/tune (and the output files they
feed).
"""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import pytest

from lambda_sandbox.cost import cost_per_invocation
from lambda_sandbox.log_lines import Report
from lambda_sandbox.tools.tune import (
    DEFAULT_BALANCED_WEIGHT,
    Invocation,
    TierStats,
    TuneResult,
    choose_power,
    price_per_invocation,
    tier_stats,
    trimmed_mean,
    visualization_url,
    write_outputs,
)

# (power, cost $, duration ms): cheapest is 256, fastest 1024 and 2048 (tie, 1024 cheaper)
POINTS = [
    (128, 4.0e-6, 1900.0),
    (256, 3.0e-6, 700.0),
    (512, 3.5e-6, 400.0),
    (1024, 6.0e-6, 300.0),
    (2048, 9.0e-6, 300.0),
]


# trimming -------------------------------------------------------------------------------------
def test_trimmed_mean_drops_20_percent_at_each_end() -> None:
    # 10 values: int(10 * 0.2) = 2 dropped at each end -> mean of 3..8
    values = [100.0, 1.0, 5.0, 3.0, 8.0, 2.0, 7.0, 4.0, 6.0, 50.0]
    assert trimmed_mean(values) == pytest.approx((3 + 4 + 5 + 6 + 7 + 8) / 6)


def test_trimmed_mean_of_five_drops_one_each_end() -> None:
    assert trimmed_mean([900.0, 10.0, 20.0, 30.0, 1.0]) == pytest.approx(20.0)


def test_trimmed_mean_below_five_values_drops_nothing() -> None:
    # Power Tuning: int(4 * 0.2) == 0, "not enough results to discard"
    assert trimmed_mean([1.0, 2.0, 3.0, 100.0]) == pytest.approx(26.5)
    assert trimmed_mean([7.0]) == 7.0


def test_trimmed_mean_clamps_discard_to_40_percent_and_handles_empty() -> None:
    values = [100.0, *(float(v) for v in range(1, 10))]  # 1..9 and an outlier
    assert trimmed_mean(values, 0.4) == pytest.approx(5.5)  # 4 dropped each end: (5 + 6) / 2
    assert trimmed_mean(values, 0.9) == pytest.approx(5.5)  # clamped to 0.4
    assert trimmed_mean(values, 0.0) == pytest.approx(14.5)  # nothing dropped
    assert trimmed_mean(values, -1.0) == pytest.approx(14.5)
    assert trimmed_mean(values, 0.1) == pytest.approx(5.5)  # 1 dropped each end: 2..9
    assert trimmed_mean([]) is None


# pricing --------------------------------------------------------------------------------------
def test_price_rounds_billed_ms_up_and_scales_with_memory() -> None:
    # us-east-1 x86: $0.0000166667 per GB-s; 1,024 MB for 100 ms = 0.1 GB-s
    assert price_per_invocation(100.0, 1024) == pytest.approx(0.1 * 0.0000166667)
    assert price_per_invocation(99.2, 1024) == price_per_invocation(100.0, 1024)
    assert price_per_invocation(100.0, 2048) == pytest.approx(2 * price_per_invocation(100, 1024))
    # Power Tuning's computePrice leaves the request fee out
    full = cost_per_invocation(100, 1024)
    assert price_per_invocation(100.0, 1024) == pytest.approx(full.compute)
    assert full.total > full.compute


def test_arm64_is_priced_lower() -> None:
    assert price_per_invocation(100.0, 1024, "arm64") == pytest.approx(0.1 * 0.0000133334)


# strategies -----------------------------------------------------------------------------------
def test_cost_strategy_picks_the_cheapest() -> None:
    assert choose_power(POINTS, "cost") == 256


def test_cost_ties_go_to_the_fastest() -> None:
    assert choose_power([(128, 1e-6, 90.0), (256, 1e-6, 40.0), (512, 2e-6, 20.0)], "cost") == 256


def test_speed_strategy_picks_the_fastest_and_ties_go_to_the_cheapest() -> None:
    assert choose_power(POINTS, "speed") == 1024
    assert choose_power(list(reversed(POINTS)), "speed") == 1024


def test_balanced_strategy_uses_normalised_cost_and_duration() -> None:
    # value = w * cost / max(cost) + (1 - w) * duration / max(duration), smallest wins
    max_cost, max_dur = 9.0e-6, 1900.0

    def value(point: tuple[int, float, float], w: float) -> float:
        return w * point[1] / max_cost + (1 - w) * point[2] / max_dur

    for w in (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0):
        expected = min(POINTS, key=lambda p: value(p, w))[0]
        assert choose_power(POINTS, "balanced", w) == expected, w
    # by hand at the default 0.5: 512 -> 0.5 * 3.5/9 + 0.5 * 400/1900 = 0.2997 (256: 0.3509)
    assert DEFAULT_BALANCED_WEIGHT == 0.5
    assert choose_power(POINTS, "balanced") == 512


def test_balanced_weight_ends_are_speed_and_cost_and_are_clamped() -> None:
    points = [(128, 1e-6, 1000.0), (512, 2e-6, 260.0), (1024, 3e-6, 250.0)]
    assert choose_power(points, "balanced", 0.0) == choose_power(points, "speed") == 1024
    assert choose_power(points, "balanced", 1.0) == choose_power(points, "cost") == 128
    assert choose_power(points, "balanced", 0.5) == 512
    assert choose_power(points, "balanced", 7.0) == 128
    assert choose_power(points, "balanced", -3.0) == 1024


def test_no_points_no_choice_and_unknown_strategy_is_refused() -> None:
    assert choose_power([], "cost") is None
    with pytest.raises(ValueError, match="unknown strategy"):
        choose_power(POINTS, "cheapest")


# parsing --------------------------------------------------------------------------------------
COLD = (
    "START RequestId: 1 Version: $LATEST\nhello\nEND RequestId: 1\n"
    "REPORT RequestId: 1\tDuration: 2.75 ms\tBilled Duration: 117 ms\tMemory Size: 512 MB\t"
    "Max Memory Used: 38 MB\tInit Duration: 113.51 ms\t\n"
    "SANDBOX RequestId: 1\tCPU capped at 2.00 vCPU (the tier gets 2.32 on Lambda)\n"
)
WARM = (
    "REPORT RequestId: 2\tDuration: 10.20 ms\tBilled Duration: 11 ms\tMemory Size: 512 MB\t"
    "Max Memory Used: 40 MB\t\n"
)


def test_report_parse_reads_each_field_and_the_sandbox_note() -> None:
    cold = Report.parse(COLD)
    assert cold is not None
    assert cold.duration_ms == 2.75 and cold.billed_ms == 117 and cold.init_ms == 113.51
    assert cold.max_memory_used_mb == 38 and cold.restore_ms is None
    assert cold.note == "CPU capped at 2.00 vCPU (the tier gets 2.32 on Lambda)"
    warm = Report.parse(WARM)
    assert warm is not None
    assert warm.duration_ms == 10.2 and warm.billed_ms == 11 and warm.init_ms is None
    assert warm.note is None


# one tier from hand-made invocations ----------------------------------------------------------
def inv(duration: float, billed: float, init: float | None = None) -> Invocation:
    return Invocation(duration + (init or 0.0), billed, init_ms=init, max_memory_mb=40)


def test_tier_stats_trim_price_and_count_errors() -> None:
    warm = [inv(5.0, 300.0, init=290.0)]
    counted = [inv(d, d + 1) for d in (10.0, 11.0, 12.0, 13.0, 50.0)]
    counted.append(Invocation(None, None, error="TooManyRequestsException"))
    counted.append(Invocation(3.0, 3.0, error="ValueError"))
    tier = tier_stats(512, warm, counted, "x86_64", 0.2, host_cpus=2)
    # 5 good durations: int(5 * 0.2) = 1 dropped each end -> mean(11, 12, 13)
    assert tier.average_duration == pytest.approx(12.0)
    assert tier.average_billed_duration == pytest.approx(13.0)
    assert tier.average_price == pytest.approx(price_per_invocation(13.0, 512))
    # totalCost: every billed counted invoke, the failed one too; the warm-up apart
    billed = [11.0, 12.0, 13.0, 14.0, 51.0, 3.0]
    assert tier.total_cost == pytest.approx(sum(price_per_invocation(b, 512) for b in billed))
    assert tier.warmup_cost == pytest.approx(price_per_invocation(300.0, 512))
    assert tier.errors == 2
    assert tier.error_types == {"TooManyRequestsException": 1, "ValueError": 1}
    assert tier.init_duration == 290.0 and tier.cold_starts == 0
    assert not tier.failed and not tier.cpu_capped
    assert tier.vcpus == pytest.approx(512 / 1769)


def test_a_tier_whose_invokes_all_failed_is_failed_not_dropped() -> None:
    counted = [Invocation(5.0, 6.0, error="Runtime.ExitError")] * 5
    tier = tier_stats(128, [], counted, "x86_64", 0.2, host_cpus=2)
    assert tier.failed and tier.average_duration is None and tier.average_price is None
    assert tier.errors == 5 and tier.total_cost > 0
    out = tier.to_json()
    assert out["failed"] is True and out["averagePrice"] is None


def test_a_tier_past_the_host_cores_is_marked_capped() -> None:
    tier = tier_stats(4096, [], [inv(10.0, 10.0)], "x86_64", 0.2, host_cpus=2)
    assert tier.cpu_capped and tier.vcpus == 2.0
    assert tier.lambda_vcpus == pytest.approx(4096 / 1769)


# Power Tuning's visualization URL ---------------------------------------------------------------
def test_visualization_url_encodes_like_power_tuning() -> None:
    # the example hash in Power Tuning's README.md
    example = "gAAAAQACAAQABsAL;ZooQR4yvkUa/pQRGRC5zRaADHUVjOftE;QdWhOEMkoziDT5Q4xhiIOMYYiDi6RNc4"
    _, times_b64, costs_b64 = example.split(";")
    times = struct.unpack("<6f", base64.b64decode(times_b64))
    costs = struct.unpack("<6f", base64.b64decode(costs_b64))
    sizes = [128, 256, 512, 1024, 1536, 3008]
    url = visualization_url(sizes, times, costs)
    assert url == "https://lambda-power-tuning.show/#" + example
    # sorted by power whatever the order given
    assert visualization_url(sizes[::-1], times[::-1], costs[::-1]) == url


# the output files from hand-made numbers ------------------------------------------------------
def hand_made_result() -> TuneResult:
    def tier(m: int, dur: float | None, capped: bool = False) -> TierStats:
        price = None if dur is None else price_per_invocation(dur, m)
        return TierStats(
            value=m,
            average_price=price,
            average_duration=dur,
            total_cost=(price or 0.0) * 5,
            average_billed_duration=None if dur is None else float(round(dur + 0.5)),
            invocations=5,
            errors=5 if dur is None else 0,
            error_types={"Runtime.ExitError": 5} if dur is None else {},
            init_duration=250.0,
            vcpus=min(m / 1769, 2.0),
            lambda_vcpus=m / 1769,
            cpu_capped=capped,
            durations=[] if dur is None else [dur] * 5,
        )

    stats = [tier(128, None), tier(512, 400.0), tier(1769, 120.0), tier(4096, 100.0, True)]
    return TuneResult(
        function="hand",
        strategy="speed",
        balanced_weight=0.5,
        num=5,
        parallel=False,
        arch="x86_64",
        original_memory=512,
        discard_top_bottom=0.2,
        stats=stats,
        power=4096,
        cost=stats[3].average_price,
        duration=100.0,
        host_cpus=2,
        started_at=0.0,
        elapsed_s=1.0,
    )


def test_write_outputs_with_failed_and_capped_tiers(tmp_path: Path) -> None:
    paths = write_outputs(hand_made_result(), tmp_path)
    data = json.loads(paths["json"].read_text())
    assert {"power", "cost", "duration", "stateMachine", "stats"} <= set(data)
    assert data["power"] == 4096
    assert set(data["stateMachine"]) == {"executionCost", "lambdaCost", "visualization"}
    assert data["sandbox"]["failedTiers"] == [128] and data["sandbox"]["cappedTiers"] == [4096]
    first = data["stats"][0]
    assert {"value", "averagePrice", "averageDuration", "totalCost"} <= set(first)
    assert first["failed"] is True
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = paths["html"].read_text()
    assert "data:image/png;base64," in page and "capped" in page and "failed" in page


def test_cold_starts_three_ways_at_the_chosen_size(tmp_path: Path) -> None:
    """The month at 1M invocations, 1% cold, 1,024 MB, 100 ms warm, INIT 800 ms, Billed
    Restore 6 ms, worked by hand: on-demand 1M x 1 GB x 0.108 s x $0.0000166667 = $1.80 + $0.20
    requests; SnapStart 1M x 0.10006 s = $1.6677 + cache 1 GB x 2.592M s x $0.0000015046 =
    $3.90 + 10,000 restores x $0.0001397998 = $1.40, + $0.20; provisioned 1 GB x 2.592M s x
    $0.0000041667 = $10.80 + 1M x 0.1 s x $0.0000097222 = $0.97 + $0.20."""
    from lambda_sandbox.tools.tune.cold_starts import ColdStartOptions
    from lambda_sandbox.tools.tune.output import cold_start_table

    cold = ColdStartOptions(1024, 1_000_000, 0.01, "x86_64", 100.0, 800.0, 6.4, 6.0)
    bills = cold.bills()
    assert bills["onDemand"] == pytest.approx(1.80 + 0.20, abs=0.01)
    assert bills["snapStart"] == pytest.approx(1.6677 + 3.90 + 1.40 + 0.20, abs=0.01)
    assert bills["provisioned"] == pytest.approx(10.80 + 0.97 + 0.20, abs=0.01)
    result = hand_made_result()
    result.cold_starts = cold
    table = cold_start_table(result)
    assert table is not None
    assert [row[0] for row in table.rows] == [
        "on-demand",
        "SnapStart",
        "provisioned (1 environment)",
    ]
    assert table.rows[1][1] == "Restore Duration 6.4 ms" and table.rows[0][2] == "$2.00"
    data = json.loads(write_outputs(result, tmp_path)["json"].read_text())
    assert data["sandbox"]["coldStartOptions"]["monthlyBill"]["snapStart"] == bills["snapStart"]
    unmeasured = ColdStartOptions(1024, 1000, 0.01, "x86_64", 100.0, 800.0, snapstart_note="why")
    assert unmeasured.bills()["snapStart"] is None
    result.cold_starts = unmeasured
    row = cold_start_table(result).rows[1]  # type: ignore[union-attr]
    assert row[1:] == ["why", "-"]
