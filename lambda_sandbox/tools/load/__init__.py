"""`sandbox load`: Locust scenarios against a sandbox, client and server side reconciled.

scenarios.py    the seed studies' load profiles
run.py          Locust headless in a subprocess, /_sandbox/metrics sampled, reconciliation
result.py       what a run measured
report.py       reports/load-<name>.html with charts, CSV and JSON
locustfile.py   the Locust user (also usable with Locust's own master/worker mode)
classify.py     how an HTTP answer counts: success, throttle, function error, other
side_by_side.py one scenario on-demand, with SnapStart and with provisioned concurrency
"""

from lambda_sandbox.tools.load.result import LoadResult
from lambda_sandbox.tools.load.run import invocations_url, run_load
from lambda_sandbox.tools.load.scenarios import SCENARIOS, Scenario

__all__ = ["SCENARIOS", "LoadResult", "Scenario", "invocations_url", "run_load"]
