"""Load tests with Locust (issue 8): `run_load` drives Locust headless against a function URL or
the Lambda Invoke API, samples the sandbox's /_sandbox/metrics every second meanwhile, and
writes one report per run (reports/load-<name>.html with charts, plus CSV and JSON).

Locust runs as a subprocess (`python -m locust -f sandbox/load/locustfile.py --headless --csv`),
so gevent's monkey-patching stays in that process and never touches the caller's threads (the
sandbox itself may run in the caller, as in the tests).

Reconciliation, the point of the report: the requests Locust sent must equal the invocations
the sandbox saw plus its throttles plus the client's other errors, and Locust's successes,
function errors, throttles (a 429) and other errors must add up to the requests sent; client
throttles must equal server Throttles and client function errors server Errors. Any difference
sets `reconciled = False` and is listed in `reconciliation_errors`.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lambda_sandbox.extras import require
from lambda_sandbox.tools.load.classify import FUNCTION_ERROR, THROTTLED
from lambda_sandbox.tools.load.report import write_report
from lambda_sandbox.tools.load.result import LoadResult
from lambda_sandbox.tools.load.scenarios import SCENARIOS, Scenario
from lambda_sandbox.types import Progress

__all__ = ["invocations_url", "run_load"]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations/?$")


def invocations_url(api_url: str, function: str) -> str:
    """The Invoke API URL of a function: a `run_load` target."""
    return f"{api_url.rstrip('/')}/2015-03-31/functions/{function}/invocations"


# the server side ---------------------------------------------------------------------------------
def _get_json(url: str, timeout_s: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return json.loads(response.read())


_SERVER_COUNTERS = (
    "Invocations", "Errors", "Throttles", "ColdStarts", "BilledDurationTotal",
    "SnapStartRestores", "ProvisionedConcurrencyInvocations",
    "ProvisionedConcurrencySpilloverInvocations",
)  # fmt: skip


def _flat(t: float, metrics: dict[str, Any]) -> dict[str, Any]:
    duration, init = metrics.get("Duration") or {}, metrics.get("InitDuration") or {}
    envs = metrics.get("Environments") or {}
    restore = metrics.get("RestoreDuration") or {}
    return {
        "t": round(t, 3),
        **{key: metrics.get(key, 0) for key in _SERVER_COUNTERS},
        "ConcurrentExecutions": metrics.get("ConcurrentExecutions", 0),
        "MaxConcurrentExecutions": metrics.get("MaxConcurrentExecutions", 0),
        "DurationP50": duration.get("p50"),
        "DurationP95": duration.get("p95"),
        "InitDurationP50": init.get("p50"),
        "RestoreDurationP50": restore.get("p50"),
        "EnvironmentsIdle": envs.get("idle", 0),
        "EnvironmentsBusy": envs.get("busy", 0),
    }


class _Sampler(threading.Thread):
    """Reads /_sandbox/metrics for one function every `interval_s` until stopped."""

    def __init__(self, url: str, function: str, t0: float, interval_s: float = 1.0) -> None:
        super().__init__(name="load-metrics-sampler", daemon=True)
        self.url, self.function, self.t0, self.interval_s = url, function, t0, interval_s
        self.samples: list[dict[str, Any]] = []
        self.errors = 0
        self._stop_event = threading.Event()

    def sample(self) -> dict[str, Any] | None:
        try:
            metrics = _get_json(self.url)[self.function]
        except (OSError, ValueError, KeyError):
            self.errors += 1
            return None
        row = _flat(time.time() - self.t0, metrics)
        self.samples.append(row)
        return row

    def run(self) -> None:
        next_at = time.monotonic()
        while not self._stop_event.is_set():
            self.sample()
            next_at += self.interval_s
            self._stop_event.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)


def _settle(sampler: _Sampler, timeout_s: float = 30.0) -> dict[str, Any] | None:
    """The server's counters once nothing runs and two reads agree (in-flight work has ended)."""
    deadline, last = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        row = sampler.sample()
        if row is not None and row["ConcurrentExecutions"] == 0:
            key = tuple(row[k] for k in _SERVER_COUNTERS)
            if last == key:
                return row
            last = key
        time.sleep(0.5)
    return sampler.samples[-1] if sampler.samples else None


