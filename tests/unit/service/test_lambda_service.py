"""The Lambda semantics of the service, on the in-memory fake backend (fast, no root)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from lambda_sandbox.config import FunctionConfig
from lambda_sandbox.environments.fake import FakeBackend, FakeFunction
from lambda_sandbox.exceptions import (
    InvalidRequestContentException,
    RequestEntityTooLargeException,
    ResourceNotFoundException,
    TooManyRequestsException,
)
from lambda_sandbox.service.lambda_service import LambdaService


def config(name: str, **kw: Any) -> FunctionConfig:
    fields = {"memory_mb": 128, "timeout_s": 3.0, "ephemeral_mb": 512, **kw}
    return FunctionConfig(
        name=name,
        handler="app.handler",
        code_dir=Path("."),
        source=Path(f"{name}/function.yaml"),
        **fields,
    )


def run(
    functions: dict[str, FakeFunction],
    body: Callable[[LambdaService, FakeBackend], Awaitable[None]],
    configs: dict[str, dict[str, Any]] | None = None,
    **service_kw: Any,
) -> None:
    async def main() -> None:
        backend = FakeBackend(functions)
        service = LambdaService(backend, **service_kw)
        for name in functions:
            service.register(config(name, **(configs or {}).get(name, {})), Path("."))
        try:
            await body(service, backend)
        finally:
            await service.close()

    asyncio.run(main())


async def _sleep_then(event: dict[str, Any]) -> dict[str, Any]:
    await asyncio.sleep(event.get("sleep", 0))
    return event


def test_warm_environment_is_reused_and_reports_init_only_once() -> None:
    async def body(service: LambdaService, backend: FakeBackend) -> None:
        first = await service.invoke("f", b'{"a": 1}')
        second = await service.invoke("f", b'{"a": 2}')
        assert json.loads(second.payload) == {"a": 2}
        assert len(backend.started) == 1
        assert first.report is not None and first.report.init_ms == pytest.approx(50, abs=1)
        assert second.report is not None and second.report.init_ms is None
        assert service.functions["f"].stats.cold_starts == 1

    run({"f": FakeFunction(init_s=0.05)}, body)


def test_concurrent_invokes_get_their_own_environments() -> None:
    async def body(service: LambdaService, backend: FakeBackend) -> None:
        events = [json.dumps({"sleep": 0.1, "i": i}).encode() for i in range(3)]
        outcomes = await asyncio.gather(*(service.invoke("f", e) for e in events))
        assert sorted(json.loads(o.payload)["i"] for o in outcomes) == [0, 1, 2]
        assert len(backend.started) == 3
        assert service.functions["f"].stats.max_concurrency == 3
        await service.invoke("f", b"{}")
        assert len(backend.started) == 3, "idle environments are reused"

    run({"f": FakeFunction(handler=_sleep_then)}, body)


def test_reserved_concurrency_throttles_and_counts() -> None:
    async def body(service: LambdaService, backend: FakeBackend) -> None:
        slow = asyncio.create_task(service.invoke("f", b'{"sleep": 0.2}'))
        await asyncio.sleep(0.05)
        with pytest.raises(TooManyRequestsException) as info:
            await service.invoke("f", b"{}")
        assert info.value.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
        assert info.value.status == 429
        await slow
        assert (await service.invoke("f", b"{}")).status == 200
        assert service.functions["f"].stats.throttles == 1

    run({"f": FakeFunction(handler=_sleep_then)}, body, {"f": {"reserved_concurrency": 1}})


def test_reserved_zero_disables_the_function() -> None:
    async def body(service: LambdaService, backend: FakeBackend) -> None:
        with pytest.raises(TooManyRequestsException):
            await service.invoke("f", b"{}")
        service.put_concurrency("f", None)
        assert (await service.invoke("f", b"{}")).status == 200

    run({"f": FakeFunction()}, body, {"f": {"reserved_concurrency": 0}})


def test_account_limit_throttles_unreserved_functions() -> None:
    async def body(service: LambdaService, backend: FakeBackend) -> None:
        a = asyncio.create_task(service.invoke("a", b'{"sleep": 0.2}'))
        b = asyncio.create_task(service.invoke("b", b'{"sleep": 0.2}'))
        await asyncio.sleep(0.05)
        with pytest.raises(TooManyRequestsException) as info:
            await service.invoke("a", b"{}")
        assert info.value.reason == "ConcurrentInvocationLimitExceeded"
        await asyncio.gather(a, b)
        assert (await service.invoke("a", b"{}")).status == 200

    fns = {"a": FakeFunction(handler=_sleep_then), "b": FakeFunction(handler=_sleep_then)}
    run(fns, body, account_concurrency=2)


def test_timeout_kills_the_environment_and_the_next_invoke_is_cold() -> None:
    async def body(service: LambdaService, backend: FakeBackend) -> None:
        out = await service.invoke("f", b'{"sleep": 5}')
        err = json.loads(out.payload)
        assert out.function_error == "Unhandled"
        assert err["errorType"] == "Sandbox.Timedout"
        assert err["errorMessage"] == (
            f"RequestId: {out.request_id} Error: Task timed out after 1.00 seconds"
        )
        assert out.report is not None and out.report.status == "timeout"
        await asyncio.sleep(0.01)  # killed in the background, right after the answer
        assert not backend.started[0].alive
        again = await service.invoke("f", b"{}")
        assert again.report is not None and again.report.init_ms is not None
        assert len(backend.started) == 2

    run({"f": FakeFunction(handler=_sleep_then)}, body, {"f": {"timeout_s": 1.0}})


def test_a_timeout_is_answered_at_the_deadline_not_when_the_environment_has_died() -> None:
    async def body(service: LambdaService, backend: FakeBackend) -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        out = await service.invoke("f", b'{"sleep": 30}')
        took = loop.time() - t0
        assert json.loads(out.payload)["errorType"] == "Sandbox.Timedout"
        assert took < 1.0 + 0.1, f"answered {took - 1.0:.3f} s after the deadline"
        assert backend.started[0].alive, "still dying (5 s) when the caller got its answer"

    run({"f": FakeFunction(handler=_sleep_then, dying_s=5.0)}, body, {"f": {"timeout_s": 1.0}})


def test_init_over_the_limit_is_retried_inside_the_invoke() -> None:
    async def body(service: LambdaService, backend: FakeBackend) -> None:
        out = await service.invoke("f", b"{}", log_type="Tail")
        assert out.function_error is None
        assert out.report is not None and out.report.init_ms is None
        assert out.report.duration_ms >= 300
        lines = service.functions["f"].log.recent
        assert any("Phase: init\tStatus: timeout" in line for _, line in lines)
        assert len(backend.started) == 2

    run({"f": FakeFunction(init_s=0.3)}, body, init_limit_s=0.1)


def test_init_error_is_reported_in_both_phases() -> None:
    async def body(service: LambdaService, backend: FakeBackend) -> None:
        out = await service.invoke("f", b"{}")
        assert out.function_error == "Unhandled"
        assert json.loads(out.payload)["errorType"] == "Runtime.ImportModuleError"
        text = "\n".join(line for _, line in service.functions["f"].log.recent)
        assert "Phase: init\tStatus: error\tError Type: Runtime.ImportModuleError" in text
        assert "Phase: invoke\tStatus: error\tError Type: Runtime.ImportModuleError" in text

    fn = FakeFunction(init_error=("Runtime.ImportModuleError", "Unable to import module 'x'"))
    run({"f": fn}, body)


def test_handler_exception_is_a_function_error_and_keeps_the_environment() -> None:
    def boom(event: Any) -> Any:
        raise ValueError("bad input")

    async def body(service: LambdaService, backend: FakeBackend) -> None:
        out = await service.invoke("f", b"{}")
        assert out.function_error == "Unhandled"
        assert json.loads(out.payload)["errorType"] == "ValueError"
        await service.invoke("f", b"{}")
        assert len(backend.started) == 1

    run({"f": FakeFunction(handler=boom)}, body)


def test_payload_checks_and_invocation_types() -> None:
    async def body(service: LambdaService, backend: FakeBackend) -> None:
        with pytest.raises(RequestEntityTooLargeException):
            await service.invoke("f", b'"' + b"x" * 6_291_456 + b'"')
        # AWS's text for Event (public issues ASFHyP3/hyp3#2241, aws-solutions-library-samples)
        too_big = "1048578 byte payload is too large for the Event invocation type " + (
            r"\(limit 1048576 bytes\)"
        )
        with pytest.raises(RequestEntityTooLargeException, match=too_big):
            await service.invoke("f", b'"' + b"x" * 1_048_576 + b'"', invocation_type="Event")
        with pytest.raises(InvalidRequestContentException):
            await service.invoke("f", b"not json")
        with pytest.raises(ResourceNotFoundException, match="function:nope"):
            await service.invoke("nope", b"{}")
        assert (await service.invoke("f", b"{}", invocation_type="DryRun")).status == 204
        assert backend.started == []
        queued = await service.invoke("f", b'{"x": 1}', invocation_type="Event")
        assert queued.status == 202
        for _ in range(50):
            if service.functions["f"].stats.invocations:
                break
            await asyncio.sleep(0.01)
        assert service.functions["f"].stats.invocations == 1
        assert json.loads((await service.invoke("f", b"")).payload) == {}

    run({"f": FakeFunction()}, body)


def test_update_configuration_drains_old_environments() -> None:
    async def body(service: LambdaService, backend: FakeBackend) -> None:
        await service.invoke("f", b"{}")
        await service.update_configuration("f", {"MemorySize": 1769})
        assert not backend.started[0].alive, "idle environments of the old config are gone"
        out = await service.invoke("f", b"{}")
        assert out.report is not None and out.report.memory_mb == 1769
        assert backend.started[1].spec.memory_mb == 1769
        assert backend.started[1].spec.vcpus == pytest.approx(1.0)

    run({"f": FakeFunction()}, body, host_cpus=2)


def test_idle_environments_are_reaped_after_the_keep_alive() -> None:
    async def body(service: LambdaService, backend: FakeBackend) -> None:
        await service.invoke("f", b"{}")
        for _ in range(100):
            if not backend.started[0].alive:
                break
            await asyncio.sleep(0.02)
        assert not backend.started[0].alive
        assert service.functions["f"].idle == []

    run({"f": FakeFunction()}, body, keep_alive_s=0.05)


def test_capped_cpu_is_said_in_the_log() -> None:
    async def body(service: LambdaService, backend: FakeBackend) -> None:
        await service.invoke("f", b"{}", log_type="Tail")
        text = "\n".join(line for _, line in service.functions["f"].log.recent)
        assert "CPU capped at 2.00 vCPU (the tier gets 5.79 on Lambda)" in text

    run({"f": FakeFunction()}, body, {"f": {"memory_mb": 10240}}, host_cpus=2)


def test_async_events_are_retried_twice_then_dropped_and_counted() -> None:
    calls: list[int] = []

    def flaky(event: Any) -> Any:
        calls.append(1)
        raise ValueError("always failing")

    async def body(service: LambdaService, backend: FakeBackend) -> None:
        out = await service.invoke("f", b"{}", invocation_type="Event")
        assert out.status == 202
        for _ in range(200):
            if service.functions["f"].stats.async_events_dropped:
                break
            await asyncio.sleep(0.01)
        metrics = service.functions["f"].metrics()
        assert len(calls) == 3, "the first attempt and two retries"
        assert metrics["AsyncEventsReceived"] == 1
        assert metrics["AsyncEventsDropped"] == 1
        assert metrics["Invocations"] == 3 and metrics["Errors"] == 3

    run({"f": FakeFunction(handler=flaky)}, body, async_retry_delays_s=(0.01, 0.02))


def test_an_async_event_to_zero_reserved_concurrency_fails_at_once() -> None:
    # AWS: straight to the on-failure path, condition ZeroReservedConcurrency, no retries
    # (LocalStack's snapshot test_reserved_concurrency); it must not inflate Throttles for hours
    async def body(service: LambdaService, backend: FakeBackend) -> None:
        out = await service.invoke("f", b"{}", invocation_type="Event")
        assert out.status == 202
        await asyncio.sleep(0.05)
        metrics = service.functions["f"].metrics()
        assert metrics["AsyncEventsDropped"] == 1 and metrics["Throttles"] == 0
        assert backend.started == []

    run({"f": FakeFunction()}, body, configs={"f": {"reserved_concurrency": 0}})


def test_metrics_count_a_known_sequence_exactly() -> None:
    def handler(event: Any) -> Any:
        if event.get("fail"):
            raise ValueError("no")
        return event

    async def body(service: LambdaService, backend: FakeBackend) -> None:
        for _ in range(5):
            await service.invoke("f", b"{}")
        for _ in range(2):
            await service.invoke("f", b'{"fail": true}')
        service.put_concurrency("f", 0)
        for _ in range(3):
            with pytest.raises(TooManyRequestsException):
                await service.invoke("f", b"{}")
        m = service.functions["f"].metrics()
        assert (m["Invocations"], m["Errors"], m["Throttles"], m["ColdStarts"]) == (7, 2, 3, 1)
        assert m["Duration"]["count"] == 7 and m["Duration"]["p50"] is not None
        assert m["InitDuration"]["count"] == 1
        assert m["MaxConcurrentExecutions"] == 1

    run({"f": FakeFunction(handler=handler)}, body)


def test_an_event_a_dead_warm_environment_never_took_runs_in_a_new_one() -> None:
    async def body(service: LambdaService, backend: FakeBackend) -> None:
        from lambda_sandbox.types import InvocationResult

        await service.invoke("f", b"{}", log_type="Tail")  # back in the pool at once
        (warm,) = service.functions["f"].idle

        def died(invocation: Any) -> Any:  # alive when taken, gone before the event reached it
            fut = asyncio.get_running_loop().create_future()
            result = InvocationResult.error("Runtime.ExitError", "exited", fatal=True)
            result.undelivered = True
            fut.set_result(result)
            return fut

        warm.submit = died  # type: ignore[method-assign]
        out = await service.invoke("f", b'{"n": 2}', log_type="Tail")
        assert out.function_error is None and json.loads(out.payload) == {"n": 2}
        assert out.report is not None and out.report.init_ms is not None, "a cold start"
        assert len(backend.started) == 2

    run({"f": FakeFunction()}, body)
