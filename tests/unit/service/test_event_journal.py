"""Accepted async events survive the sandbox (service/event_journal.py): kept until their
outcome is final, resumed by the next run with their age, attempts and request id."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from lambda_sandbox.environments.fake import FakeBackend, FakeFunction
from lambda_sandbox.service.event_journal import EventJournal, JournalRecord
from lambda_sandbox.service.lambda_service import LambdaService
from tests.unit.service.test_lambda_service import config


def _service(backend: FakeBackend, folder: Path, session: str, **kw: Any) -> LambdaService:
    service = LambdaService(backend, events_dir=folder, session=session, **kw)
    for name in backend.functions:
        service.register(config(name), Path("."))
    return service


def test_an_event_is_on_disk_until_it_has_run(tmp_path: Path) -> None:
    release = asyncio.Event()
    seen: list[Any] = []

    async def slow(event: Any) -> Any:
        await release.wait()
        seen.append(event)
        return {"ok": True}

    async def main() -> None:
        service = _service(FakeBackend({"f": FakeFunction(handler=slow)}), tmp_path, "s1-a")
        try:
            out = await service.invoke("f", b'{"n": 1}', invocation_type="Event")
            (kept,) = tmp_path.glob("*.json")
            record = JournalRecord.from_json(kept.read_text())
            assert record.request_id == out.request_id and record.payload == b'{"n": 1}'
            assert record.session == "s1-a" and record.attempts == 0
            assert record.invoked_arn.endswith(":function:f:$LATEST")
            release.set()
            for _ in range(100):
                if not list(tmp_path.glob("*.json")):
                    break
                await asyncio.sleep(0.01)
            assert seen == [{"n": 1}] and list(tmp_path.glob("*.json")) == []
        finally:
            await service.close()

    asyncio.run(main())


def test_a_stopped_runs_events_are_resumed_by_the_next(tmp_path: Path) -> None:
    calls: list[Any] = []

    async def hang(event: Any) -> Any:
        await asyncio.sleep(3600)

    def record(event: Any) -> Any:
        calls.append(event)
        return {}

    async def first() -> list[str]:
        service = _service(FakeBackend({"f": FakeFunction(handler=hang)}), tmp_path, "s1-a")
        ids = [
            (
                await service.invoke("f", json.dumps({"n": i}).encode(), invocation_type="Event")
            ).request_id
            for i in range(3)
        ]
        await asyncio.sleep(0.05)
        await service.close()  # SIGTERM: the three are mid-run or queued
        return ids

    ids = asyncio.run(first())
    assert sorted(p.stem for p in tmp_path.glob("*.json")) == sorted(ids)
    arn = "arn:aws:lambda:us-east-1:000000000000:function:gone:$LATEST"
    gone = JournalRecord("x-gone", "gone", arn, b"{}", 0.0, 0, "s1-a")
    EventJournal(tmp_path, "s1-a").keep(gone)

    async def second() -> None:
        service = _service(FakeBackend({"f": FakeFunction(handler=record)}), tmp_path, "s2-b")
        try:
            resumed, kept = service.resume_events(lambda s: s == "s2-b")
            assert resumed == 3 and kept == {"gone": 1}
            for _ in range(200):
                if len(calls) == 3:
                    break
                await asyncio.sleep(0.01)
            assert sorted(c["n"] for c in calls) == [0, 1, 2]
            assert service.functions["f"].metrics()["AsyncEventsResumed"] == 3
            await asyncio.sleep(0.05)
            assert [p.stem for p in tmp_path.glob("*.json")] == ["x-gone"]
        finally:
            await service.close()

    asyncio.run(second())


def test_an_alive_sessions_events_are_not_taken_and_bad_records_are_set_aside(
    tmp_path: Path,
) -> None:
    journal = EventJournal(tmp_path, "s1-a")
    journal.keep(JournalRecord("r1", "f", "arn:...:f:$LATEST", b"{}", 1.0, 0, ""))
    (tmp_path / "broken.json").write_text("{not json")
    other = EventJournal(tmp_path, "s2-b")
    assert other.left_behind(lambda s: True) == []
    assert [r.request_id for r in other.left_behind(lambda s: False)] == ["r1"]
    assert (tmp_path / "broken.json.unreadable").exists()
