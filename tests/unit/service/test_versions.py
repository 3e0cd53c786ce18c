"""Versions and aliases on the fake backend: environments per version, one concurrency count
per function, aliases with routing weights, and the version a hot reload leaves in place."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from lambda_sandbox.environments.fake import FakeBackend, FakeFunction
from lambda_sandbox.exceptions import TooManyRequestsException
from lambda_sandbox.service import versions
from lambda_sandbox.service.lambda_service import LambdaService
from tests.unit.service.test_lambda_service import config


def test_a_version_keeps_its_configuration_and_has_its_own_environments() -> None:
    async def main() -> None:
        backend = FakeBackend({"f": FakeFunction()})
        service = LambdaService(backend)
        service.register(config("f", environment={"STAGE": "one"}), Path("."))
        v1 = service.publish_version("f")
        await service.update_configuration("f", {"Environment": {"Variables": {"STAGE": "two"}}})
        await asyncio.sleep(0)  # the update completes (InProgress -> Successful)
        assert service.publish_version("f").version == "2"
        assert service.publish_version("f").version == "2", "unchanged $LATEST: the same version"
        out = await service.invoke("f", b"{}", qualifier="1")
        assert out.executed_version == "1" and v1.config.environment == {"STAGE": "one"}
        await service.invoke("f", b"{}")
        specs = [e.spec.environment["AWS_LAMBDA_FUNCTION_VERSION"] for e in backend.started]
        assert specs == ["1", "$LATEST"], "each version starts environments of its own"
        await service.close()

    asyncio.run(main())


def test_versions_share_the_functions_reserved_concurrency() -> None:
    async def main() -> None:
        slow = FakeFunction(handler=lambda event: event)
        backend = FakeBackend({"f": slow})
        service = LambdaService(backend)
        service.register(config("f", reserved_concurrency=1), Path("."))
        service.publish_version("f")
        blocker = asyncio.Event()

        async def hold(event: object) -> object:
            await blocker.wait()
            return event

        slow.handler = hold
        first = asyncio.ensure_future(service.invoke("f", b"{}", qualifier="1"))
        await asyncio.sleep(0.05)
        with pytest.raises(TooManyRequestsException):
            await service.invoke("f", b"{}")  # $LATEST: the same function's one slot
        blocker.set()
        await first
        await service.close()

    asyncio.run(main())


def test_an_alias_routes_by_weight_and_getfunction_names_its_version() -> None:
    async def main() -> None:
        backend = FakeBackend({"f": FakeFunction()})
        service = LambdaService(backend)
        service.register(config("f"), Path("."))
        service.publish_version("f")
        await service.update_configuration("f", {"Description": "second"})
        await asyncio.sleep(0)
        service.publish_version("f")
        latest = service.get("f")
        versions.create_alias(latest, "live", "1", routing={"AdditionalVersionWeights": {"2": 0.5}})
        ran = [(await service.invoke("f", b"{}", qualifier="live")).executed_version
               for _ in range(60)]  # fmt: skip
        assert set(ran) == {"1", "2"}, "both versions get invokes"
        assert service.version("f", "live").version == "1", "GetFunction: the alias's version"
        await service.close()

    asyncio.run(main())


def test_a_reload_of_latest_keeps_the_published_versions() -> None:
    async def main() -> None:
        backend = FakeBackend({"f": FakeFunction(handler=lambda e: {"code": "old"})})
        service = LambdaService(backend)
        service.register(config("f"), Path("."))
        service.publish_version("f")
        await service.reload(config("f", description="new code"), Path("."))
        latest = service.get("f")
        assert latest.versions["1"].latest is latest, "the version belongs to the new $LATEST"
        out = await service.invoke("f", b"{}", qualifier="1")
        assert json.loads(out.payload) == {"code": "old"}
        await service.close()

    asyncio.run(main())
