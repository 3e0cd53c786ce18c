"""`sandbox demo`: the README's main job, on the embedded default (no Docker).

It starts a sandbox on the functions folder, invokes each function twice (a cold start, then a
warm one) with its `events/direct.json`, prints the answers with their REPORT lines, then runs
one function at three memory sizes to show what CPU-per-memory and billing mean for it.
"""

from __future__ import annotations

import contextlib
import json
import statistics
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from lambda_sandbox.client import invoke, lambda_client
from lambda_sandbox.cost import billed_ms, cost_per_million
from lambda_sandbox.runner import SandboxOptions, SandboxThread

__all__ = ["run_demo"]

TIERS = (512, 1024, 1769)


def _event(folder: Path) -> bytes:
    path = folder / "events" / "direct.json"
    return path.read_bytes() if path.is_file() else b"{}"


def _short(payload: bytes, width: int = 70) -> str:
    text = payload.decode(errors="replace")
    with contextlib.suppress(ValueError):
        text = json.dumps(json.loads(text))
    return text if len(text) <= width else text[: width - 1] + "…"


def run_demo(functions_dir: Path, console: Console) -> None:
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
                call = invoke(client, name, event)
                rep = call.report
                style = "red" if call.error else ""
                table.add_row(
                    name,
                    start,
                    f"{rep.duration_ms:.2f} ms" if rep else "?",
                    f"{rep.billed_ms} ms" if rep else "?",
                    f"{rep.init_ms:.2f} ms" if rep and rep.init_ms is not None else "-",
                    f"{rep.max_memory_used_mb} MB" if rep else "?",
                    f"[{style}]{_short(call.payload)}[/]" if style else _short(call.payload),
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
            cold = invoke(client, name, event)
            init = f"{cold.init_ms:.2f} ms" if cold.init_ms is not None else "-"
            durations = [invoke(client, name, event).duration_ms or 0.0 for _ in range(10)]
            durations.sort()
            p50, p95 = statistics.median(durations), durations[int(0.95 * (len(durations) - 1))]
            vcpus, capped = service.limits.host_capped_vcpus(memory)
            billed = billed_ms(p50, limits=service.limits)
            tiers.add_row(
                f"{memory} MB", f"{vcpus:.2f}{' (capped)' if capped else ''}", init,
                f"{p50:.2f} ms", f"{p95:.2f} ms", f"{cost_per_million(billed, memory):.2f}",
                f"{cost_per_million(billed, memory, arch='arm64'):.2f}",
            )  # fmt: skip
        client.update_function_configuration(FunctionName=name, MemorySize=original)
        console.print(tiers)
        console.print(
            "INIT gets a full vCPU at every size (Lambda's on-demand INIT burst), so it barely "
            "changes; invokes get the tier's share. An invoke shorter than one CPU-quota period's "
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
