"""The layering rule (faces -> service -> environments -> runtime_api) and the exported names."""

from __future__ import annotations

import ast
from pathlib import Path

import lambda_sandbox.exceptions

PACKAGE = Path(__file__).parents[2] / "lambda_sandbox"
LAYERS = ["faces", "service", "environments", "runtime_api"]  # top to bottom
LEAVES = {"types", "exceptions", "limits"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lambda_sandbox"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("lambda_sandbox"))
    return found


def test_layers_only_import_downward() -> None:
    for index, layer in enumerate(LAYERS):
        above = set(LAYERS[:index])
        for path in (PACKAGE / layer).glob("*.py"):
            for module in imports_of(path):
                parts = module.split(".")
                if len(parts) > 1:
                    assert parts[1] not in above, f"{path.name} ({layer}) imports {module}"


def test_leaf_modules_import_nothing_of_the_sandbox() -> None:
    for leaf in ("types", "exceptions"):
        assert imports_of(PACKAGE / f"{leaf}.py") == set()


def test_service_never_imports_a_web_framework() -> None:
    for path in (PACKAGE / "service").glob("*.py"):
        assert "aiohttp" not in path.read_text(), path


def test_exceptions_exports_are_pinned() -> None:
    assert sorted(lambda_sandbox.exceptions.__all__) == sorted(
        [
            "BackendError",
            "BuildError",
            "ConfigError",
            "FunctionErrorType",
            "InvalidParameterValueException",
            "InvalidRequestContentException",
            "LambdaAPIError",
            "RequestEntityTooLargeException",
            "ResourceConflictException",
            "ResourceNotFoundException",
            "SandboxError",
            "ServiceException",
            "ThrottleReason",
            "TooManyRequestsException",
        ]
    )
