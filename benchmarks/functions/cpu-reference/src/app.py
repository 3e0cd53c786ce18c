"""A CPU-bound reference: `units` SHA-256 passes over a 1 MiB buffer, split over `threads`.

hashlib releases the GIL while it hashes large buffers, so `threads` threads can keep that many
vCPUs busy: the work is the same at every memory size, only the CPU share changes.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

BUFFER = b"\x5a" * (1 << 20)


def _hash(units: int) -> None:
    digest = hashlib.sha256()
    for _ in range(units):
        digest.update(BUFFER)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    units = int(event.get("units", 100))
    threads = max(1, int(event.get("threads", 1)))
    shares = [units // threads + (1 if i < units % threads else 0) for i in range(threads)]
    workers = [threading.Thread(target=_hash, args=(n,)) for n in shares]
    t0, cpu0 = time.perf_counter(), time.process_time()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return {
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - cpu0,
        "units": units,
        "threads": threads,
    }
