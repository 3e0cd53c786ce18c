"""The victim: a secret in its environment (VICTIM_SECRET), one in /tmp written at INIT, one in
every event; it answers with its own pid and what it was sent."""

from __future__ import annotations

import os
from typing import Any

with open("/tmp/victim-secret.txt", "w") as f:
    f.write("victim-tmp-secret-0815")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"victim": True, "pid": os.getpid(), "uid": os.getuid(), "event": event}
