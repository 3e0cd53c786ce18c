"""`sandbox tune`: AWS Lambda Power Tuning, locally, before deploying.

power_tuning.py   Power Tuning's arithmetic: trimmed means, prices, strategies, results
run.py            the run over a sandbox: MemorySize per tier, warm-up, counted invokes
output.py         the table, tune-<fn>.json, the chart and the HTML page
cold_starts.py    the month at the chosen size on-demand, with SnapStart, provisioned
"""

from lambda_sandbox.tools.tune.output import render_table, write_outputs
from lambda_sandbox.tools.tune.power_tuning import (
    DEFAULT_BALANCED_WEIGHT,
    DISCARD_TOP_BOTTOM,
    STRATEGIES,
    Invocation,
    TierStats,
    TuneResult,
    choose_power,
    generate_payloads,
    price_per_invocation,
    tier_stats,
    trimmed_mean,
    visualization_url,
)
from lambda_sandbox.tools.tune.run import tune

__all__ = [
    "DEFAULT_BALANCED_WEIGHT",
    "DISCARD_TOP_BOTTOM",
    "STRATEGIES",
    "Invocation",
    "TierStats",
    "TuneResult",
    "choose_power",
    "generate_payloads",
    "price_per_invocation",
    "render_table",
    "tier_stats",
    "trimmed_mean",
    "tune",
    "visualization_url",
    "write_outputs",
]
