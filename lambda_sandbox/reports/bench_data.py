"""What one `tox -e bench` run measured, read from pytest-benchmark's JSON and sorted by kind
(each benchmark's extra_info carries a `kind`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Bench", "load", "parse"]


@dataclass
class Bench:
    """The measurements of one `tox -e bench` run, by kind."""

    when: str = ""
    machine: dict[str, Any] = field(default_factory=dict)
    commit: dict[str, Any] = field(default_factory=dict)
    tiers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # function -> rows
    not_run: list[dict[str, Any]] = field(default_factory=list)
    fidelity: dict[str, Any] | None = None
    init_burst: dict[str, Any] | None = None  # test_init_burst: INIT's CPU against the invoke's
    architecture: list[dict[str, Any]] = field(default_factory=list)
    sequential: dict[str, Any] | None = None  # test_invoke_overhead: p50 sandbox vs RIE
    throughput: dict[str, Any] | None = None  # test_invoke_overhead: two clients
    tokens: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # llm_tier rows
    scaling: list[dict[str, Any]] = field(default_factory=list)  # image_gen_scaling entries
    snapstart: dict[str, Any] | None = None  # test_snapstart: restore against INIT

    @property
    def host_cpus(self) -> int | None:
        for rows in self.tiers.values():
            for row in rows:
                if row.get("host_cpus"):
                    return int(row["host_cpus"])
        count = self.machine.get("cpu", {}).get("count")
        return int(count) if count else None

    @property
    def cold_start_rate(self) -> float | None:
        for rows in self.tiers.values():
            for row in rows:
                if row.get("cold_start_rate") is not None:
                    return float(row["cold_start_rate"])
        for arch in self.architecture:
            if arch.get("cold_start_rate") is not None:
                return float(arch["cold_start_rate"])
        return None


def parse(data: dict[str, Any]) -> Bench:
    """Sort pytest-benchmark's entries by what they measured."""
    bench = Bench(
        when=str(data.get("datetime", "")),
        machine=dict(data.get("machine_info") or {}),
        commit=dict(data.get("commit_info") or {}),
    )
    not_run: dict[int, dict[str, Any]] = {}
    for entry in data.get("benchmarks", []):
        info = entry.get("extra_info") or {}
        kind = info.get("kind")
        if kind == "ml_tier":
            bench.tiers.setdefault(str(info["function"]), []).append(info)
            for tier in info.get("tiers_not_run") or []:
                not_run[int(tier["memory_mb"])] = tier
        elif kind == "fidelity":
            bench.fidelity = info
        elif kind == "init_burst":
            bench.init_burst = info
        elif kind == "architecture":
            bench.architecture.append(info)
        elif kind == "llm_tier":
            bench.tokens.setdefault(str(info["function"]), []).append(info)
        elif kind == "image_gen_scaling":
            bench.scaling.append(info)
        elif kind == "snapstart":
            bench.snapstart = info
        elif "rie_p50_ms" in info:
            bench.sequential = info
        elif "rie_one_client" in info:
            bench.throughput = info
    for rows in [*bench.tiers.values(), *bench.tokens.values()]:
        rows.sort(key=lambda r: int(r["memory_mb"]))
    bench.not_run = [not_run[m] for m in sorted(not_run)]
    return bench


def load(path: str | Path) -> Bench:
    return parse(json.loads(Path(path).read_text(encoding="utf-8")))
