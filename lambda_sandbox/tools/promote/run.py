"""A promotion end to end: plan (read only), then apply, smoke-test and price."""

from __future__ import annotations

from collections.abc import Callable

import lambda_sandbox.tools.promote.deploy as deploy
from lambda_sandbox.config import FunctionConfig
from lambda_sandbox.limits import Limits, load_limits
from lambda_sandbox.tools.promote.apply import apply_plan
from lambda_sandbox.tools.promote.deploy import AwsTarget, Smoke
from lambda_sandbox.tools.promote.errors import PromoteError
from lambda_sandbox.tools.promote.plan import (
    FunctionState,
)
from lambda_sandbox.tools.promote.progress import NullReporter, Reporter
from lambda_sandbox.tools.promote.promotion import (
    CostEstimate,
    Plan,
    PromoteOptions,
    PromoteResult,
    plan_promotion,
)

__all__ = ["complete", "estimate_cost", "promote"]


def estimate_cost(
    desired: FunctionState, duration_ms: float, source: str, limits: Limits | None = None
) -> CostEstimate:
    from lambda_sandbox.cost import billed_ms, cost_per_million

    lim = limits or load_limits()
    billed = billed_ms(duration_ms, limits=lim)
    return CostEstimate(
        duration_ms=duration_ms,
        billed_ms=billed,
        memory_mb=desired.memory_mb,
        architecture=desired.architecture,
        per_million=cost_per_million(
            billed,
            desired.memory_mb,
            arch=desired.architecture,
            ephemeral_mb=desired.ephemeral_mb,
            limits=lim,
        ),
        source=source,
    )


def promote(
    config: FunctionConfig,
    options: PromoteOptions,
    *,
    reporter: Reporter | None = None,
    confirm: Callable[[Plan], bool] | None = None,
    limits: Limits | None = None,
    aws: AwsTarget | None = None,
) -> PromoteResult:
    """Plan; unless dry_run (or `confirm` says no), apply, smoke-test and estimate the cost."""
    say = reporter or NullReporter()
    aws = aws or AwsTarget(options.region, options.profile, options.endpoint_url)
    plan = plan_promotion(config, options, aws=aws, limits=limits, reporter=say)
    if options.dry_run or (confirm is not None and not confirm(plan)):
        return PromoteResult(plan=plan, applied=False)
    return complete(plan, options, aws=aws, reporter=say, limits=limits)


def complete(
    plan: Plan,
    options: PromoteOptions,
    *,
    aws: AwsTarget,
    reporter: Reporter | None = None,
    limits: Limits | None = None,
) -> PromoteResult:
    """Apply a plan, then the smoke invoke (events/direct.json) and the cost estimate."""
    say = reporter or NullReporter()
    lim = limits or load_limits()
    deployed = apply_plan(plan, aws, say)
    smoke = None
    skipped = aws.cannot_run_functions() if options.smoke_test else None
    if skipped:
        say.step(f"smoke test skipped: {skipped}")
    elif options.smoke_test:
        say.step(f"smoke test: invoking {plan.function} with {plan.event_file or '{}'}")
        try:
            smoke = deploy.smoke_invoke(
                aws, plan.function, plan.desired.alias, plan.event_file, plan.desired.timeout_s
            )
        except PromoteError as exc:  # deployed, but it could not be called: say so
            smoke = Smoke(str(plan.event_file or "{}"), 0, str(exc), "", 0.0, {})
    cost = None
    if options.duration_ms is not None:
        cost = estimate_cost(plan.desired, options.duration_ms, "measured locally", lim)
    elif smoke is not None and "Duration" in smoke.report:
        measured = float(smoke.report["Duration"].split()[0])
        cost = estimate_cost(plan.desired, measured, "the smoke invoke on AWS", lim)
    return PromoteResult(
        plan=plan,
        applied=True,
        function_arn=deployed.arn,
        version=deployed.version,
        endpoint=deployed.url,
        http_api_endpoint=deployed.api_url,
        smoke=smoke,
        smoke_skipped=skipped,
        cost=cost,
    )
