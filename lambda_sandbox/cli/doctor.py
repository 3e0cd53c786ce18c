"""`sandbox doctor`: what this machine enforces, and what crashed sandboxes left behind."""

from __future__ import annotations

import json
import sys

import click
from rich.table import Table

from lambda_sandbox.cli.common import console, output_option

__all__ = ["doctor"]


@click.command()
@click.option("--fix", is_flag=True, help="Remove what sandboxes that crashed left behind.")
@click.option("--port", type=int, default=9000, show_default=True, help="The port to check.")
@output_option
def doctor(fix: bool, port: int, output: str) -> None:
    """Check root or cgroup delegation, cgroup version, namespaces, loop devices, the Docker
    engine, free ports and disk; say which limits and isolation will hold and how to fix what
    will not; list (and with --fix remove) the processes, cgroups, /tmp images, loop devices,
    uid locks and containers of sandboxes that crashed. Exits 1 while leftovers remain."""
    from lambda_sandbox.doctor import checks, find_leftovers, holds, remove_leftovers

    found = checks(port=port)
    leftovers = remove_leftovers() if fix else find_leftovers()
    remaining = find_leftovers() if fix else leftovers
    if output == "json":
        sys.stdout.write(json.dumps({
            "checks": [vars(c) for c in found],
            "holds": dict(holds(found)),
            "leftovers": leftovers.as_dict(),
            "removed": fix,
            "remaining": remaining.count(),
        }, indent=2) + "\n")  # fmt: skip
        sys.exit(1 if remaining.count() else 0)
    table = Table("check", "", "detail", "how to fix", title="This machine")
    for c in found:
        mark = "[green]ok[/]" if c.ok else "[red]no[/]"
        table.add_row(c.name, mark, c.detail, "" if c.ok else c.fix)
    console.print(table)
    claims = Table("limit or isolation", "", title="What will hold here (process backend)")
    for claim, ok in holds(found):
        claims.add_row(claim, "[green]holds[/]" if ok else "[red]NOT enforced[/]")
    console.print(claims)
    if not leftovers.count():
        console.print("No leftovers of crashed sandboxes.")
        return
    left = Table("kind", "what", title="Left by sandboxes that crashed"
                 + (" (removed)" if fix else ""))  # fmt: skip
    for kind, items in leftovers.as_dict().items():
        for item in items:
            left.add_row(kind.replace("_", " "), item)
    console.print(left)
    if remaining.count():
        hint = "" if fix else ": `sandbox doctor --fix` removes them"
        console.print(f"{remaining.count()} leftovers remain{hint}", highlight=False)
        sys.exit(1)
