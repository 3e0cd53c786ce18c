"""Fixtures: build the model artifacts once (cached by the hash of the build inputs) and
import the handler module with MODEL_PATH pointing at them."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from lambda_sandbox.pytest_plugin import import_handler, register_package

FUNCTION_DIR = Path(__file__).resolve().parents[1]
SRC_DIR = FUNCTION_DIR / "src"
EVENTS_DIR = FUNCTION_DIR / "events"


register_package(SRC_DIR, "imgcls")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: builds or runs the ONNX models (seconds)")


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


def import_app(model_dir: Path, model_file: str, **env: str) -> ModuleType:
    """Import src/app.py as a fresh module (its INIT reads the environment at import)."""
    name = f"image_classifier_app_{model_file.replace('.', '_')}"
    overrides = {"MODEL_PATH": str(model_dir), "MODEL_FILE": model_file, **env}
    return import_handler(SRC_DIR / "app.py", name, overrides)


@pytest.fixture(scope="session")
def load_app(model_dir: Path) -> Iterator[Callable[[str], ModuleType]]:
    cache: dict[str, ModuleType] = {}

    def load(model_file: str = "model.int8.onnx") -> ModuleType:
        if model_file not in cache:
            cache[model_file] = import_app(model_dir, model_file)
        return cache[model_file]

    yield load


@pytest.fixture(scope="session")
def app(load_app: Callable[[str], ModuleType]) -> ModuleType:
    """The handler module as deployed: INT8 model."""
    return load_app("model.int8.onnx")


@pytest.fixture(scope="session")
def photo() -> Callable[[str], bytes]:
    """Bytes of a scikit-image sample photo (read from the installed wheel, not imported)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-image is not installed (its sample photos are the test images)")
    data_dir = Path(next(iter(spec.submodule_search_locations))) / "data"

    def read(name: str) -> bytes:
        return (data_dir / name).read_bytes()

    return read


@pytest.fixture(scope="session")
def sample_event() -> Callable[[str], dict[str, Any]]:
    def read(name: str) -> dict[str, Any]:
        return json.loads((EVENTS_DIR / name).read_text())

    return read
