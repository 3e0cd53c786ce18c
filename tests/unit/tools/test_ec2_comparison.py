"""The cost math of lambda_sandbox.tools.ec2_comparison: Lambda with cold starts, and Lambda
beside EC2."""

from __future__ import annotations

import pytest

from lambda_sandbox.limits import Limits
from lambda_sandbox.tools.ec2_comparison import Measured, compare, host_arch, lambda_cost

# a small, fixed price list: the expected numbers below are worked out by hand from it
PRICES = {
    "lambda": {
        "requests_per_million": 0.20,
        "gb_second_x86_64": 0.0000166667,
        "gb_second_arm64": 0.0000133334,
        "ephemeral_gb_second_over_512mb": 0.0000000309,
        "billing_granularity_ms": 1,
    },
    "api_gateway": {"http_api_per_million": 1.0, "rest_api_per_million": 3.5},
    "ec2": {
        "instances": {
            "t3.medium": {"hourly": 0.0416, "vcpus": 2, "memory_gib": 4, "arch": "x86_64"},
            "t4g.medium": {"hourly": 0.0336, "vcpus": 2, "memory_gib": 4, "arch": "arm64"},
            "g4dn.xlarge": {"hourly": 0.526, "vcpus": 4, "memory_gib": 16, "arch": "x86_64"},
        }
    },
}
LIMITS = Limits(quotas={"cpu": {"mb_per_vcpu": 1769, "max_vcpus": 6}}, tiers={}, prices=PRICES)


def measured(**changes: object) -> Measured:
    values: dict[str, object] = {
        "function": "demo",
        "memory_mb": 1024,
        "warm_billed_ms": 10.0,
        "environment_ips": 80.0,
        "per_vcpu_ips": 100.0,
        "cold_extra_ms": 1000.0,
        "client_ips": 60.0,
        "arch": "x86_64",
    }
    values.update(changes)
    return Measured(**values)  # type: ignore[arg-type]


def test_lambda_cost_without_cold_starts_is_the_plain_price() -> None:
    cost = lambda_cost(10.0, 1024, cold_extra_ms=1000.0, cold_rate=0.0, limits=LIMITS)
    # 1 GB x 0.010 s x $0.0000166667 = $1.66667e-7 per invoke; + $0.20 per 1M requests
    assert cost.per_million == pytest.approx(0.166667 + 0.20, rel=1e-5)
    assert cost.warm_per_million == cost.per_million
    assert cost.init_per_million == 0.0 and cost.init_share == 0.0


def test_lambda_cost_bills_init_for_the_cold_share() -> None:
    cost = lambda_cost(10.0, 1024, cold_extra_ms=1000.0, cold_rate=0.01, limits=LIMITS)
    warm = 0.166667 + 0.20  # per 1M, every invoke warm
    cold = 0.166667 * 101 + 0.20  # a cold start bills 10 + 1,000 ms
    assert cost.per_million == pytest.approx(0.99 * warm + 0.01 * cold, rel=1e-5)
    assert cost.per_million == pytest.approx(0.533333, rel=1e-5)
    assert cost.init_per_million == pytest.approx(0.01 * 0.166667 * 100, rel=1e-5)
    assert cost.init_share == pytest.approx(0.3125, rel=1e-4)


def test_lambda_cost_arm64_uses_the_arm64_price() -> None:
    cost = lambda_cost(1000.0, 2048, arch="arm64", cold_rate=0.0, limits=LIMITS)
    assert cost.per_million == pytest.approx(2 * 1.0 * 0.0000133334 * 1e6 + 0.20, rel=1e-6)


@pytest.mark.parametrize("rate", [-0.1, 1.5])
def test_lambda_cost_refuses_a_cold_rate_outside_0_1(rate: float) -> None:
    with pytest.raises(ValueError, match="cold_rate"):
        lambda_cost(10.0, 1024, cold_rate=rate, limits=LIMITS)


