"""A load client process: keep-alive POSTs for N seconds, then prints {"ok": n, "errors": m}.

Throughput runs use one such process per client, so clients never share a GIL.
Usage: python -m benchmarks.load_client HOST PORT PATH SECONDS START_AT
"""

from __future__ import annotations

import json
import sys
import time

from benchmarks.conftest import Client


def main() -> None:
    host, port, path, seconds, start_at = sys.argv[1:6]
    while time.time() < float(start_at):
        time.sleep(0.001)
    stop = time.perf_counter() + float(seconds)
    ok = errors = 0
    client = Client(host, int(port), path)
    while time.perf_counter() < stop:
        try:
            client.invoke()
            ok += 1
        except Exception:  # the RIE answers errors, or drops the connection, when busy
            errors += 1
            client.close()
            client = Client(host, int(port), path)
            time.sleep(0.001)
    client.close()
    print(json.dumps({"ok": ok, "errors": errors}))


if __name__ == "__main__":
    main()