def _percentiles(metrics: dict[str, Any]) -> dict[str, Any]:
    duration, init = metrics.get("Duration") or {}, metrics.get("InitDuration") or {}
    return {
        "DurationP50": duration.get("p50"),
        "DurationP95": duration.get("p95"),
        "InitDurationP50": init.get("p50"),
        "RestoreDurationP50": (metrics.get("RestoreDuration") or {}).get("p50"),
    }


def _live_line(prefix: Path, sampler: _Sampler | None, elapsed: float, planned: float) -> str:
    """One progress line: Locust's latest aggregated stats row and the server's concurrency."""
    rows = [
        r for r in _read_csv(Path(f"{prefix}_stats_history.csv")) if r.get("Name") == "Aggregated"
    ]
    parts = [f"{elapsed:.0f}/{planned:.0f} s"]
    if rows:
        last = rows[-1]
        parts.append(
            f"{last['User Count']} users, {_num(last['Requests/s']) or 0:.1f} req/s, "
            f"{int(float(last['Total Request Count']))} sent, "
            f"{int(float(last['Total Failure Count']))} failed"
        )
    if sampler is not None and sampler.samples:
        s = sampler.samples[-1]
        parts.append(f"server: {s['ConcurrentExecutions']} running, {s['ColdStarts']} cold starts")
    return "; ".join(parts)


# the client side ----------------------------------------------------------------------------------
def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _num(value: str | None) -> float | None:
    if value in (None, "", "N/A"):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _resolve(target: str, function: str | None) -> tuple[str, str, str | None, str]:
    """(mode, host, function, path) of a target URL."""
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"load target must be an http(s) URL, not {target!r}")
    host = f"{parts.scheme}://{parts.netloc}"
    match = _INVOKE_PATH.match(parts.path)
    if match:
        return "invoke", host, match["name"], ""
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return "url", host, function, path


