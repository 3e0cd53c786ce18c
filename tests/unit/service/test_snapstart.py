"""SnapStart's rules that need no environment: where Lambda offers it, and the uniqueness
warnings (AWS's "Handling uniqueness with Lambda SnapStart")."""

from __future__ import annotations

import asyncio

import pytest

from lambda_sandbox.environments.fake import FakeBackend, FakeFunction
from lambda_sandbox.exceptions import InvalidParameterValueException
from lambda_sandbox.limits import load_limits
from lambda_sandbox.service.api_validation import check_parameters
from lambda_sandbox.service.lambda_service import LambdaService
from lambda_sandbox.service.snapstart import supported_runtime, uniqueness_warnings
from tests.unit.service.test_lambda_service import run


def test_python_312_and_later_only() -> None:
    """snapstart.html: the Python runtimes SnapStart supports are python3.12 and later."""
    assert supported_runtime("python3.12") and supported_runtime("python3.13")
    assert not supported_runtime("python3.11") and not supported_runtime("python3.9")
    assert not supported_runtime("provided.al2023") and not supported_runtime("nodejs22.x")


def test_the_same_random_state_twice_is_warned_once_per_repeat() -> None:
    seen: dict[str, set[str]] = {}
    first = uniqueness_warnings(seen, {"random": "a", "numpy": "n", "connections": 0}, [])
    assert first == []
    second = uniqueness_warnings(seen, {"random": "a", "numpy": "m", "connections": 0}, [])
    assert len(second) == 1 and "Python's random module" in second[0]
    assert "register_after_restore" in second[0]
    third = uniqueness_warnings(seen, {"random": "b", "numpy": "n", "connections": 0}, [])
    assert len(third) == 1 and "numpy.random" in third[0]


def test_connections_and_tmp_files_from_init_are_warned() -> None:
    notes = uniqueness_warnings({}, {"random": "a", "connections": 2}, ["/tmp/model.bin"])
    assert any("2 network connection(s) opened during INIT" in n for n in notes)
    assert any("/tmp/model.bin" in n for n in notes)
    assert uniqueness_warnings({}, None, ["/tmp/x"]) == []  # no report from the restore


def test_create_function_refuses_what_snapstart_does_not_support() -> None:
    snap = {"SnapStart": {"ApplyOn": "PublishedVersions"}}
    with pytest.raises(InvalidParameterValueException, match=r"python3\.11 is not supported"):
        check_parameters({**snap, "Runtime": "python3.11"}, load_limits())
    with pytest.raises(InvalidParameterValueException, match="512 MB of ephemeral storage"):
        check_parameters(
            {**snap, "Runtime": "python3.12", "EphemeralStorage": {"Size": 513}}, load_limits()
        )
    check_parameters({**snap, "Runtime": "python3.12", "EphemeralStorage": {"Size": 512}},
                     load_limits())  # fmt: skip
    check_parameters({"SnapStart": {"ApplyOn": "None"}, "Runtime": "python3.11"}, load_limits())


def test_update_configuration_checks_snapstart_against_the_whole_function() -> None:
    """Each half alone is fine; SnapStart on a function with 1 GB of /tmp is not."""

    async def body(service: LambdaService, backend: FakeBackend) -> None:
        state = service.functions["f"]
        with pytest.raises(InvalidParameterValueException, match="512 MB of ephemeral"):
            await service.update_configuration("f", {"SnapStart": {"ApplyOn": "PublishedVersions"}})
        assert not state.config.snap_start, "a refused update changes nothing"
        await service.update_configuration("f", {"EphemeralStorage": {"Size": 512}})
        for _ in range(100):
            if state.last_update_status == "Successful":
                break
            await asyncio.sleep(0.01)
        await service.update_configuration("f", {"SnapStart": {"ApplyOn": "PublishedVersions"}})
        assert state.config.snap_start

    run({"f": FakeFunction()}, body, {"f": {"runtime": "python3.12", "ephemeral_mb": 1024}})
