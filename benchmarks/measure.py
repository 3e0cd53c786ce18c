"""What the tier and fidelity benchmarks share: choosing tiers, percentiles, the host's CPU.
Invoking with LogType=Tail and reading the REPORT line is lambda_sandbox.client's (re-exported
here for the suites), as is switching MemorySize.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Sequence
from typing import Any

from lambda_sandbox.limits import load_limits

__all__ = [
    "Call",
    "bench_tiers",
    "cpu_info",
    "invoke",
    "ms_per_unit_here",
    "percentile",
    "set_memory",
]
from lambda_sandbox.client import Call, invoke, set_memory


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0-100) of `values`; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def host_cpus() -> int:
    return os.cpu_count() or 1


def cpu_info(memory_mb: int) -> dict[str, Any]:
    """Lambda's CPU share for the tier, what this host gives, and whether it is capped."""
    limits = load_limits()
    given, capped = limits.host_capped_vcpus(memory_mb)
    return {
        "lambda_vcpus": limits.vcpus_for(memory_mb),
        "host_vcpus": given,
        "capped": capped,
        "host_cpus": host_cpus(),
    }


def _env_tiers(name: str) -> list[int] | None:
    value = os.environ.get(name, "").strip()
    return [int(v) for v in value.replace(",", " ").split()] if value else None


def bench_tiers() -> tuple[list[int], list[dict[str, Any]]]:
    """The tiers to run, and those left out with the reason.

    limits/tiers.toml's `default` list, plus the `extended` tiers this host can give in full
    (none on a 2-core host: 4,096 MB already wants 2.32 vCPU). SANDBOX_BENCH_EXTENDED=1 runs
    every extended tier too (marked capped); SANDBOX_BENCH_TIERS="128,1024" runs just those.
    """
    limits = load_limits()
    chosen = _env_tiers("SANDBOX_BENCH_TIERS")
    if chosen is not None:
        return chosen, []
    run = limits.tier_list()
    not_run = []
    everything = os.environ.get("SANDBOX_BENCH_EXTENDED", "") not in ("", "0")
    for memory in limits.tier_list(extended=True)[len(run) :]:
        given, capped = limits.host_capped_vcpus(memory)
        if capped and not everything:
            not_run.append(
                {
                    "memory_mb": memory,
                    "lambda_vcpus": limits.vcpus_for(memory),
                    "host_vcpus": given,
                    "capped": True,
                    "reason": f"capped: this host gives {given:.2f} of "
                    f"{limits.vcpus_for(memory):.2f} vCPU (SANDBOX_BENCH_EXTENDED=1 runs it)",
                }
            )
        else:
            run.append(memory)
    return run, not_run


def fidelity_tiers() -> list[int]:
    """The default tiers plus the first and the last extended tier the host caps (so that the
    report shows what capping does); SANDBOX_BENCH_FIDELITY_TIERS overrides."""
    chosen = _env_tiers("SANDBOX_BENCH_FIDELITY_TIERS")
    if chosen is not None:
        return chosen
    limits = load_limits()
    tiers = limits.tier_list()
    extended = limits.tier_list(extended=True)[len(tiers) :]
    capped = [m for m in extended if limits.host_capped_vcpus(m)[1]]
    tiers += [m for m in extended if m not in capped]
    if capped:
        tiers += sorted({capped[0], capped[-1]})
    return tiers


def ms_per_unit_here() -> float:
    """CPU ms per unit of the reference functions' work (SHA-256 over 1 MiB) on this host:
    it sizes the runs; the results do not depend on it."""
    buffer = b"\x5a" * (1 << 20)
    digest = hashlib.sha256()
    t0 = time.process_time()
    for _ in range(40):
        digest.update(buffer)
    return (time.process_time() - t0) * 1000 / 40
