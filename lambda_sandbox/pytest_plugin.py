"""pytest fixtures: test your functions through boto3, as on AWS, in three lines.

    def test_hello(lambda_client):
        resp = lambda_client.invoke(FunctionName="hello", Payload=b'{"name": "x"}')
        assert json.load(resp["Payload"])["hello"] == "x"

`sandbox` (session scope) serves the functions under the `sandbox_functions` ini option
(default `functions/`) on a free port with the embedded AWS side, on the backend $SANDBOX_BACKEND
names (process by default, or docker); `lambda_client` is a boto3 Lambda client pointed at it
(no retries, so throttles and errors show as they are), or at $SANDBOX_URL when that names a
sandbox already running (`sandbox up`, or `docker compose up`: `SANDBOX_URL=http://127.0.0.1:9000
pytest -m integration`).
Heavy imports happen inside the fixtures: loading the plugin costs nothing.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

__all__ = ["import_handler", "lambda_client", "make_lambda_client", "register_package", "sandbox"]

if TYPE_CHECKING:
    from lambda_sandbox.runner import SandboxThread


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "sandbox_functions", "folder of functions the `sandbox` fixture serves", default="functions"
    )
    parser.addini(
        "sandbox_template",
        "an AWS SAM template the `sandbox` fixture serves (default: template.yaml in the "
        "rootdir, when there is one and sandbox_functions is not set)",
        default="",
    )


def register_package(src_dir: Path, name: str) -> ModuleType:
    """Import the package src_dir/name as `name` without putting src_dir (and its generic
    app.py) on sys.path, so handlers' helper packages import in-process as on Lambda."""
    if name in sys.modules:
        return sys.modules[name]
    package = src_dir / name
    spec = importlib.util.spec_from_file_location(
        name, package / "__init__.py", submodule_search_locations=[str(package)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def import_handler(
    path: Path, module_name: str, env: Mapping[str, str | None] | None = None
) -> ModuleType:
    """Import a handler file as a fresh module under `env` (None unsets a variable), as INIT
    does: module-level code reads the environment at import. The environment is restored."""
    overrides = dict(env or {})
    saved = {key: os.environ.get(key) for key in overrides}
    for key, value in overrides.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "integration: goes through the sandbox's AWS APIs (`pytest -m integration`)"
    )


def _progress(config: pytest.Config) -> Any:
    """The first build (requirements, models) takes a while: say what it does, on the
    terminal, at most a line every two seconds."""
    import time

    reporter = config.pluginmanager.get_plugin("terminalreporter")
    last = [0.0]

    def say(message: str) -> None:
        now = time.monotonic()
        if reporter is not None and now - last[0] >= 2.0:
            last[0] = now
            reporter.write_line(f"[lambda-sandbox] {message}")

    return say


@pytest.fixture(scope="session")
def sandbox(pytestconfig: pytest.Config) -> Iterator[SandboxThread]:
    from lambda_sandbox.runner import SandboxOptions, SandboxThread

    root = Path(pytestconfig.rootpath)
    template = pytestconfig.getini("sandbox_template")
    folder = pytestconfig.getini("sandbox_functions")
    template_path = root / template if template else None
    if (
        template_path is None
        and not (root / folder).is_dir()
        and (root / "template.yaml").is_file()
    ):
        template_path = root / "template.yaml"
    backend = os.environ.get("SANDBOX_BACKEND") or "process"
    options = SandboxOptions(
        functions_dir=root / folder,
        template=template_path,
        project_dir=root,
        port=0,
        backend=backend,
    )
    thread = SandboxThread(options).start(_progress(pytestconfig))
    try:
        yield thread
    finally:
        thread.stop()


def make_lambda_client(url: str, *, validate: bool = True) -> Any:
    """boto3's Lambda client for the sandbox at `url` (lambda_sandbox.client.lambda_client)."""
    from lambda_sandbox.client import lambda_client as client_for

    return client_for(url, validate=validate)


@pytest.fixture(scope="session")
def lambda_client(request: pytest.FixtureRequest) -> Any:
    url = os.environ.get("SANDBOX_URL")
    if not url:
        url = request.getfixturevalue("sandbox").url
    return make_lambda_client(url)
