"""Lambda's quotas, the memory-to-CPU rule, tiers and prices, read from the data in `limits/`.

No limit is a literal in code: every number comes from the TOML files, which name their sources.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from lambda_sandbox.paths import package_data

__all__ = ["Limits", "limits_dir", "load_limits"]


def limits_dir() -> Path:
    """The folder holding the data files: $SANDBOX_LIMITS_DIR, else the package's own."""
    env = os.environ.get("SANDBOX_LIMITS_DIR")
    if env:
        return Path(env)
    return package_data("limits")


@dataclass(frozen=True)
class Limits:
    quotas: dict[str, Any]
    tiers: dict[str, Any]
    prices: dict[str, Any]

    def q(self, section: str, key: str) -> Any:
        return self.quotas[section][key]

    # memory and CPU -------------------------------------------------------------------
    def vcpus_for(self, memory_mb: int) -> float:
        """Lambda's share: memory / 1,769 MB per vCPU, at most 6 vCPUs."""
        share = memory_mb / self.q("cpu", "mb_per_vcpu")
        return min(share, float(self.q("cpu", "max_vcpus")))

    def host_capped_vcpus(self, memory_mb: int, host_cpus: int | None = None) -> tuple[float, bool]:
        """The share this host can give, and whether it had to be capped."""
        host = host_cpus if host_cpus is not None else (os.cpu_count() or 1)
        share = self.vcpus_for(memory_mb)
        return (min(share, float(host)), share > host)

    def tier_list(self, extended: bool = False) -> list[int]:
        tiers = list(self.tiers["default"])
        if extended:
            tiers += list(self.tiers["extended"])
        return tiers


@cache
def load_limits(directory: str | None = None) -> Limits:
    base = Path(directory) if directory else limits_dir()

    def read(name: str) -> dict[str, Any]:
        with open(base / name, "rb") as f:
            return tomllib.load(f)

    return Limits(read("lambda.toml"), read("tiers.toml"), read("prices.toml"))
