"""An INIT-heavy reference: INIT_UNITS SHA-256 passes over a 1 MiB buffer at import (the INIT
phase), and `units` more in the handler (an invoke). The same work in both phases shows the CPU
each phase gets: on-demand INIT runs with a full vCPU at every memory size, an invoke with the
tier's share.
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

BUFFER = b"\x5a" * (1 << 20)


def _hash(units: int) -> None:
    digest = hashlib.sha256()
    for _ in range(units):
        digest.update(BUFFER)


_t0, _cpu0 = time.perf_counter(), time.process_time()
_hash(int(os.environ.get("INIT_UNITS", "100")))
INIT = {"seconds": time.perf_counter() - _t0, "cpu_seconds": time.process_time() - _cpu0}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    t0, cpu0 = time.perf_counter(), time.process_time()
    _hash(int(event.get("units", 100)))
    return {
        "init": INIT,
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - cpu0,
    }
