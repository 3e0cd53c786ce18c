"""`sandbox stats`: the table shows SnapStart restores beside INIT's cold starts."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from lambda_sandbox.cli.functions import _stats_table


def _metrics(**extra: Any) -> dict[str, Any]:
    summary = {"p50": 2.0, "p95": 3.0, "p99": 4.0, "max": 37.0}
    return {
        "Invocations": 5, "Errors": 0, "Throttles": 0, "ColdStarts": 2,
        "ConcurrentExecutions": 0, "MaxConcurrentExecutions": 1, "Duration": summary,
        "InitDuration": {"p50": 2111.7}, "MaxMemoryUsed": summary,
        "Environments": {"idle": 1, "busy": 0}, **extra,
    }  # fmt: skip


def test_restores_and_their_p50_are_shown() -> None:
    data = {"Chat": _metrics(SnapStartRestores=2, RestoreDuration={"p50": 5.92}),
            "plain": _metrics(SnapStartRestores=0, RestoreDuration={"p50": None})}  # fmt: skip
    console = Console(width=250, record=True)
    console.print(_stats_table("http://x", data))
    text = console.export_text()
    chat = next(line for line in text.splitlines() if "Chat" in line)
    plain = next(line for line in text.splitlines() if "plain" in line)
    assert "2 (5.9)" in chat and "2111.7" in chat
    assert "(" not in plain.split("2111.7")[1].split("37.0")[0]  # no restores: "-"
