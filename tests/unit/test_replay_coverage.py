"""Every operation the sandbox serves is replayed against AWS's answers: a new operation
without a replay test fails here (the replay modules: tests/integration/test_aws_replay*.py)."""

from __future__ import annotations

import re
from pathlib import Path

from lambda_sandbox.faces.lambda_api import OPERATIONS

REPLAYS = sorted((Path(__file__).parents[1] / "integration").glob("test_aws_replay*.py"))


def snake(operation: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


def test_every_served_operation_is_replayed() -> None:
    text = "".join(path.read_text() for path in REPLAYS)
    called = set(re.findall(r"\.([a-z_]+)\(", text)) | set(re.findall(r'"([a-z_]+)"', text))
    missing = [op for op in OPERATIONS if snake(op) not in called]
    assert len(REPLAYS) >= 3
    assert missing == []
