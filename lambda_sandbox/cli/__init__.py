"""The `sandbox` command line, by command family.

main.py       the group; every command is registered there
serve.py      up, images
functions.py  ls, build, models build, invoke, logs, stats
tools.py      tune, fit, load, report, demo
promote.py    promote
common.py     consoles, errors, finding a running sandbox
"""

from lambda_sandbox.cli.main import main

__all__ = ["main"]
