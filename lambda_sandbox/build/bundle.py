"""Bundles, as `sam build` makes them: the function's code plus its requirements, one folder.

The bundle is what runs locally, what is measured against Lambda's 250 MB unzipped limit, and
what `promote` zips. Requirements are installed once per (requirements.txt, runtime) and cached;
each build then hard-links them next to a fresh copy of the code.

A requirement that ships only as an sdist is compiled on this machine, and its build scripts may
tune the result to this CPU (llama.cpp's `-march=native`, say): a bundle that runs here then
crashes with SIGILL on Lambda. A function may therefore declare the environment its sdists are
built in (a sandbox extension, ignored by AWS):

    BuildEnvironment:
      Variables: {CMAKE_ARGS: "-DGGML_NATIVE=OFF -DGGML_AVX2=ON"}

Its requirements are then first built into wheels (`pip wheel`) under
~/.cache/lambda-sandbox/wheels/<hash of those variables>/, and installed from there with
--no-index: a slow source build happens once per machine and build environment, and a wheel
built with other flags is never picked up.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from lambda_sandbox.build.code import code_digest, write_code
from lambda_sandbox.build.pip import run_pip
from lambda_sandbox.build.runtimes import interpreter_for, python_tag
from lambda_sandbox.config import FunctionConfig
from lambda_sandbox.exceptions import BuildError, ConfigError
from lambda_sandbox.limits import Limits, load_limits
from lambda_sandbox.paths import COMPLETE, cache_root, cached_dir, streaming_runtime_dir
from lambda_sandbox.types import Progress

__all__ = ["Bundle", "build_bundle", "build_environment", "dir_size", "requirements_of"]


@dataclass(frozen=True)
class Bundle:
    function_name: str
    path: Path
    size_bytes: int
    limit_bytes: int
    layers_bytes: int = 0  # its layers count against the same 250 MB
    kind: str = "unzipped"  # or "image": an image function, against the 10 GB image limit

    @property
    def over_limit(self) -> bool:
        return self.size_bytes + self.layers_bytes > self.limit_bytes

    def describe(self) -> str:
        total = (self.size_bytes + self.layers_bytes) / 2**20  # Lambda's MB are MiB
        limit = self.limit_bytes / 2**20
        layers = f", layers {self.layers_bytes / 2**20:.1f} MB" if self.layers_bytes else ""
        advice = "use an image package" if self.kind == "unzipped" else "make it smaller"
        verdict = f"OVER Lambda's limit: {advice}" if self.over_limit else "fits"
        name = self.function_name
        return f"{name}: {total:.1f} MB of {limit:.0f} MB {self.kind}{layers} ({verdict})"


def dir_size(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            p = os.path.join(root, name)
            if not os.path.islink(p):
                total += os.stat(p).st_size
    return total


def requirements_of(config: FunctionConfig) -> str:
    """The function's requirements.txt without comments and blank lines ('' when none)."""
    req = config.code_dir / "requirements.txt"
    if config.inline_code is not None or not req.is_file():
        return ""
    lines = [ln.strip() for ln in req.read_text().splitlines()]
    return "\n".join(ln for ln in lines if ln and not ln.startswith("#"))


def build_environment(config: FunctionConfig) -> dict[str, str]:
    """The variables the function's sdists are built with (BuildEnvironment.Variables)."""
    declared = config.raw.get("BuildEnvironment")
    if declared is None:
        return {}
    variables = declared.get("Variables") if isinstance(declared, dict) else None
    if not isinstance(variables, dict) or not all(isinstance(k, str) for k in variables):
        raise ConfigError(
            f"{config.source}: BuildEnvironment: {declared!r} is not valid; allowed: "
            "{Variables: {NAME: value, ...}}"
        )
    return {k: str(v) for k, v in variables.items()}


def wheel_dir(build_env: dict[str, str]) -> Path:
    """Where wheels built under `build_env` are kept: one folder per set of variables."""
    text = "\n".join(f"{k}={v}" for k, v in sorted(build_env.items()))
    return cache_root() / "wheels" / hashlib.sha256(text.encode()).hexdigest()[:16]


