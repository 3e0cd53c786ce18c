"""Which architecture: $ per 1M inferences on Lambda (x86_64, arm64) beside EC2 instances.

Lambda bills each invocation, so its cost per inference follows from the billed duration the
sandbox measured at a memory tier (plus INIT at an assumed cold-start rate). An always-on EC2
instance costs its hourly price whatever it does, so its cost per inference follows from its
throughput, which this machine cannot measure: it is estimated from the throughput measured on
one vCPU through the sandbox (the function at 1,769 MB = exactly one vCPU), times the
instance's vCPUs. Every row says whether it was measured or estimated, and how.

The estimate assumes the instance runs one single-threaded worker per vCPU, all of them busy
all the time (100% utilization, no HTTP front-end overhead), at the per-vCPU speed of this host
(also for arm64, which is not measured here). A GPU instance's GPU is not used by the
functions' CPU inference (onnxruntime's CPU provider): without an assumed `gpu_speedup` its row
counts only its vCPUs. Prices come from limits/prices.toml through lambda_sandbox.cost.
"""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass
from typing import Any, Literal

from lambda_sandbox.cost import cost_per_million, ec2_cost_per_million
from lambda_sandbox.limits import Limits, load_limits

__all__ = [
    "COLD_START_RATE",
    "ComparisonRow",
    "LambdaCost",
    "Measured",
    "compare",
    "host_arch",
    "lambda_cost",
]

# The share of invokes assumed to be cold starts when INIT is priced in. The AWS Compute Blog
# post on LLM inference with zip packaging and SnapStart (shared/seeds/004) assumes 1% of all
# invokes once traffic has grown; real rates depend on traffic shape and keep-alive.
COLD_START_RATE = 0.01

Basis = Literal["measured", "estimated"]


def host_arch() -> str:
    """This machine's architecture under Lambda's names: x86_64 or arm64."""
    return "arm64" if platform.machine().lower() in ("aarch64", "arm64") else "x86_64"


@dataclass(frozen=True)
class LambdaCost:
    """$ per 1M invocations of one function at one tier: requests + compute, with INIT billed
    for the cold starts (Billed Duration = Duration + Init Duration since 1 Aug 2025)."""

    per_million: float  # with cold starts at `cold_rate`
    warm_per_million: float  # every invoke warm
    init_per_million: float  # the part of `per_million` that pays for INIT
    cold_rate: float

    @property
    def init_share(self) -> float:
        """The share of the cost that is INIT (0 when nothing is billed)."""
        return self.init_per_million / self.per_million if self.per_million else 0.0


def lambda_cost(
    warm_billed_ms: float,
    memory_mb: int,
    *,
    arch: str = "x86_64",
    cold_extra_ms: float = 0.0,
    cold_rate: float = COLD_START_RATE,
    limits: Limits | None = None,
) -> LambdaCost:
    """The cost of 1M invocations when a share `cold_rate` of them are cold starts that bill
    `cold_extra_ms` more than a warm one (the Init Duration, for a normal cold start)."""
    if not 0.0 <= cold_rate <= 1.0:
        raise ValueError(f"cold_rate must be within [0, 1], not {cold_rate}")
    lim = limits or load_limits()
    warm = cost_per_million(warm_billed_ms, memory_mb, arch=arch, limits=lim)
    cold = cost_per_million(
        warm_billed_ms + max(cold_extra_ms, 0.0), memory_mb, arch=arch, limits=lim
    )
    return LambdaCost(
        per_million=(1 - cold_rate) * warm + cold_rate * cold,
        warm_per_million=warm,
        init_per_million=cold_rate * (cold - warm),
        cold_rate=cold_rate,
    )


@dataclass(frozen=True)
class Measured:
    """What the sandbox measured for one function (see benchmarks/test_ml_tiers.py)."""

    function: str
    memory_mb: int  # the chosen tier
    warm_billed_ms: float  # mean Billed Duration of a warm invoke at that tier
    environment_ips: float  # inferences/s one environment sustains there: 1000 / mean Duration
    per_vcpu_ips: float  # inferences/s on one vCPU (the function at 1,769 MB)
    cold_extra_ms: float = 0.0  # what a cold start bills more (Init Duration) at that tier
    client_ips: float | None = None  # inferences/s one sequential client saw, end to end
    arch: str = "x86_64"  # the architecture the measurement ran on


