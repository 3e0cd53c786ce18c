"""Compare the sandbox's answers with AWS's recorded ones (tests/aws_recordings/).

The recordings are LocalStack's snapshot files: real AWS responses as boto3 parsed them, with
ids, names and dates replaced by placeholders. `compare` walks a recorded response and the
sandbox's side by side and requires the same keys, status codes, error codes and messages
everywhere, modulo what the placeholders stand for:

- `<uuid:N>`, `<code-sha256:N>`, `<receipt-handle:N>`, ... (`<kind:N>` but resource): any
  value, the same value wherever the same N appears and different values for different Ns
  (within one recording);
- `<code-size>`, `<location>`, `<sender-id>`, ... (`<kind>`), `<resource:N>`, `date`,
  `datetime`, `timestamp`: any value (inside a string: `<duration>`, `<memory>`, `<uuid:N>`,
  `<resource:N>` match any text);
- names, the account, the region and the partition in strings: the sandbox's, substituted
  before the comparison (`names` maps the sandbox's function names to their placeholders).

HTTP headers are left out (LocalStack's snapshots drop them) but status codes are compared.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambda_sandbox.pytest_plugin import make_lambda_client
from lambda_sandbox.runner import SandboxOptions, SandboxThread

__all__ = ["ROLE", "Replay", "archive", "client", "create", "done", "error", "recordings"]

RECORDINGS = Path(__file__).parents[1] / "aws_recordings" / "lambda_api.json"
_BOUND = re.compile(r"^<(?!resource:)([a-z0-9-]+):(\d+)>$")
_INSIDE = re.compile(
    r"<(?:resource|uuid|code-sha256|log-stream-name|duration|memory|a:len\(\d+\)):?\d*>"
    r"|(?<=\t)date(?=\t)"  # the logging module's time, in the runtime's log lines
)
_ANY = re.compile(
    r"^(<[a-z0-9-]+>|<resource:\d+>|<a:len\(\d+\)>"
    r"|date|datetime|timestamp|lambda-url|code-sha256|log-result)$"
)


def recordings() -> dict[str, dict[str, Any]]:
    data = json.loads(RECORDINGS.read_text())
    return {name: r["recorded-content"] for name, r in data["recordings"].items()}


def _strip(response: Any) -> Any:
    if isinstance(response, dict):
        out = {k: _strip(v) for k, v in response.items() if k != "ResponseMetadata"}
        meta = response.get("ResponseMetadata")
        if isinstance(meta, dict):
            out["ResponseMetadata"] = {"HTTPHeaders": {}, "HTTPStatusCode": meta["HTTPStatusCode"]}
        return out
    if isinstance(response, list):
        return [_strip(v) for v in response]
    return response


class Replay:
    """One recording: match the sandbox's answers to it, key by key."""

    def __init__(self, test: str, names: dict[str, str], region: str = "us-east-1") -> None:
        self.recorded = recordings()[test]
        self.test = test
        self.names = sorted(names.items(), key=lambda kv: -len(kv[0]))
        self.region = region
        self.bound: dict[str, Any] = {}
        self.compared: list[str] = []
        self.skipped: set[str] = set()  # recorded answers of fixture wrappers, not of AWS calls

    def name(self, ours: str, placeholder: str) -> None:
        """A value learned during the test (a request id) that the recording replaced."""
        self.names = sorted([*self.names, (ours, placeholder)], key=lambda kv: -len(kv[0]))

    def _ours(self, value: str) -> str:
        for ours, placeholder in self.names:
            value = value.replace(ours, placeholder)
        value = value.replace("000000000000", "111111111111")
        value = value.replace(self.region, "<region>")
        value = value.replace("arn:aws:", "arn:<partition>:")
        return value

    def _compare(self, recorded: Any, ours: Any, where: str) -> None:
        if isinstance(recorded, str):
            bound = _BOUND.match(recorded)
            if bound:
                previous = self.bound.setdefault(recorded, ours)
                assert previous == ours, f"{where}: {recorded} was {previous!r}, now {ours!r}"
                kind = recorded.split(":")[0]
                others = {v for k, v in self.bound.items() if k != recorded and k.startswith(kind)}
                assert ours not in others, f"{where}: {ours!r} stands for two placeholders"
                return
            if _ANY.match(recorded):
                assert ours is not None, f"{where}: missing"
                return
            assert isinstance(ours, str), f"{where}: {ours!r} is not a string"
            mine = self._ours(ours)
            if _INSIDE.search(recorded) and mine != recorded:  # arn:...:role/<resource:1>
                pattern = "(.+)".join(re.escape(part) for part in _INSIDE.split(recorded))
                assert re.fullmatch(pattern, mine), f"{where}: {mine!r} !~ {recorded!r}"
                return
            assert mine == recorded, f"{where}: {mine!r} != {recorded!r}"
            return
        if isinstance(recorded, dict) and isinstance(ours, str):
            ours = json.loads(ours)  # a JSON document the API answers as a string (Policy)
        if isinstance(recorded, dict):
            assert isinstance(ours, dict), f"{where}: {ours!r} is not an object"
            assert set(ours) == set(recorded), (
                f"{where}: keys differ: only in AWS's {sorted(set(recorded) - set(ours))}, "
                f"only in the sandbox's {sorted(set(ours) - set(recorded))}"
            )
            for key in recorded:
                self._compare(recorded[key], ours[key], f"{where}.{key}")
            return
        if isinstance(recorded, list):
            assert isinstance(ours, list) and len(ours) == len(recorded), f"{where}: {ours!r}"
            for i, (r, o) in enumerate(zip(recorded, ours, strict=True)):
                self._compare(r, o, f"{where}[{i}]")
            return
        if recorded == "<code-size>":
            return
        assert recorded == ours, f"{where}: {ours!r} != {recorded!r}"

    def match(self, key: str, response: Any) -> None:
        """The sandbox's answer for the step AWS's recording calls `key`."""
        assert key in self.recorded, f"{self.test} has no recording {key!r}"
        self._compare(self.recorded[key], _strip(response), f"{self.test}:{key}")
        self.compared.append(key)


ROLE = "arn:aws:iam::000000000000:role/lambda-test-role"
ECHO = "def handler(event, context):\n    return event\n"


def archive(source: str = ECHO, name: str = "index.py") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as package:
        package.writestr(name, source)
    return out.getvalue()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    opts = SandboxOptions(
        configs=[], port=0, embedded_aws=False, project_dir=tmp_path_factory.mktemp("replay")
    )
    thread = SandboxThread(opts).start(timeout_s=300)
    try:
        yield make_lambda_client(thread.url)
    finally:
        thread.stop()


def create(client: Any, name: str, **params: Any) -> dict[str, Any]:
    """CreateFunction, then wait until Active (what LocalStack's create fixtures do)."""
    params.setdefault("Code", {"ZipFile": archive()})
    params.setdefault("Handler", "index.handler")
    params.setdefault("Runtime", "python3.12")
    response = client.create_function(FunctionName=name, Role=ROLE, **params)
    client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1})
    return dict(response)


def error(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(ClientError) as info:
        call()
    return dict(info.value.response)


def done(replay: Replay) -> None:
    """Every answer the recording holds was compared (none left out by mistake)."""
    missing = [key for key in replay.recorded if key not in replay.compared]
    assert missing == [] or replay.skipped >= set(missing), f"not compared: {missing}"
