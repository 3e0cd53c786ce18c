"""Fixtures: build the model artifacts once (cached by the hash of the build inputs) and
import the handler module with MODEL_PATH pointing at them."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from lambda_sandbox.pytest_plugin import import_handler, register_package

FUNCTION_DIR = Path(__file__).resolve().parents[1]
SRC_DIR = FUNCTION_DIR / "src"
EVENTS_DIR = FUNCTION_DIR / "events"


register_package(SRC_DIR, "imagegen")
_app_names = itertools.count()


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """Built artifacts, from the sandbox's model cache (built once per change of the inputs)."""
    from lambda_sandbox.build.model_artifacts import ensure_models
    from lambda_sandbox.config import load_function

    path = ensure_models(load_function(FUNCTION_DIR))
    assert path is not None
    return path


@pytest.fixture(scope="session")
def metrics(model_dir: Path) -> dict[str, Any]:
    return json.loads((model_dir / "metrics.json").read_text())


def import_app(model_dir: Path, **env: str) -> ModuleType:
    """Import src/app.py as a fresh module (its INIT reads the environment at import)."""
    name = f"image_gen_app_{next(_app_names)}"
    return import_handler(SRC_DIR / "app.py", name, {"MODEL_PATH": str(model_dir), **env})


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