@dataclass(frozen=True)
class ComparisonRow:
    platform: str  # "Lambda 1024 MB", "EC2 t3.medium"
    arch: str
    vcpus: float
    inferences_per_second: float  # per environment (Lambda) or per instance (EC2)
    usd_per_million: float
    basis: Basis
    how: str
    hourly_usd: float | None = None  # EC2 only
    # EC2 only: the sustained rate above which the instance is cheaper than Lambda (x86_64),
    # and that rate as a share of the instance's estimated capacity (> 1: never cheaper)
    break_even_ips: float | None = None
    break_even_utilization: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def compare(
    measured: Measured,
    *,
    cold_rate: float = COLD_START_RATE,
    gpu_speedup: float | None = None,
    limits: Limits | None = None,
) -> list[ComparisonRow]:
    """Lambda x86_64 and arm64 at the measured tier, then every EC2 instance in prices.toml."""
    lim = limits or load_limits()
    if measured.per_vcpu_ips <= 0 or measured.environment_ips <= 0:
        raise ValueError("throughputs must be positive")
    vcpus = lim.vcpus_for(measured.memory_mb)
    rows: list[ComparisonRow] = []
    lambda_x86 = 0.0
    for arch in ("x86_64", "arm64"):
        cost = lambda_cost(
            measured.warm_billed_ms,
            measured.memory_mb,
            arch=arch,
            cold_extra_ms=measured.cold_extra_ms,
            cold_rate=cold_rate,
            limits=lim,
        )
        if arch == "x86_64":
            lambda_x86 = cost.per_million
        same = arch == measured.arch
        how = (
            f"billed {measured.warm_billed_ms:.1f} ms (mean, warm) at {measured.memory_mb} MB "
            f"through the sandbox, {cold_rate:.0%} cold starts billing "
            f"{measured.cold_extra_ms:.0f} ms more"
        )
        if not same:
            how += f"; duration measured on {measured.arch}, priced as {arch} (speed not measured)"
        rows.append(
            ComparisonRow(
                platform=f"Lambda {measured.memory_mb} MB",
                arch=arch,
                vcpus=vcpus,
                inferences_per_second=measured.environment_ips,
                usd_per_million=cost.per_million,
                basis="measured" if same else "estimated",
                how=how,
            )
        )
    for name, spec in lim.prices["ec2"]["instances"].items():
        n = float(spec["vcpus"])
        ips = measured.per_vcpu_ips * n
        how = (
            f"{measured.per_vcpu_ips:.1f}/s per vCPU (measured at 1 vCPU) x {n:g} vCPUs, 100% busy"
        )
        if spec["arch"] != measured.arch:
            how += f"; {spec['arch']} assumed as fast per vCPU as this {measured.arch} host"
        if name.startswith(("t3", "t4g")):
            how += "; burstable: full speed sustained needs unlimited mode (credits not priced)"
        if name.startswith(("g4dn", "g5", "g6", "p3", "p4", "p5")):
            if gpu_speedup:
                ips *= gpu_speedup
                how += f"; GPU assumed {gpu_speedup:g}x the CPU estimate (not measured)"
            else:
                how += "; GPU not used (CPU inference), so CPU only: a GPU build would be faster"
        hourly = float(spec["hourly"])
        break_even = hourly / 3600 / (lambda_x86 / 1e6) if lambda_x86 else None
        rows.append(
            ComparisonRow(
                platform=f"EC2 {name}",
                arch=str(spec["arch"]),
                vcpus=n,
                inferences_per_second=ips,
                usd_per_million=ec2_cost_per_million(name, ips, limits=lim),
                basis="estimated",
                how=how,
                hourly_usd=hourly,
                break_even_ips=break_even,
                break_even_utilization=None if break_even is None else break_even / ips,
            )
        )
    return rows
