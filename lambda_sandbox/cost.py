"""The cost model: billed duration to dollars, with prices from limits/prices.toml.

Lambda bills GB-seconds of billed duration (INIT included for on-demand functions since
1 Aug 2025), a price per request, and /tmp above 512 MB; API Gateway adds a price per request.
SnapStart (Python, .NET) adds the snapshot's cache per GB-second while the version exists and
a restore charge per GB at each cold start; provisioned concurrency its configured
environments per GB-second and a lower duration rate for what they serve (`monthly_bill`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lambda_sandbox.limits import Limits, load_limits

__all__ = [
    "InvocationCost",
    "MonthlyBill",
    "billed_ms",
    "cost_per_invocation",
    "cost_per_million",
    "ec2_cost_per_million",
    "monthly_bill",
]


def billed_ms(
    duration_ms: float, init_ms: float | None = None, limits: Limits | None = None
) -> int:
    """Billed Duration by the rule in force since 1 Aug 2025: INIT billed, 1 ms steps
    (a cold start of 2.75 ms after 113.51 ms of INIT bills 117 ms)."""
    step = (limits or load_limits()).prices["lambda"]["billing_granularity_ms"]
    total = duration_ms + (init_ms or 0.0)
    return int(math.ceil(total / step) * step)


@dataclass(frozen=True)
class InvocationCost:
    compute: float
    request: float
    ephemeral: float
    gateway: float

    @property
    def total(self) -> float:
        return self.compute + self.request + self.ephemeral + self.gateway


def cost_per_invocation(
    billed_ms: float,
    memory_mb: int,
    *,
    arch: str = "x86_64",
    ephemeral_mb: int = 512,
    gateway: str | None = None,  # "http" or "rest"
    limits: Limits | None = None,
) -> InvocationCost:
    prices = (limits or load_limits()).prices
    lam = prices["lambda"]
    gb_s = (memory_mb / 1024) * (billed_ms / 1000)
    rate = lam["gb_second_arm64"] if arch == "arm64" else lam["gb_second_x86_64"]
    extra_gb = max(0, ephemeral_mb - 512) / 1024
    gw = 0.0
    if gateway == "http":
        gw = prices["api_gateway"]["http_api_per_million"] / 1e6
    elif gateway == "rest":
        gw = prices["api_gateway"]["rest_api_per_million"] / 1e6
    return InvocationCost(
        compute=gb_s * rate,
        request=lam["requests_per_million"] / 1e6,
        ephemeral=extra_gb * (billed_ms / 1000) * lam["ephemeral_gb_second_over_512mb"],
        gateway=gw,
    )


def cost_per_million(billed_ms: float, memory_mb: int, **kwargs: object) -> float:
    return cost_per_invocation(billed_ms, memory_mb, **kwargs).total * 1e6  # type: ignore[arg-type]


def ec2_cost_per_million(
    instance: str, inferences_per_second: float, limits: Limits | None = None
) -> float:
    """$ per 1M inferences on an always-on instance at a measured throughput."""
    hourly = (limits or load_limits()).prices["ec2"]["instances"][instance]["hourly"]
    return hourly / (inferences_per_second * 3600) * 1e6


@dataclass(frozen=True)
class MonthlyBill:
    compute: float
    requests: float
    snapstart_cache: float
    snapstart_restore: float
    provisioned: float = 0.0  # the configured environments, whether busy or not

    @property
    def total(self) -> float:
        return (
            self.compute
            + self.requests
            + self.snapstart_cache
            + self.snapstart_restore
            + self.provisioned
        )


def monthly_bill(
    invocations: int,
    billed_ms_each: float,
    memory_mb: int,
    *,
    cold_start_rate: float = 0.0,
    snapstart: bool = False,
    provisioned: int = 0,
    provisioned_s: float | None = None,
    spillover_rate: float = 0.0,
    arch: str = "x86_64",
    limits: Limits | None = None,
) -> MonthlyBill:
    """A month of a function: compute and requests, and with SnapStart its cache (the whole
    month, per GB of MemorySize) and a restore per cold start (invocations x the rate).

    With `provisioned` environments configured for `provisioned_s` (default the month): their
    GB-seconds at the provisioned-concurrency rate, and the invocations they serve at its
    duration rate; `spillover_rate` of the invocations ran past them, at the on-demand rate."""
    lim = limits or load_limits()
    per = cost_per_invocation(billed_ms_each, memory_mb, arch=arch, limits=lim)
    gb = memory_mb / 1024
    cache = restore = 0.0
    if snapstart:
        snap = lim.prices["snapstart"]
        cache = gb * snap["seconds_per_month"] * snap["cache_gb_second"]
        restore = gb * snap["restore_gb"] * round(invocations * cold_start_rate)
    compute = per.compute * invocations
    capacity = 0.0
    if provisioned:
        pc = lim.prices["provisioned"]
        seconds = lim.prices["snapstart"]["seconds_per_month"] if provisioned_s is None else (
            math.ceil(provisioned_s / 300) * 300)  # fmt: skip
        capacity = provisioned * gb * seconds * pc[f"concurrency_gb_second_{arch}"]
        spilled = round(invocations * spillover_rate)
        served_gb_s = (invocations - spilled) * gb * billed_ms_each / 1000
        compute = per.compute * spilled + served_gb_s * pc[f"duration_gb_second_{arch}"]
    return MonthlyBill(
        compute=compute,
        requests=per.request * invocations,
        snapstart_cache=cache,
        snapstart_restore=restore,
        provisioned=capacity,
    )
