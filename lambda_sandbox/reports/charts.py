"""Charts, shared by every report (matplotlib, imported lazily, Agg backend): the colours, a
figure of a given size, PNG bytes, a memory-tier axis, point labels, money and percent text.
Each report draws its own charts with these (reports/bench_charts.py, tools' outputs)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lambda_sandbox.extras import require

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "ARM_COLOR",
    "CAP_COLOR",
    "COST_COLOR",
    "DURATION_COLOR",
    "FAIL_COLOR",
    "INIT_COLOR",
    "MUTED",
    "P95_COLOR",
    "failed_marks",
    "figure",
    "label",
    "ms_text",
    "num",
    "pct",
    "plain_log_axis",
    "png",
    "tier_axis",
    "usd",
]

DURATION_COLOR, P95_COLOR, COST_COLOR, ARM_COLOR = "#1f6fb4", "#7fa9d1", "#d9661f", "#2a9d3a"
CAP_COLOR, FAIL_COLOR, INIT_COLOR, MUTED = "#e9b949", "#c0392b", "#8e5bb5", "#555555"


def usd(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"${value:,.0f}"
    if value >= 10:
        return f"${value:.2f}"
    if value >= 0.01 or value == 0:
        return f"${value:.3f}"
    return f"${value:.3g}"  # a small run's cost: three significant digits, never $0.000


def num(value: float | None, spec: str = ".1f", unit: str = "") -> str:
    return "-" if value is None else f"{format(value, spec)}{unit}"


def pct(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else f"{format(value * 100, spec)}%"


# charts ----------------------------------------------------------------------------------------
def figure(width: float, height: float) -> Figure:
    require("reports", "drawing charts")
    import matplotlib

    matplotlib.use("Agg")  # no display; explicit, so no backend warning
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def tier_axis(ax: Axes, memories: Sequence[int], capped: Sequence[bool]) -> None:
    """Tiers evenly spaced (they roughly double), labelled in MB; capped ones shaded."""
    ax.set_xticks(range(len(memories)), [str(m) for m in memories])
    ax.set_xlim(-0.6, len(memories) - 0.4)
    ax.set_xlabel("memory (MB)")
    ax.grid(True, axis="y", alpha=0.3)
    for i, is_capped in enumerate(capped):
        if is_capped:
            ax.axvspan(i - 0.45, i + 0.45, color=CAP_COLOR, alpha=0.25, zorder=0)


def label(ax: Axes, x: float, y: float, text: str, color: str, dy: int = 7) -> None:
    box = {"boxstyle": "round,pad=0.12", "fc": "white", "ec": "none", "alpha": 0.8}
    ax.annotate(
        text,
        (x, y),
        xytext=(0, dy),
        textcoords="offset points",
        ha="center",
        va="bottom" if dy >= 0 else "top",
        fontsize=7.5,
        color=color,
        bbox=box,
        zorder=6,
    )


def ms_text(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def plain_log_axis(ax: Axes, axis: str = "y") -> None:
    """A log axis labelled 0.5, 1, 2, 5, 10 ... instead of powers of ten."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_formatter(NullFormatter())


def failed_marks(ax: Axes, rows: list[dict[str, Any]]) -> None:
    for i, r in enumerate(rows):
        if r.get("status") == "failed":
            ax.axvline(i, color=FAIL_COLOR, lw=1.2, ls="--", zorder=1)
            ax.annotate(
                "failed: " + ", ".join(r.get("errors") or {}),
                xy=(i, 0.02),
                xycoords=("data", "axes fraction"),
                xytext=(4, 0),
                textcoords="offset points",
                rotation=90,
                fontsize=8,
                color=FAIL_COLOR,
                va="bottom",
            )
