"""The `sandbox` command: its group and every command family, registered here."""

from __future__ import annotations

import click

from lambda_sandbox.cli import doctor, functions, promote, serve, tools

__all__ = ["main"]


@click.group()
@click.version_option(package_name="lambda-sandbox")
def main() -> None:
    """A local AWS Lambda for ML workloads: real limits, cold starts and cost, offline."""


for command in (
    serve.up,
    serve.images,
    functions.list_functions,
    functions.build,
    functions.models,
    functions.invoke,
    functions.logs,
    functions.stats,
    tools.tune,
    tools.fit,
    tools.load,
    tools.report,
    tools.demo,
    promote.promote,
    doctor.doctor,
):
    main.add_command(command)
