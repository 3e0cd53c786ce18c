"""SnapStart's rules that need no environment: where Lambda offers it, and the uniqueness
warnings (AWS's "Handling uniqueness with Lambda SnapStart")."""

from __future__ import annotations

from lambda_sandbox.service.snapstart import supported_runtime, uniqueness_warnings


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
