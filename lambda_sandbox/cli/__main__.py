"""`python -m lambda_sandbox.cli`: the `sandbox` command."""

from lambda_sandbox.cli.main import main

main()
