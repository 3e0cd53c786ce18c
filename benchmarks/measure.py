"""What the tier and fidelity benchmarks share: invoking with LogType=Tail, reading the REPORT
line (sandbox.tune.parse_report), switching MemorySize, choosing tiers, percentiles.
"""

from __future__ import annotations

import base64
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sandbox.limits import load_limits
from sandbox.tune import parse_report

UPDATE_WAIT_S = 60.0


@dataclass(frozen=True)
class Call:
    """One invoke: its REPORT fields, or the error that replaced them."""

    duration_ms: float | None
    billed_ms: float | None
    init_ms: float | None
    max_memory_mb: int | None
    error: str | None  # errorType of a function error, or the API error's code
    note: str | None  # the SANDBOX log line: what differs from Lambda on this host
    client_ms: float  # wall time seen by the client
    body: Any = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.duration_ms is not None


def invoke(client: Any, function: str, payload: bytes) -> Call:
    """Invoke with LogType=Tail; API errors (429, timeouts) come back as errors, not raised."""
    from botocore.exceptions import BotoCoreError, ClientError

    t0 = time.perf_counter()
    try:
        resp = client.invoke(FunctionName=function, Payload=payload, LogType="Tail")
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Error")
        return Call(None, None, None, None, code, None, (time.perf_counter() - t0) * 1000)
    except BotoCoreError as exc:
        return Call(None, None, None, None, type(exc).__name__, None, 0.0)
    raw = resp["Payload"].read()
    client_ms = (time.perf_counter() - t0) * 1000
    log = base64.b64decode(resp.get("LogResult") or b"").decode("utf-8", "replace")
    fields = parse_report(log)
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    error = None
    if resp.get("FunctionError"):
        error = str(resp["FunctionError"])
        if isinstance(body, dict) and body.get("errorType"):
            error = str(body["errorType"])

    def num(key: str) -> float | None:
        value = fields[key]
        return float(value) if isinstance(value, int | float) else None

    memory = num("max_memory")
    return Call(
        duration_ms=num("duration"),
        billed_ms=num("billed"),
        init_ms=num("init"),
        max_memory_mb=None if memory is None else int(memory),
        error=error,
        note=str(fields["note"]) if fields["note"] else None,
        client_ms=client_ms,
        body=body,
    )


def set_memory(client: Any, function: str, memory_mb: int) -> None:
    """UpdateFunctionConfiguration(MemorySize): the sandbox retires the warm environments."""
    resp = client.update_function_configuration(FunctionName=function, MemorySize=memory_mb)
    deadline = time.monotonic() + UPDATE_WAIT_S
    while resp.get("LastUpdateStatus") == "InProgress" and time.monotonic() < deadline:
        time.sleep(0.2)
        resp = client.get_function_configuration(FunctionName=function)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0-100) of `values`; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def host_cpus() -> int:
    return os.cpu_count() or 1


def cpu_info(memory_mb: int) -> dict[str, Any]:
    """Lambda's CPU share for the tier, what this host gives, and whether it is capped."""
    limits = load_limits()
    given, capped = limits.host_capped_vcpus(memory_mb)
    return {
        "lambda_vcpus": limits.vcpus_for(memory_mb),
        "host_vcpus": given,
        "capped": capped,
        "host_cpus": host_cpus(),
    }


def _env_tiers(name: str) -> list[int] | None:
    value = os.environ.get(name, "").strip()
    return [int(v) for v in value.replace(",", " ").split()] if value else None


def bench_tiers() -> tuple[list[int], list[dict[str, Any]]]:
    """The tiers to run, and those left out with the reason.

    limits/tiers.toml's `default` list, plus the `extended` tiers this host can give in full
    (none on a 2-core host: 4,096 MB already wants 2.32 vCPU). SANDBOX_BENCH_EXTENDED=1 runs
    every extended tier too (marked capped); SANDBOX_BENCH_TIERS="128,1024" runs just those.
    """
    limits = load_limits()
    chosen = _env_tiers("SANDBOX_BENCH_TIERS")
    if chosen is not None:
        return chosen, []
    run = limits.tier_list()
    not_run = []
    everything = os.environ.get("SANDBOX_BENCH_EXTENDED", "") not in ("", "0")
    for memory in limits.tier_list(extended=True)[len(run) :]:
        given, capped = limits.host_capped_vcpus(memory)
        if capped and not everything:
            not_run.append(
                {
                    "memory_mb": memory,
                    "lambda_vcpus": limits.vcpus_for(memory),
                    "host_vcpus": given,
                    "capped": True,
                    "reason": f"capped: this host gives {given:.2f} of "
                    f"{limits.vcpus_for(memory):.2f} vCPU (SANDBOX_BENCH_EXTENDED=1 runs it)",
                }
            )
        else:
            run.append(memory)
    return run, not_run


def fidelity_tiers() -> list[int]:
    """The default tiers plus the first and the last extended tier the host caps (so that the
    report shows what capping does); SANDBOX_BENCH_FIDELITY_TIERS overrides."""
    chosen = _env_tiers("SANDBOX_BENCH_FIDELITY_TIERS")
    if chosen is not None:
        return chosen
    limits = load_limits()
    tiers = limits.tier_list()
    extended = limits.tier_list(extended=True)[len(tiers) :]
    capped = [m for m in extended if limits.host_capped_vcpus(m)[1]]
    tiers += [m for m in extended if m not in capped]
    if capped:
        tiers += sorted({capped[0], capped[-1]})
    return tiers
