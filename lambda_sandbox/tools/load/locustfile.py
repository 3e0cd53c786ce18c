"""The Locust user and load shapes of `sandbox load`, configured by environment variables.

Run by `run_load` in a `locust` subprocess (gevent then patches that process only), and by
`locust -f benchmarks/locustfile.py --host URL` directly:

- TARGET_FUNCTION: a function name; --host is then the Lambda API and each request is
  POST /2015-03-31/functions/{name}/invocations. Unset: --host is a function URL, POSTed to
  at TARGET_PATH (default "/").
- TARGET_QUALIFIER: with TARGET_FUNCTION, the version or alias every request invokes.
- PAYLOAD: the request body (default "{}").
- LOAD_WAIT_MIN / LOAD_WAIT_MAX: seconds between a user's requests (default 1 and 3).
- LOAD_SHAPE=ramp: +1 user every LOAD_STEP_UP_S up to LOAD_MAX_USERS, LOAD_STEADY_S steady,
  then -1 user every LOAD_STEP_DOWN_S (defaults 40, 10, 120, 60); any other value, or unset,
  leaves users and run time to -u / -r / -t.

Each request is classified by its answer, and a failure's message names its class, so the
failures CSV counts them: a 429 is "throttled (429)", a function error (the Invoke API's
X-Amz-Function-Error header, or a function URL's 502) is "function error", anything else
"HTTP <status>" or the client's exception.
"""

from __future__ import annotations

import json
import os
from typing import Any

from locust import FastHttpUser, LoadTestShape, between, events, task
from locust.env import Environment
from locust.runners import WorkerRunner

from lambda_sandbox.tools.load.classify import FUNCTION_ERROR, THROTTLED, classify

__all__ = ["FUNCTION_ERROR", "THROTTLED", "LambdaUser", "classify"]


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


class LambdaUser(FastHttpUser):
    wait_time = between(_env_float("LOAD_WAIT_MIN", 1.0), _env_float("LOAD_WAIT_MAX", 3.0))
    network_timeout = 60.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        self.function = os.environ.get("TARGET_FUNCTION") or None
        self.payload = os.environ.get("PAYLOAD", "{}").encode()
        if self.function:
            self.path = f"/2015-03-31/functions/{self.function}/invocations"
            self.label = f"invoke {self.function}"
            qualifier = os.environ.get("TARGET_QUALIFIER")
            if qualifier:
                self.path += f"?Qualifier={qualifier}"
                self.label += f":{qualifier}"
        else:
            self.path = os.environ.get("TARGET_PATH") or "/"
            self.label = f"url {self.path}"

    @task
    def invoke(self) -> None:
        with self.client.post(
            self.path,
            data=self.payload,  # type: ignore[arg-type]  # bytes work; locust says str
            headers={"content-type": "application/json"},
            name=self.label,
            catch_response=True,
        ) as response:
            status = response.status_code or 0
            failure = classify(
                status,
                bool(response.headers and response.headers.get("X-Amz-Function-Error")),
                via_api=self.function is not None,
            )
            if failure is None:
                response.success()
            elif status == 0:  # no answer: keep the client's exception as the message
                response.failure(str(response.error or "no response"))
            else:
                response.failure(failure)


@events.quitting.add_listener
def _write_totals(environment: Environment, **_: Any) -> None:
    """The final totals, to LOAD_TOTALS_JSON: Locust's CSVs are written every few seconds, so
    the requests that finish while users stop (--stop-timeout) miss the last _stats.csv."""
    path = os.environ.get("LOAD_TOTALS_JSON")
    if not path or isinstance(environment.runner, WorkerRunner):
        return
    total = environment.stats.total
    body = {
        "requests": total.num_requests,
        "failures": total.num_failures,
        "rps": total.total_rps,
        "latency_ms": {
            "p50": total.get_response_time_percentile(0.5),
            "p95": total.get_response_time_percentile(0.95),
            "p99": total.get_response_time_percentile(0.99),
            "avg": total.avg_response_time,
            "max": total.max_response_time,
        },
        "errors": [
            {"error": str(e.error), "occurrences": e.occurrences}
            for e in environment.stats.errors.values()
        ],
    }
    with open(path, "w") as f:
        json.dump(body, f)


if os.environ.get("LOAD_SHAPE") == "ramp":

    class RampShape(LoadTestShape):
        """+1 user every step_up s to max_users, a steady phase, then -1 user every step_down s."""

        max_users = int(_env_float("LOAD_MAX_USERS", 10))
        step_up = _env_float("LOAD_STEP_UP_S", 40)
        steady = _env_float("LOAD_STEADY_S", 120)
        step_down = _env_float("LOAD_STEP_DOWN_S", 60)

        def tick(self) -> tuple[int, float] | None:
            t = self.get_run_time()
            up = self.max_users * self.step_up
            if t < up:
                return int(t // self.step_up) + 1, 100.0
            if t < up + self.steady:
                return self.max_users, 100.0
            left = self.max_users - int((t - up - self.steady) // self.step_down) - 1
            return (left, 100.0) if left > 0 else None