def _memory_mb(api_url: str, function: str) -> int | None:
    try:
        config = _get_json(f"{api_url}/2015-03-31/functions/{function}/configuration")
        return int(config["MemorySize"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run_load(
    target: str,
    scenario: str | Scenario,
    *,
    users: int | None = None,
    spawn_rate: float | None = None,
    duration_s: float | None = None,
    scale: float = 1.0,
    payload: bytes = b"{}",
    out_dir: Path = Path("reports"),
    metrics_url: str | None = None,
    workers: int = 0,
    function: str | None = None,
    name: str | None = None,
    memory_mb: int | None = None,
    stop_timeout_s: float = 60.0,
    progress: Progress | None = None,
    qualifier: str | None = None,
) -> LoadResult:
    """Run one Locust load test and write its report; see the module's docstring.

    `target` is a function URL, or a Lambda Invoke API URL (`invocations_url(api, name)`).
    `users`, `spawn_rate`, `duration_s` override the scenario's (after scaling). `metrics_url`
    defaults to the target's /_sandbox/metrics in Invoke mode; for a function URL pass it and
    `function` (the name the sandbox's metrics use). `workers` > 0 runs Locust's master with
    that many worker processes (`--processes`). `progress` gets a line every second while
    it runs: users, requests per second, failures, from Locust's stats as they are written.
    `qualifier` (Invoke mode) sends every request to that version or alias.
    """
    require("load", "sandbox load")
    spec = SCENARIOS[scenario] if isinstance(scenario, str) else scenario
    mode, host, function, path = _resolve(target, function)
    if metrics_url is None and mode == "invoke":
        metrics_url = f"{host}/_sandbox/metrics"
    api_url = metrics_url.removesuffix("/_sandbox/metrics") if metrics_url else None
    run_users = users if users is not None else spec.users
    ramp_s = spec.ramp_s * scale
    run_spawn = spawn_rate if spawn_rate is not None else run_users / max(ramp_s, 1e-3)
    run_duration = duration_s if duration_s is not None else spec.duration_s * scale
    label = name or f"{spec.name}-{function or 'url'}"
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    prefix = out_dir / f"load-{label}"

    env = {
        **os.environ,
        "PAYLOAD": payload.decode(),
        "LOAD_WAIT_MIN": str(spec.wait_min_s * scale),
        "LOAD_WAIT_MAX": str(spec.wait_max_s * scale),
        "TARGET_FUNCTION": function if mode == "invoke" and function else "",
        "TARGET_PATH": path,
        "TARGET_QUALIFIER": qualifier or "",
        "LOAD_SHAPE": spec.shape or "",
        "PYTHONWARNINGS": "ignore",
        "LOAD_TOTALS_JSON": f"{prefix}_totals.json",
    }
    cmd = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", host,
        "--csv", str(prefix), "--csv-full-history", "--only-summary", "--loglevel", "WARNING",
        "--html", f"{prefix}.locust.html",
        "--stop-timeout", f"{max(int(stop_timeout_s), 1)}s", "--exit-code-on-error", "0",
    ]  # fmt: skip
    if spec.shape == "ramp":
        env |= {
            "LOAD_MAX_USERS": str(run_users),
            "LOAD_STEP_UP_S": str(spec.step_up_s * scale),
            "LOAD_STEADY_S": str(spec.steady_s * scale),
            "LOAD_STEP_DOWN_S": str(spec.step_down_s * scale),
        }
        run_duration = (
            duration_s
            if duration_s is not None
            else (run_users * (spec.step_up_s + spec.step_down_s) + spec.steady_s) * scale
        )
    else:
        cmd += ["-u", str(run_users), "-r", f"{run_spawn:g}", "-t", f"{max(run_duration, 1):.0f}s"]
    if duration_s is not None and spec.shape == "ramp":
        cmd += ["-t", f"{max(duration_s, 1):.0f}s"]
    if workers > 0:
        cmd += ["--processes", str(workers)]

    result = LoadResult(
        name=label, scenario=spec.name, target=target, mode=mode, function=function,
        users=run_users, spawn_rate=round(run_spawn, 3), duration_s=round(run_duration, 3),
        scale=scale, workers=workers, elapsed_s=0.0, memory_mb=memory_mb, qualifier=qualifier,
    )  # fmt: skip
    if result.memory_mb is None and api_url and function:
        result.memory_mb = _memory_mb(api_url, function)

    t0 = time.time()
    sampler = _Sampler(metrics_url, function, t0) if metrics_url and function else None
    before = sampler.sample() if sampler else None
    if sampler:
        sampler.start()
    say = progress or (lambda _m: None)
    log_path = out_dir / f"load-{label}.locust.log"
    try:
        with log_path.open("w") as log:
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
            deadline = time.monotonic() + run_duration + stop_timeout_s + 120
            while proc.poll() is None:
                if time.monotonic() > deadline:
                    proc.kill()
                    break
                time.sleep(1.0)
                say(_live_line(prefix, sampler, time.time() - t0, run_duration))
            returncode = proc.wait()
    finally:
        if sampler:
            sampler.stop()
    result.locust_exit_code = returncode
    output = log_path.read_text()
    after = _settle(sampler) if sampler else None
    if after is not None and metrics_url and function:  # the run's own percentiles
        try:
            windowed = _get_json(f"{metrics_url}?since={t0}")[function]
            after = {**after, **_percentiles(windowed)}
        except (OSError, ValueError, KeyError):
            pass
    locust_html = Path(f"{prefix}.locust.html")
    result.locust_html = str(locust_html) if locust_html.exists() else None
    result.elapsed_s = round(time.time() - t0, 3)
    if sampler:
        result.samples = sampler.samples

    _client_side(result, prefix, t0)
    _server_side(result, before, after)
    _reconcile(result, have_server=before is not None and after is not None)
    if returncode != 0:
        result.reconciled = False
        result.reconciliation_errors.append(
            f"locust exited with {returncode}: {output.strip()[-500:]}"
        )

    write_report(result, out_dir)
    return result


def _client_side(result: LoadResult, prefix: Path, t0: float) -> None:
    totals_path = Path(f"{prefix}_totals.json")
    if not totals_path.exists():
        return  # locust did not finish: reconciliation reports no requests
    totals = json.loads(totals_path.read_text())
    result.requests, result.failures = int(totals["requests"]), int(totals["failures"])
    result.rps = round(float(totals["rps"]), 3)
    result.latency_ms = {
        k: (None if v is None else float(v)) for k, v in totals["latency_ms"].items()
    }
    for row in totals["errors"]:
        count, error = int(row["occurrences"]), str(row["error"])
        if THROTTLED in error:
            result.throttles += count
        elif FUNCTION_ERROR in error:
            result.function_errors += count
        else:
            result.other_errors += count
            result.other_error_kinds[error] = result.other_error_kinds.get(error, 0) + count
    result.successes = result.requests - result.failures
    for row in _read_csv(Path(f"{prefix}_stats_history.csv")):
        if row.get("Name") != "Aggregated":
            continue
        result.timeline.append(
            {
                "t": round(float(row["Timestamp"]) - t0, 3),
                "users": int(row["User Count"]),
                "rps": _num(row["Requests/s"]) or 0.0,
                "failures_s": _num(row["Failures/s"]) or 0.0,
                "p50": _num(row["50%"]),
                "p95": _num(row["95%"]),
                "p99": _num(row["99%"]),
                "requests": int(float(row["Total Request Count"])),
                "failures": int(float(row["Total Failure Count"])),
            }
        )


def _server_side(
    result: LoadResult, before: dict[str, Any] | None, after: dict[str, Any] | None
) -> None:
    if before is None or after is None:
        return
    delta = {key: after[key] - before[key] for key in _SERVER_COUNTERS}
    samples = result.samples
    result.server = {
        **delta,
        "MaxConcurrentExecutionsSeen": max((s["ConcurrentExecutions"] for s in samples), default=0),
        "MaxEnvironments": max(
            (s["EnvironmentsIdle"] + s["EnvironmentsBusy"] for s in samples), default=0
        ),
        "DurationP50": after["DurationP50"],
        "DurationP95": after["DurationP95"],
        "InitDurationP50": after["InitDurationP50"],
        "RestoreDurationP50": after.get("RestoreDurationP50"),
        "MetricsSamples": len(samples),
    }
    if result.memory_mb:
        from lambda_sandbox.cost import cost_per_invocation

        billed = cost_per_invocation(float(delta["BilledDurationTotal"]), result.memory_mb)
        per_request = cost_per_invocation(0.0, result.memory_mb).request
        result.cost_usd = billed.compute + billed.ephemeral + per_request * delta["Invocations"]
        if delta["Invocations"]:
            result.cost_per_million_usd = result.cost_usd / delta["Invocations"] * 1e6


def _reconcile(result: LoadResult, *, have_server: bool) -> None:
    errors, lines = result.reconciliation_errors, result.reconciliation_lines
    r = result
    classified = r.successes + r.function_errors + r.throttles + r.other_errors
    lines.append(
        f"client: {r.successes} successes + {r.function_errors} function errors + "
        f"{r.throttles} throttles + {r.other_errors} other errors = {classified} "
        f"(requests sent: {r.requests})"
    )
    if classified != r.requests:
        errors.append(f"client classes add up to {classified}, not the {r.requests} sent")
    if r.requests == 0:
        errors.append("no request was sent")
    if not have_server:
        errors.append("no server-side metrics: nothing to reconcile the client against")
        r.reconciled = False
        return
    s = r.server
    seen = s["Invocations"] + s["Throttles"] + r.other_errors
    lines.append(
        f"server: {s['Invocations']} invocations + {s['Throttles']} throttles + "
        f"{r.other_errors} gateway/other errors = {seen} (requests sent: {r.requests})"
    )
    if seen != r.requests:
        errors.append(f"sandbox saw {seen} requests, Locust sent {r.requests}")
    checks = [
        ("throttles", r.throttles, s["Throttles"]),
        ("function errors", r.function_errors, s["Errors"]),
        ("successes", r.successes, s["Invocations"] - s["Errors"]),
    ]
    for what, client, server in checks:
        lines.append(f"{what}: client {client}, server {server}")
        if client != server:
            errors.append(f"{what}: client counted {client}, the sandbox {server}")
    r.reconciled = not errors
