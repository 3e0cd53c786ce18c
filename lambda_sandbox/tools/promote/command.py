"""`sandbox promote FN --to aws`: find the function, show the plan, ask, apply, report."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.prompt import Confirm

from lambda_sandbox.config import FunctionConfig, discover_functions, load_sam_template
from lambda_sandbox.exceptions import SandboxError
from lambda_sandbox.tools.promote.deploy import AwsTarget
from lambda_sandbox.tools.promote.progress import RichReporter
from lambda_sandbox.tools.promote.promotion import Plan, PromoteOptions, PromoteResult
from lambda_sandbox.tools.promote.promotion import plan_promotion as make_plan
from lambda_sandbox.tools.promote.run import complete

__all__ = ["find_function", "run_promote"]

_PAYLOAD_SHOWN = 400  # characters of the smoke invoke's answer printed


def find_function(
    name: str,
    functions_dir: Path,
    template: Path | None = None,
    parameters: dict[str, str] | None = None,
    layer_arns: dict[str, str] | None = None,
) -> FunctionConfig:
    configs = (
        load_sam_template(template, parameters=parameters, layer_arns=layer_arns)
        if template
        else discover_functions(functions_dir)
    )
    for config in configs:
        if config.name == name:
            return config
    where = template or functions_dir
    known = ", ".join(c.name for c in configs) or "none"
    raise SandboxError(f"no function {name!r} in {where} (there: {known})")


def run_promote(
    function: str,
    options: PromoteOptions,
    *,
    functions_dir: Path = Path("functions"),
    template: Path | None = None,
    parameters: dict[str, str] | None = None,
    layer_arns: dict[str, str] | None = None,
    yes: bool = False,
    console: Console | None = None,
    ask: Callable[[str], bool] | None = None,
) -> int:
    """The command's body; returns the exit status (0 done, 1 failed or refused)."""
    out = console or Console()
    try:
        config = find_function(function, functions_dir, template, parameters, layer_arns)
        aws = AwsTarget(options.region, options.profile, options.endpoint_url)
        with RichReporter(out) as reporter:
            plan = make_plan(config, options, aws=aws, reporter=reporter)
        out.print(plan.render())
        if plan.blockers:
            return 1
        if options.dry_run:
            out.print("[bold]dry run: nothing was changed[/]")
            return 0
        if not yes and not plan.up_to_date and not _confirmed(plan, out, ask):
            out.print("nothing was changed")
            return 1
        with RichReporter(out) as reporter:
            result = complete(plan, options, aws=aws, reporter=reporter)
    except SandboxError as exc:
        out.print(f"[bold red]error:[/] {escape(str(exc))}")
        return 1
    return print_result(result, out)


def _confirmed(plan: Plan, out: Console, ask: Callable[[str], bool] | None) -> bool:
    question = f"Apply this plan to {plan.target}?"
    if ask is not None:
        return ask(question)
    if not sys.stdin.isatty():
        out.print("[bold red]error:[/] not a terminal: pass --yes to apply without asking")
        return False
    return Confirm.ask(question, console=out, default=False)


def print_result(result: PromoteResult, out: Console) -> int:
    plan = result.plan
    alias = f", alias {plan.desired.alias}" if plan.desired.alias else ""
    version = f" (version {result.version}{alias})" if result.version else ""
    out.print(f"[bold green]promoted[/] {escape(result.function_arn or plan.function)}{version}")
    if result.endpoint:
        out.print(f"endpoint: {escape(result.endpoint)}")
    if result.http_api_endpoint:
        routes = ", ".join(r.key for r in plan.http_api.routes) if plan.http_api else ""
        out.print(f"HTTP API: {escape(result.http_api_endpoint)} ({escape(routes)})")
    if not result.endpoint and not result.http_api_endpoint:
        out.print(
            f"invoke: aws lambda invoke --function-name {plan.function} "
            f"--region {plan.region} out.json"
        )
    status = 0
    if result.smoke_skipped:
        out.print(f"smoke test: skipped ({escape(result.smoke_skipped)})")
    smoke = result.smoke
    if smoke is not None:
        ok = "[green]OK[/]" if smoke.ok else f"[red]FAILED ({escape(str(smoke.function_error))})[/]"
        body = smoke.payload[:_PAYLOAD_SHOWN] + (
            "..." if len(smoke.payload) > _PAYLOAD_SHOWN else ""
        )
        out.print(
            f"smoke test ({escape(smoke.event)}): {smoke.status} {ok} in "
            f"{smoke.round_trip_ms:.0f} ms: {escape(body)}"
        )
        if smoke.report:
            out.print("  " + escape(", ".join(f"{k} {v}" for k, v in smoke.report.items())))
        if not smoke.ok:
            out.print("[red]the function is deployed but its smoke test failed[/]")
            status = 1
    if result.cost is not None:
        out.print(f"cost: {escape(result.cost.describe())}")
    else:
        out.print("cost: pass --duration-ms (a duration measured locally) for an estimate")
    return status
