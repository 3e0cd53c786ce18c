"""The bench report's SnapStart section: each function's on-demand INIT against its restore,
the mechanism against CRIU, and the month's bill on-demand, with SnapStart and provisioned."""

from __future__ import annotations

from typing import Any

from lambda_sandbox.reports.charts import num, pct, usd
from lambda_sandbox.reports.tables import Table

__all__ = ["snapstart_bill_table", "snapstart_table"]


SNAPSTART_HEADERS = [
    "Function",
    "Init Duration (on-demand)",
    "Restore Duration",
    "Billed Restore",
    "Restore vs INIT",
    "Publish (INIT + snapshot)",
    "Max Memory Used",
]


def snapstart_table(info: dict[str, Any]) -> Table:
    """Each function's on-demand cold start against its restore from a SnapStart snapshot."""
    rounds = info.get("rounds", "?")
    table = Table(f"SnapStart: median of {rounds} cold starts each", SNAPSTART_HEADERS, [])
    table.chart = "snapstart"
    for r in info.get("rows", []):
        speedup = r.get("speedup")
        table.rows.append(
            [
                r["function"],
                num(r.get("init_ms"), ".0f", " ms"),
                num(r.get("restore_ms"), ".2f", " ms"),
                num(r.get("billed_restore_ms"), ".0f", " ms"),
                "-" if speedup is None else f"{speedup:.0f}x faster",
                num(r.get("publish_s"), ".2f", " s"),
                num(r.get("max_memory_mb"), ".0f", " MB"),
            ]
        )
        table.classes.append("")
    table.notes += [
        f"Mechanism: {info.get('mechanism', 'a fork of the initialized runtime')}. "
        + _criu_note(info.get("criu") or {}),
        "Init Duration: $LATEST, on-demand (INIT with the burst); Restore Duration: the "
        "published version, each cold start an environment restored from its snapshot.",
    ]
    return table


def _criu_note(criu: dict[str, Any]) -> str:
    """CRIU, the other candidate: measured against fork where it works, else why not."""
    probe = criu.get("criu_probe", criu)  # older runs recorded the probe alone
    if criu.get("criu_restore_ms_median") is not None:
        return (
            f"Against CRIU ({probe.get('version') or 'criu'}), on one {criu.get('model_mb')} MB "
            f"process: restore {criu['criu_restore_ms_median']:.1f} ms (dump "
            f"{criu.get('criu_dump_ms')} ms, a {criu.get('criu_image_mb')} MB image), fork "
            f"{criu.get('fork_ms_median', 0):.2f} ms (medians)."
        )
    fork = criu.get("fork_ms_median")
    return (
        f"CRIU (checkpoint/restore): not usable here ({probe.get('detail', 'not probed')}"
        f"{'; ' + str(criu['criu_error'])[:200] if criu.get('criu_error') else ''})"
        + (f"; fork of a {criu.get('model_mb')} MB process: {fork:.2f} ms." if fork else ".")
    )


# seed 004's traffic (AWS's post on LLM inference with SnapStart): invocations a month and the
# share of them that are cold starts
MONTHLY_TRAFFIC = [(30_000, 0.05), (300_000, 0.01)]
BILL_HEADERS = ["Function", "Memory", "Invocations / month", "Cold starts", "On-demand",
                "SnapStart", "Provisioned (1 environment)"]  # fmt: skip


def snapstart_bill_table(info: dict[str, Any]) -> Table | None:
    """The month's bill of each function three ways, from the measured warm Duration, Init
    Duration and Billed Restore Duration (lambda_sandbox.cost.monthly_bill)."""
    from lambda_sandbox.cost import monthly_bill

    rows = [r for r in info.get("rows", []) if r.get("warm_billed_ms") and r.get("memory_mb")]
    if not rows:
        return None
    table = Table("Monthly bill: on-demand, SnapStart and provisioned", BILL_HEADERS, [])
    for r in rows:
        warm, memory = float(r["warm_billed_ms"]), int(r["memory_mb"])
        for invocations, rate in MONTHLY_TRAFFIC:
            init = float(r.get("init_ms") or 0.0)
            restore = float(r.get("billed_restore_ms") or 0.0)
            on_demand = monthly_bill(invocations, warm + rate * init, memory)
            snap = monthly_bill(invocations, warm + rate * restore, memory,
                                cold_start_rate=rate, snapstart=True)  # fmt: skip
            provisioned = monthly_bill(invocations, warm, memory, provisioned=1)
            table.rows.append(
                [r["function"], f"{memory} MB", f"{invocations:,}", pct(rate),
                 usd(on_demand.total), usd(snap.total), usd(provisioned.total)]
            )  # fmt: skip
            table.classes.append("")
    table.notes.append(
        "From this run's medians: warm Billed Duration, plus at each cold start the Init "
        "Duration (on-demand) or the Billed Restore Duration (SnapStart, with its cache for "
        "the month and a restore charge per cold start); provisioned: one environment "
        "configured all month, no spill-over. Traffic: AWS's SnapStart post (shared/seeds/004)."
    )
    return table
