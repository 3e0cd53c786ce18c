"""Fixtures: build the model artifacts once (cached by the hash of the build inputs) and
import the handler module with MODEL_PATH pointing at them."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

FUNCTION_DIR = Path(__file__).resolve().parents[1]
SRC_DIR = FUNCTION_DIR / "src"
EVENTS_DIR = FUNCTION_DIR / "events"


def _register_imagegen() -> None:
    """Make src/imagegen importable without putting src/ (and its generic app.py) on sys.path."""
    if "imagegen" in sys.modules:
        return
    package = SRC_DIR / "imagegen"
    spec = importlib.util.spec_from_file_location(
        "imagegen", package / "__init__.py", submodule_search_locations=[str(package)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["imagegen"] = module
    spec.loader.exec_module(module)


_register_imagegen()
_app_names = itertools.count()


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """Built artifacts, from the sandbox's model cache (built once per change of the inputs)."""
    from sandbox.definitions import load_function
    from sandbox.models import ensure_models

    path = ensure_models(load_function(FUNCTION_DIR))
    assert path is not None
    return path


@pytest.fixture(scope="session")
def metrics(model_dir: Path) -> dict[str, Any]:
    return json.loads((model_dir / "metrics.json").read_text())


def import_app(model_dir: Path, **env: str) -> ModuleType:
    """Import src/app.py as a fresh module (its INIT reads the environment at import)."""
    overrides = {"MODEL_PATH": str(model_dir), **env}
    saved = {key: os.environ.get(key) for key in overrides}
    os.environ.update(overrides)
    try:
        name = f"image_gen_app_{next(_app_names)}"
        spec = importlib.util.spec_from_file_location(name, SRC_DIR / "app.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def load_app(model_dir: Path) -> Callable[..., ModuleType]:
    def load(**env: str) -> ModuleType:
        return import_app(model_dir, **env)

    return load


@pytest.fixture(scope="session")
def app(load_app: Callable[..., ModuleType]) -> ModuleType:
    """The handler module as function.yaml configures it (STORE off, 10 steps)."""
    return load_app(PIPELINE_STEPS="10", STORE="false", OUTPUT_BUCKET="sandbox-images")


@pytest.fixture(scope="session")
def sample_event() -> Callable[[str], dict[str, Any]]:
    def read(name: str) -> dict[str, Any]:
        return json.loads((EVENTS_DIR / name).read_text())

    return read
