"""The package's shape, as DESIGN.md section 3 draws it, checked from the source.

- layers: faces -> service -> environments -> runtime_api, imports only pointing down;
- leaves (types, exceptions, paths, log_lines, limits, cost, config, docker_engine) import only
  leaves, and
  exceptions, paths and log_lines nothing of the package at all (types: only the error types);
- build/ imports only leaves (and itself); tools/ and reports/ never import a layer;
- no import cycle between modules (every import counts: top level, in functions, and under
  TYPE_CHECKING);
- the exported names of the leaves' messages and errors and of the faces are pinned;
- no module over 600 lines; the service never imports a web framework.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import lambda_sandbox.exceptions
import lambda_sandbox.types

ROOT = Path(__file__).parents[2]
PACKAGE = ROOT / "lambda_sandbox"
LAYERS = ["faces", "service", "environments", "runtime_api"]  # top to bottom
PURE_LEAVES = {"exceptions", "paths", "log_lines", "sessions"}
LEAVES = PURE_LEAVES | {"types", "limits", "cost", "config", "docker_engine", "extras"}
MAX_LINES = 600


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(path: Path) -> set[str]:
    """The package's modules `path` imports: `from a.b import c` is a.b.c when that is a
    module, else a.b."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not node.module.startswith("lambda_sandbox"):
                continue
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("lambda_sandbox"))
    return found


def top(module: str) -> str:
    """The first part below the package: 'service' for lambda_sandbox.service.invoke."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_layers_only_import_downward() -> None:
    for index, layer in enumerate(LAYERS):
        above = set(LAYERS[:index])
        allowed = set(LAYERS[index:]) | LEAVES
        for path in (PACKAGE / layer).rglob("*.py"):
            for module in imports_of(path):
                assert top(module) not in above, f"{path.name} ({layer}) imports {module}"
                assert top(module) in allowed, f"{path.name} ({layer}) imports {module}"


def test_leaves_import_only_leaves() -> None:
    for name, path in MODULES.items():
        if top(name) not in LEAVES:
            continue
        for module in imports_of(path):
            assert top(module) in LEAVES, f"{name} (a leaf) imports {module}"
            if top(name) in PURE_LEAVES:
                raise AssertionError(f"{name} must import nothing of the package: {module}")


def test_types_import_only_the_error_types() -> None:
    assert imports_of(MODULES["lambda_sandbox.types"]) == {"lambda_sandbox.exceptions"}


def test_build_imports_leaves_only() -> None:
    for name, path in MODULES.items():
        if top(name) == "build":
            for module in imports_of(path):
                assert top(module) in LEAVES | {"build"}, f"{name} imports {module}"


def test_tools_and_reports_never_import_a_layer() -> None:
    for name, path in MODULES.items():
        if top(name) in ("tools", "reports"):
            for module in imports_of(path):
                assert top(module) not in LAYERS, f"{name} imports {module}"


def test_no_import_cycles() -> None:
    graph = {name: imports_of(path) & MODULES.keys() for name, path in MODULES.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == [], "\n".join(" -> ".join(c) for c in cycles)


def test_no_module_is_over_600_lines() -> None:
    long = {
        name: n for name, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_service_never_imports_a_web_framework() -> None:
    for path in (PACKAGE / "service").glob("*.py"):
        assert "aiohttp" not in path.read_text(), path


def test_exceptions_exports_are_pinned() -> None:
    assert sorted(lambda_sandbox.exceptions.__all__) == sorted(
        [
            "AccessDeniedException",
            "BackendError",
            "BuildError",
            "ConfigError",
            "FunctionErrorType",
            "InvalidParameterValueException",
            "InvalidRequestContentException",
            "LambdaAPIError",
            "MissingExtraError",
            "PreconditionFailedException",
            "RequestEntityTooLargeException",
            "ResourceConflictException",
            "ResourceNotFoundException",
            "SandboxError",
            "ServiceException",
            "SnapStartException",
            "SnapStartNotReadyException",
            "SnapStartTimeoutException",
            "ThrottleReason",
            "TooManyRequestsException",
            "UnknownOperationException",
            "ValidationException",
        ]
    )


def test_types_exports_are_pinned() -> None:
    assert sorted(lambda_sandbox.types.__all__) == [
        "Enforcement",
        "EnvironmentSpec",
        "Filesystem",
        "InitOutcome",
        "Invocation",
        "InvocationResult",
        "LAMBDA_PATHS",
        "Progress",
        "ProgressFraction",
        "ResponseStream",
    ]


FACES = {
    "lambda_sandbox.faces.app": ["Gateway", "build_app"],
    "lambda_sandbox.faces.lambda_api": [
        "OPERATIONS",
        "function_configuration",
        "json_body",
        "json_response",
        "page_response",
        "paginate",
        "qualified_target",
        "render_error",
        "routes",
    ],
    "lambda_sandbox.faces.lambda_provisioned": ["provisioned_routes"],
    "lambda_sandbox.faces.lambda_event_configs": ["event_config_routes"],
    "lambda_sandbox.faces.lambda_versions": ["alias_configuration", "version_routes"],
    "lambda_sandbox.faces.lambda_functions": ["function_routes"],
    "lambda_sandbox.faces.lambda_urls": ["UrlServer", "url_config_routes"],
    "lambda_sandbox.faces.function_urls": ["PRELUDE_CONTENT_TYPE", "function_url_app"],
    "lambda_sandbox.faces.api_gateway": ["api_gateway_app"],
    "lambda_sandbox.faces.http_events": [
        "HttpAnswer",
        "HttpRequest",
        "MalformedResponse",
        "answer_v1",
        "answer_v2",
        "event_v1",
        "event_v2",
    ],
    "lambda_sandbox.faces.sandbox_api": ["sandbox_routes"],
}


def test_faces_exports_are_pinned() -> None:
    for name, exported in FACES.items():
        module = importlib.import_module(name)
        assert sorted(module.__all__) == sorted(exported), name
        for symbol in module.__all__:
            assert hasattr(module, symbol), f"{name}.{symbol}"


def test_every_module_declares_its_exports() -> None:
    """Implementation modules say what they export (`__all__`); packages' __init__ too."""
    missing = [
        name
        for name, path in MODULES.items()
        if "__all__" not in path.read_text()
        and path.name not in ("__main__.py",)
        and path.read_text().strip()  # empty package markers
        and "streaming" not in name  # function-side runtime, copied into bundles
        and not name.endswith("locustfile")
    ]
    assert missing == []
