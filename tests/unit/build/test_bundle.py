"""BuildEnvironment: the variables a function's sdists are built with, and the wheel cache
keyed by them (so a wheel built with other flags, say -march=native, is never reused)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from lambda_sandbox.build.bundle import build_bundle, build_environment, wheel_dir
from lambda_sandbox.config import load_function
from lambda_sandbox.exceptions import ConfigError

SETUP_PY = """\
import os
from setuptools import setup

os.makedirs("markpkg", exist_ok=True)
with open("markpkg/__init__.py", "w") as f:
    f.write(f"MARK = {os.environ.get('SANDBOX_TEST_MARK')!r}\\n")
setup(name="markpkg", version="1.0", packages=["markpkg"])
"""


def make_function(root: Path, build_env: str | None, requirements: str = "") -> Path:
    folder = root / "fn"
    (folder / "src").mkdir(parents=True, exist_ok=True)
    (folder / "src" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    (folder / "src" / "requirements.txt").write_text(requirements)
    text = "Handler: app.handler\nRuntime: python3.11\n"
    if build_env is not None:
        text += f"BuildEnvironment: {build_env}\n"
    (folder / "function.yaml").write_text(text)
    return folder


def sdist(directory: Path) -> Path:
    """markpkg-1.0.tar.gz: an sdist whose build writes $SANDBOX_TEST_MARK into the package."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "markpkg-1.0.tar.gz"
    files = {
        "setup.py": SETUP_PY,
        "pyproject.toml": '[build-system]\nrequires = ["setuptools"]\n'
        'build-backend = "setuptools.build_meta"\n',
        "PKG-INFO": "Metadata-Version: 2.1\nName: markpkg\nVersion: 1.0\n",
    }
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"markpkg-1.0/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_build_environment_reads_the_variables(tmp_path: Path) -> None:
    folder = make_function(tmp_path, "{Variables: {CMAKE_ARGS: -DGGML_NATIVE=OFF, JOBS: 2}}")
    assert build_environment(load_function(folder)) == {
        "CMAKE_ARGS": "-DGGML_NATIVE=OFF",
        "JOBS": "2",
    }
    assert build_environment(load_function(make_function(tmp_path / "b", None))) == {}


@pytest.mark.parametrize("bad", ["[CMAKE_ARGS]", "{Variables: [a]}", "{CMAKE_ARGS: x}"])
def test_a_malformed_build_environment_is_a_config_error(tmp_path: Path, bad: str) -> None:
    config = load_function(make_function(tmp_path, bad))
    with pytest.raises(ConfigError, match=r"BuildEnvironment: .* allowed: \{Variables"):
        build_environment(config)


def test_wheels_are_kept_per_set_of_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANDBOX_CACHE_DIR", str(tmp_path))
    native = wheel_dir({"CMAKE_ARGS": "-DGGML_NATIVE=ON"})
    portable = wheel_dir({"CMAKE_ARGS": "-DGGML_NATIVE=OFF"})
    assert native != portable
    assert portable.parent == tmp_path / "wheels"
    assert wheel_dir({"A": "1", "B": "2"}) == wheel_dir({"B": "2", "A": "1"})


@pytest.mark.slow
def test_sdists_are_built_with_the_declared_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pip wheel runs with the variables; the bundle installs that wheel, offline."""
    monkeypatch.setenv("SANDBOX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SANDBOX_TEST_MARK", raising=False)
    links = sdist(tmp_path / "sdists").parent
    requirements = f"--find-links {links}\nmarkpkg==1.0\n"
    bundles = []
    for mark in ("portable", "other"):
        env = f"{{Variables: {{SANDBOX_TEST_MARK: {mark}}}}}"
        config = load_function(make_function(tmp_path / mark, env, requirements))
        bundle = build_bundle(config, tmp_path / "build")
        assert (bundle.path / "markpkg" / "__init__.py").read_text() == f"MARK = {mark!r}\n"
        wheels = wheel_dir(build_environment(config))
        assert [p.name for p in wheels.glob("markpkg-*.whl")] == ["markpkg-1.0-py3-none-any.whl"]
        assert (wheels / "BUILD_ENVIRONMENT").read_text() == f"SANDBOX_TEST_MARK={mark}\n"
        bundles.append(bundle.path)
    assert bundles[0] != bundles[1]  # another build environment: other deps, another bundle
