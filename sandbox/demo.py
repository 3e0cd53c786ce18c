"""`sandbox demo`: the README's main job, on the embedded default (no Docker).

It starts a sandbox on the functions folder, invokes each function twice (a cold start, then a
warm one) with its `events/direct.json`, prints the answers with their REPORT lines, then runs
one function at three memory sizes to show what CPU-per-memory and billing mean for it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import statistics
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from sandbox.cost import cost_per_million
from sandbox.runner import SandboxOptions, SandboxThread

__all__ = ["run_demo"]

TIERS = (512, 1024, 1769)


def _event(folder: Path) -> bytes:
    path = folder / "events" / "direct.json"
    return path.read_bytes() if path.is_file() else b"{}"


def _report(log_result: str) -> dict[str, str]:
    text = base64.b64decode(log_result).decode(errors="replace")
    line = next((ln for ln in text.splitlines() if ln.startswith("REPORT ")), "")
    fields: dict[str, str] = {}
    for part in line.split("\t"):
        if ": " in part:
            key, value = part.split(": ", 1)
            fields[key.replace("REPORT ", "")] = value
    return fields


def _short(payload: bytes, width: int = 70) -> str:
    text = payload.decode(errors="replace")
    with contextlib.suppress(ValueError):
        text = json.dumps(json.loads(text))
    return text if len(text) <= width else text[: width - 1] + "…"


def run_demo(functions_dir: Path, console: Console) -> None:
    from sandbox.cli import lambda_client

    with console.status("starting the sandbox (builds bundles, starts the AWS side)") as status:
        thread = SandboxThread(SandboxOptions(functions_dir=functions_dir, port=0))
        thread.start(lambda m: status.update(m))
    try:
        service = thread.service
        client: Any = lambda_client(thread.url)
        enforcement = service.backend.enforcement
        console.print(f"[bold]Lambda sandbox[/] on {thread.url}  limits: {enforcement.summary()}")
        for note in enforcement.notes:
            console.print(f"[bold yellow]WARNING:[/] {note}")

        table = Table(title="Cold and warm invokes")
        for col in ("function", "start", "duration", "billed", "init", "max mem", "answer"):
            table.add_column(col)
        for name, state in service.functions.items():
            event = _event(state.config.folder)
            for start in ("cold", "warm"):
                resp = client.invoke(FunctionName=name, Payload=event, LogType="Tail")
                body = resp["Payload"].read()
                rep = _report(resp["LogResult"])
                style = "red" if resp.get("FunctionError") else ""
                table.add_row(
                    name,
                    start,
                    rep.get("Duration", "?"),
                    rep.get("Billed Duration", "?"),
                    rep.get("Init Duration", "-"),
                    rep.get("Max Memory Used", "?"),
                    f"[{style}]{_short(body)}[/]" if style else _short(body),
                )
        console.print(table)

        # one function across memory tiers: CPU scales with memory, and so does the price
        name = next((n for n in service.functions if n != "hello"), "hello")
        event = _event(service.functions[name].config.folder)
        tiers = Table(title=f"{name} across memory sizes (CPU = memory / 1,769 MB per vCPU)")
        for col in ("memory", "vCPU", "Init Duration", "p50", "p95", "$ per 1M x86",
                    "$ per 1M arm64"):  # fmt: skip
            tiers.add_column(col)
        original = service.functions[name].config.memory_mb
        for memory in TIERS:
            client.update_function_configuration(FunctionName=name, MemorySize=memory)
            cold = client.invoke(FunctionName=name, Payload=event, LogType="Tail")
            init = _report(cold["LogResult"]).get("Init Duration", "-")
            durations = []
            for _ in range(10):
                resp = client.invoke(FunctionName=name, Payload=event, LogType="Tail")
                resp["Payload"].read()
                durations.append(
                    float(_report(resp["LogResult"]).get("Duration", "0 ms").split()[0])
                )
            durations.sort()
            p50, p95 = statistics.median(durations), durations[int(0.95 * (len(durations) - 1))]
            vcpus, capped = service.limits.host_capped_vcpus(memory)
            billed = service.limits.billed_ms(p50)
            tiers.add_row(
                f"{memory} MB", f"{vcpus:.2f}{' (capped)' if capped else ''}", init,
                f"{p50:.2f} ms", f"{p95:.2f} ms", f"{cost_per_million(billed, memory):.2f}",
                f"{cost_per_million(billed, memory, arch='arm64'):.2f}",
            )  # fmt: skip
        client.update_function_configuration(FunctionName=name, MemorySize=original)
        console.print(tiers)
        console.print(
            "INIT scales with the CPU share. An invoke shorter than one CPU-quota period's "
            "share (29 ms per 100 ms at 512 MB) runs at full speed; longer ones, and the p95, "
            "feel the tier."
        )
        console.print(
            "Next: `sandbox up` serves these functions on http://127.0.0.1:9000 for boto3, "
            "curl and your tests; `sandbox logs FN` shows their log streams."
        )
    finally:
        with console.status("stopping the sandbox"):
            thread.stop()