def _install_deps(
    requirements: str, config: FunctionConfig, cache: Path, progress: Progress
) -> Path:
    build_env = build_environment(config)
    env_text = "".join(f"\n{k}={v}" for k, v in sorted(build_env.items()))
    python = interpreter_for(config.runtime)  # the Python the wheels are chosen for
    seen = f"{config.runtime}\n{python_tag(python)}\n{requirements}{env_text}"
    key = hashlib.sha256(seen.encode()).hexdigest()[:16]
    target = cache / key
    if (target / COMPLETE).exists():
        return target
    reqs = ["-r", str(config.code_dir / "requirements.txt")]
    source: list[str] = []
    if build_env:
        wheels = wheel_dir(build_env)
        wheels.mkdir(parents=True, exist_ok=True)
        (wheels / "BUILD_ENVIRONMENT").write_text(env_text.lstrip() + "\n")
        progress(
            f"{config.name}: building wheels with {' '.join(sorted(build_env))} set, into "
            f"{wheels} (a source build can take minutes; cached afterwards)"
        )
        # --no-cache-dir: pip's own wheel cache is keyed by the sdist alone, so it could hand
        # back a wheel built earlier without these variables (tuned to this CPU)
        links = ["--no-cache-dir", "--wheel-dir", str(wheels), "--find-links", str(wheels)]
        run_pip(
            ["wheel", *links, *reqs],
            target_python=python,  # one folder holds each Python version's wheels
            env={**os.environ, **build_env},
            what=f"{config.name}: pip wheel",
        )
        source = ["--no-index", "--find-links", str(wheels)]
    progress(f"{config.name}: installing requirements (cached afterwards)")

    def install(into: Path) -> None:
        target_args = ["--no-warn-script-location", "--target", str(into)]
        run_pip(
            ["install", *target_args, *source, *reqs],
            target_python=python,  # wheels for the function's Python
            what=f"{config.name}: pip install",
        )

    return cached_dir(target, install)


def _link_tree(src: Path, dst: Path) -> None:
    def link(s: str, d: str) -> None:
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)

    # installed requirements are taken whole: nothing inside a package is pruned
    shutil.copytree(src, dst, copy_function=link, dirs_exist_ok=True, symlinks=True)


_STREAMING_DIR = streaming_runtime_dir()
STREAMING_FILES = ("lambda_stream.py", "lambda-stream-wrapper")
STREAMING_WRAPPER = "lambda-stream-wrapper"


def streams(config: FunctionConfig) -> bool:
    """Does the function stream its response (function URL InvokeMode RESPONSE_STREAM)?"""
    url = config.function_url or {}
    return str(url.get("InvokeMode", "BUFFERED")).upper() == "RESPONSE_STREAM"


def _bundle_digest(config: FunctionConfig, deps_key: str) -> str:
    h = hashlib.sha256(deps_key.encode())
    for name in STREAMING_FILES:
        h.update((_STREAMING_DIR / name).read_bytes())
    h.update(code_digest(config).encode())
    return h.hexdigest()[:16]


def build_bundle(
    config: FunctionConfig,
    build_root: Path,
    progress: Progress | None = None,
    limits: Limits | None = None,
) -> Bundle:
    """The function's bundle in build_root/<function>/<content hash>/. A bundle is never
    changed once built: another sandbox of the same project may be running from it."""
    say = progress or (lambda _msg: None)
    lim = limits or load_limits()
    if config.inline_code is None and not config.code_dir.exists():
        raise BuildError(f"{config.name}: code folder {config.code_dir} not found")
    requirements = requirements_of(config)
    deps = _install_deps(requirements, config, build_root / ".deps", say) if requirements else None
    bundle = build_root / config.name / _bundle_digest(config, deps.name if deps else "")
    limit = lim.q("package", "unzipped_mb") * 1024 * 1024
    if (bundle / ".sandbox-bundle").exists():
        return Bundle(config.name, bundle, dir_size(bundle), limit)
    say(f"{config.name}: assembling bundle")
    staging = bundle.with_name(f".{bundle.name}.{os.getpid()}")
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.parent.mkdir(parents=True, exist_ok=True)
        if deps is not None:
            _link_tree(deps, staging)
            (staging / COMPLETE).unlink(missing_ok=True)
        staging.mkdir(exist_ok=True)
        write_code(config, staging)
        if streams(config):
            for name in STREAMING_FILES:
                shutil.copy2(_STREAMING_DIR / name, staging / name)
        (staging / ".sandbox-bundle").touch()
        os.chmod(staging, 0o755)
        os.chmod(staging.parent, 0o755)
        try:
            staging.rename(bundle)
        except OSError:  # built meanwhile by another sandbox of this project
            shutil.rmtree(staging, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise BuildError(f"{config.name}: cannot assemble the bundle in {bundle}: {exc}") from exc
    return Bundle(config.name, bundle, dir_size(bundle), limit)
