"""Cold starts three ways at the chosen memory size: on-demand INIT, SnapStart, provisioned.

The power sweep measures the on-demand INIT (the tier's Init Duration) and the warm Duration.
`measure_snapstart` measures a SnapStart restore at the same size, as a user would on AWS:
SnapStart turned on (when it was off), a version published (INIT once, the snapshot), two
concurrent invokes of it (two environments restored from the snapshot), then the version
deleted and SnapStart set back. The month is priced three ways with
lambda_sandbox.cost.monthly_bill: on-demand (INIT billed at each cold start), SnapStart (the
Billed Restore Duration at each cold start, the cache for the month, a restore charge per cold
start) and one provisioned environment configured all month.
"""

from __future__ import annotations

import statistics
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from lambda_sandbox.client import Call, invoke, set_snapstart, wait_published
from lambda_sandbox.config.function import snapstart_runtime
from lambda_sandbox.cost import monthly_bill

__all__ = ["ColdStartOptions", "measure_snapstart"]

_PUBLISH_WAIT_S = 300.0
_RESTORES = 2


@dataclass
class ColdStartOptions:
    memory_mb: int
    monthly_invocations: int
    cold_start_rate: float
    arch: str
    warm_ms: float  # the tier's mean Billed Duration
    init_ms: float | None  # on-demand Init Duration at this size
    restore_ms: float | None = None
    billed_restore_ms: float | None = None
    snapstart_note: str | None = None  # why there is no restore to price

    def bills(self) -> dict[str, float | None]:
        """$ for the month: on-demand, SnapStart (None when not measured), provisioned."""
        n, rate, memory, arch = (
            self.monthly_invocations,
            self.cold_start_rate,
            self.memory_mb,
            self.arch,
        )
        on_demand = monthly_bill(n, self.warm_ms + rate * (self.init_ms or 0.0), memory, arch=arch)
        snap = None
        if self.billed_restore_ms is not None:
            snap = monthly_bill(n, self.warm_ms + rate * self.billed_restore_ms, memory,
                                cold_start_rate=rate, snapstart=True, arch=arch).total  # fmt: skip
        provisioned = monthly_bill(n, self.warm_ms, memory, provisioned=1, arch=arch)
        return {"onDemand": on_demand.total, "snapStart": snap, "provisioned": provisioned.total}

    def to_json(self) -> dict[str, Any]:
        return {
            "memorySize": self.memory_mb,
            "monthlyInvocations": self.monthly_invocations,
            "coldStartRate": self.cold_start_rate,
            "warmBilledDuration": self.warm_ms,
            "initDuration": self.init_ms,
            "restoreDuration": self.restore_ms,
            "billedRestoreDuration": self.billed_restore_ms,
            "snapStartNote": self.snapstart_note,
            "monthlyBill": self.bills(),
            "provisionedEnvironments": 1,
        }


def measure_snapstart(
    client: Any, function: str, payload: bytes
) -> tuple[float | None, float | None, str | None]:
    """(Restore Duration, Billed Restore Duration, None), or (None, None, why not)."""
    config = client.get_function_configuration(FunctionName=function)
    runtime = str(config.get("Runtime") or "")
    if not snapstart_runtime(runtime):
        return None, None, f"Lambda offers SnapStart on python3.12 and later, not {runtime}"
    was_on = (config.get("SnapStart") or {}).get("ApplyOn") == "PublishedVersions"
    before = {
        v["Version"] for v in client.list_versions_by_function(FunctionName=function)["Versions"]
    }
    if not was_on:
        set_snapstart(client, function, "PublishedVersions")
    version = None
    try:
        version = str(client.publish_version(FunctionName=function)["Version"])
        state = wait_published(client, function, version, _PUBLISH_WAIT_S)
        if state["State"] != "Active":
            return None, None, f"the version did not snapshot: {state.get('StateReason')}"
        with ThreadPoolExecutor(_RESTORES) as pool:
            calls: list[Call] = list(pool.map(
                lambda _: invoke(client, function, payload, Qualifier=version), range(_RESTORES)
            ))  # fmt: skip
        restored = [c for c in calls if c.restore_ms is not None and c.report is not None]
        if not restored:
            why = next((c.error for c in calls if c.error), None) or "no restore in the REPORT"
            return (
                None,
                None,
                f"no environment was restored ({why}): the docker backend has no SnapStart",
            )
        return (
            statistics.median(c.restore_ms or 0.0 for c in restored),
            statistics.median(float(c.report.billed_restore_ms or 0) for c in restored if c.report),
            None,
        )
    finally:
        if version is not None and version not in before:
            client.delete_function(FunctionName=function, Qualifier=version)
        if not was_on:
            set_snapstart(client, function, "None")
