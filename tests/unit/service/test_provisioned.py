"""Provisioned concurrency on the fake backend: environments initialized ahead (at the tier's
own CPU share, marked provisioned-concurrency), used first, spilled over when busy, counted;
and AWS's rules for where a configuration may go (LocalStack's snapshot tests
TestLambdaProvisionedConcurrency, recorded against AWS)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from lambda_sandbox.environments.fake import FakeBackend, FakeFunction
from lambda_sandbox.exceptions import (
    InvalidParameterValueException,
    ResourceConflictException,
    ResourceNotFoundException,
    ValidationException,
)
from lambda_sandbox.service import versions
from lambda_sandbox.service.lambda_service import LambdaService
from lambda_sandbox.service.provisioned import ProvisionedConfigNotFound
from tests.unit.service.test_lambda_service import _sleep_then, run


async def _ready(service: LambdaService, qualifier: str) -> None:
    latest = service.functions["f"]
    for _ in range(200):
        if latest.provisioned[qualifier].status == "READY":
            return
        await asyncio.sleep(0.01)
    raise AssertionError(latest.provisioned[qualifier].body())


def test_two_provisioned_four_callers_two_spill_over() -> None:
    async def body(service: LambdaService, backend: FakeBackend) -> None:
        latest = service.functions["f"]
        service.publish_version("f")
        config = service.provisioned.put(latest, latest.arn, "1", 2)
        assert config.body()["Status"] == "IN_PROGRESS"
        await _ready(service, "1")
        assert config.body()["AllocatedProvisionedConcurrentExecutions"] == 2
        ahead = list(backend.started)
        assert len(ahead) == 2
        for env in ahead:
            assert (
                env.spec.environment["AWS_LAMBDA_INITIALIZATION_TYPE"] == "provisioned-concurrency"
            )
            assert env.spec.init_cpu_quota_us == env.spec.cpu_quota_us, "no INIT burst"
        outs = await asyncio.gather(
            *(service.invoke("f", b'{"sleep": 0.2}', qualifier="1", log_type="Tail")
              for _ in range(4))
        )  # fmt: skip
        cold = [o for o in outs if o.report is not None and o.report.init_ms is not None]
        warm = [o for o in outs if o.report is not None and o.report.init_ms is None]
        assert len(warm) == 2 and len(cold) == 2, "2 provisioned, 2 spilled over (cold)"
        metrics = latest.versions["1"].metrics()
        assert metrics["ProvisionedConcurrencyInvocations"] == 2
        assert metrics["ProvisionedConcurrencySpilloverInvocations"] == 2
        assert metrics["ProvisionedConcurrencyUtilization"] == 1.0
        assert metrics["ProvisionedConcurrentExecutions"] == 0
        # $LATEST never uses them: a cold start of its own (the counters are the function's)
        out = await service.invoke("f", b"{}", log_type="Tail")
        assert out.report is not None and out.report.init_ms is not None
        assert latest.stats.provisioned_invocations == 2
        service.provisioned.delete(latest, latest.arn, "1")
        await asyncio.sleep(0.05)
        assert all(not env.alive for env in ahead), "deleting the config retires them"

    run({"f": FakeFunction(handler=_sleep_then)}, body)


def test_where_a_configuration_may_go() -> None:
    async def body(service: LambdaService, backend: FakeBackend) -> None:
        latest = service.functions["f"]
        arn = latest.arn
        pool = service.provisioned
        service.publish_version("f")
        with pytest.raises(InvalidParameterValueException, match="unpublished function versions"):
            pool.put(latest, arn, "$LATEST", 1)
        with pytest.raises(InvalidParameterValueException, match="alias or a published version"):
            pool.get(latest, arn, "$LATEST")
        with pytest.raises(ResourceNotFoundException, match=f"Function not found: {arn}:10"):
            pool.put(latest, arn, "10", 1)
        with pytest.raises(ResourceNotFoundException, match=f"Cannot find alias arn: {arn}:nope"):
            pool.get(latest, arn, "nope")
        with pytest.raises(ValidationException, match="greater than or equal to 1"):
            pool.put(latest, arn, "1", 0)
        with pytest.raises(ProvisionedConfigNotFound):
            pool.get(latest, arn, "1")
        pool.delete(latest, arn, "1")  # nothing there: fine (AWS answers 204)
        versions.create_alias(latest, "live", "1")
        pool.put(latest, arn, "1", 1)
        with pytest.raises(ResourceConflictException, match="already Provisioned version"):
            pool.put(latest, arn, "live", 1)
        pool.delete(latest, arn, "1")
        pool.put(latest, arn, "live", 1)
        with pytest.raises(ResourceConflictException, match="pointed by a Provisioned"):
            pool.put(latest, arn, "1", 1)
        await _ready(service, "live")
        pool.forget_alias(latest, "live")
        assert latest.provisioned == {}

    run({"f": FakeFunction()}, body)


def test_a_provisioned_environment_that_dies_is_replaced() -> None:
    def crash(event: Any) -> Any:
        if event.get("crash"):
            raise SystemExit(1)
        return event

    async def body(service: LambdaService, backend: FakeBackend) -> None:
        latest = service.functions["f"]
        service.publish_version("f")
        service.provisioned.put(latest, latest.arn, "1", 1)
        await _ready(service, "1")
        (first,) = latest.provisioned["1"].idle
        await first.kill()
        out = await service.invoke("f", b"{}", qualifier="1", log_type="Tail")
        assert out.function_error is None
        for _ in range(100):
            if latest.provisioned["1"].idle:
                break
            await asyncio.sleep(0.01)
        assert latest.provisioned["1"].allocated == 1 and first not in latest.provisioned["1"].idle

    run({"f": FakeFunction(handler=crash)}, body)


def test_sams_provisioned_concurrency_config_follows_the_auto_published_alias() -> None:
    async def body(service: LambdaService, backend: FakeBackend) -> None:
        latest = service.functions["f"]
        service.auto_publish("f")
        await _ready(service, "live")
        config = latest.provisioned["live"]
        assert config.requested == 2 and config.version == "1"
        out = await service.invoke("f", b"{}", qualifier="live", log_type="Tail")
        assert out.report is not None and out.report.init_ms is None, "a provisioned one"
        service.auto_publish("f")  # unchanged code: same version, nothing re-provisioned
        assert latest.provisioned["live"] is config

    raw = {"AutoPublishAlias": "live", "ProvisionedConcurrencyConfig": {
        "ProvisionedConcurrentExecutions": "2"}}  # fmt: skip
    run({"f": FakeFunction()}, body, {"f": {"raw": raw}})


def test_a_snapstart_version_takes_no_provisioned_concurrency() -> None:
    """snapstart.html: SnapStart does not support provisioned concurrency."""

    async def body(service: LambdaService, backend: FakeBackend) -> None:
        latest = service.functions["f"]
        service.publish_version("f")
        with pytest.raises(InvalidParameterValueException, match="SnapStart enabled"):
            service.provisioned.put(latest, latest.arn, "1", 1)
        assert latest.provisioned == {}

    run({"f": FakeFunction()}, body, {"f": {"runtime": "python3.12", "snap_start": True}})