def test_compare_rows_lambda_measured_on_its_arch_and_ec2_estimated() -> None:
    rows = compare(measured(), cold_rate=0.01, limits=LIMITS)
    by_name = {(r.platform, r.arch): r for r in rows}
    assert [r.platform for r in rows] == [
        "Lambda 1024 MB",
        "Lambda 1024 MB",
        "EC2 t3.medium",
        "EC2 t4g.medium",
        "EC2 g4dn.xlarge",
    ]
    x86 = by_name[("Lambda 1024 MB", "x86_64")]
    arm = by_name[("Lambda 1024 MB", "arm64")]
    assert x86.basis == "measured" and arm.basis == "estimated"
    assert x86.usd_per_million == pytest.approx(0.533333, rel=1e-5)
    assert x86.vcpus == pytest.approx(1024 / 1769)
    assert x86.inferences_per_second == 80.0
    assert "speed not measured" in arm.how
    assert all(r.basis == "estimated" for r in rows if r.platform.startswith("EC2"))


def test_compare_ec2_throughput_scales_per_vcpu_and_prices_by_the_hour() -> None:
    rows = {r.platform: r for r in compare(measured(), cold_rate=0.01, limits=LIMITS)}
    t3 = rows["EC2 t3.medium"]
    assert t3.inferences_per_second == pytest.approx(200.0)  # 100/s per vCPU x 2 vCPUs
    # $0.0416 per hour / (200/s x 3,600 s) x 1M
    assert t3.usd_per_million == pytest.approx(0.0416 / (200 * 3600) * 1e6)
    assert t3.hourly_usd == 0.0416
    # EC2 matches Lambda x86_64 ($0.533333 per 1M) at $0.0416/h / $0.533333e-6 / 3,600 s
    assert t3.break_even_ips == pytest.approx(0.0416 / 3600 / 0.533333e-6, rel=1e-5)
    assert t3.break_even_utilization == pytest.approx(t3.break_even_ips / 200.0)
    assert "burstable" in t3.how
    assert "arm64 assumed as fast" in rows["EC2 t4g.medium"].how


def test_compare_g4dn_counts_vcpus_unless_a_gpu_speedup_is_assumed() -> None:
    plain = {r.platform: r for r in compare(measured(), limits=LIMITS)}["EC2 g4dn.xlarge"]
    assert plain.inferences_per_second == pytest.approx(400.0)
    assert "GPU not used" in plain.how
    fast = {r.platform: r for r in compare(measured(), gpu_speedup=5.0, limits=LIMITS)}
    gpu = fast["EC2 g4dn.xlarge"]
    assert gpu.inferences_per_second == pytest.approx(2000.0)
    assert gpu.usd_per_million == pytest.approx(plain.usd_per_million / 5)
    assert "assumed 5x" in gpu.how and gpu.basis == "estimated"
    assert fast["EC2 t3.medium"].inferences_per_second == pytest.approx(200.0)


def test_compare_on_an_arm64_host_measures_arm64() -> None:
    rows = compare(measured(arch="arm64"), limits=LIMITS)
    lam = {r.arch: r for r in rows if r.platform.startswith("Lambda")}
    assert lam["arm64"].basis == "measured" and lam["x86_64"].basis == "estimated"
    t3 = next(r for r in rows if r.platform == "EC2 t3.medium")
    assert "x86_64 assumed as fast per vCPU as this arm64 host" in t3.how


def test_compare_refuses_no_throughput() -> None:
    with pytest.raises(ValueError, match="positive"):
        compare(measured(per_vcpu_ips=0.0), limits=LIMITS)


def test_rows_serialize_and_host_arch_uses_lambda_names() -> None:
    row = compare(measured(), limits=LIMITS)[0].to_json()
    assert row["basis"] == "measured" and row["hourly_usd"] is None
    assert host_arch() in ("x86_64", "arm64")
