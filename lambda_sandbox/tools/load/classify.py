"""How a load test classes an answer; shared by the locustfile and the report (no locust import,
so importing it never monkey-patches the caller with gevent)."""

from __future__ import annotations

__all__ = ["FUNCTION_ERROR", "THROTTLED", "classify"]

THROTTLED = "throttled (429)"
FUNCTION_ERROR = "function error"


def classify(status: int, function_error: bool, via_api: bool) -> str | None:
    """The failure class of an answer, or None for a success."""
    if status == 429:
        return THROTTLED
    if via_api and status == 200:
        return FUNCTION_ERROR if function_error else None
    if not via_api and status == 502:
        return FUNCTION_ERROR
    if 200 <= status < 400:
        return None
    return f"HTTP {status}"
