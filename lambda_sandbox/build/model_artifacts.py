"""Model artifacts: built reproducibly per function, cached outside git, uploaded to S3.

A function.yaml may declare (a sandbox extension, ignored by AWS):

    Models:
      Build: build_model.py            # python build_model.py --out DIR writes the artifacts
      Artifacts: [model.int8.onnx, labels.json]

The build runs in a virtualenv made from the function's `build-requirements.txt` (plus
`build-requirements-nodeps.txt`, installed with --no-deps), cached by their hash, so build-only
dependencies such as torch never enter the bundle. Artifacts are cached under
~/.cache/lambda-sandbox/models/<function>/<hash of the function's build inputs>/ and uploaded to
s3://$MODEL_BUCKET/$MODEL_KEY_PREFIX on the AWS side, where the handler fetches them at INIT.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from lambda_sandbox.build.pip import run_pip
from lambda_sandbox.config import FunctionConfig
from lambda_sandbox.exceptions import BuildError, ConfigError
from lambda_sandbox.paths import COMPLETE, cache_root, cached_dir
from lambda_sandbox.types import Progress

__all__ = ["ModelSpec", "ensure_models", "model_spec", "upload_models"]

_SKIP = {"tests", "events", "__pycache__", ".pytest_cache"}


@dataclass(frozen=True)
class ModelSpec:
    function: str
    folder: Path
    build_script: Path
    artifacts: tuple[str, ...]
    bucket: str | None
    prefix: str

    def inputs(self) -> list[Path]:
        """Files the artifacts depend on: the function's folder but tests, events and docs."""
        found = []
        for path in sorted(self.folder.rglob("*")):
            rel = path.relative_to(self.folder)
            if path.is_file() and not (_SKIP & set(rel.parts)) and path.suffix != ".md":
                found.append(path)
        return found

    def digest(self) -> str:
        h = hashlib.sha256()
        for path in self.inputs():
            h.update(str(path.relative_to(self.folder)).encode() + b"\0")
            h.update(path.read_bytes() + b"\0")
        return h.hexdigest()[:16]

    def cache_dir(self) -> Path:
        return cache_root() / "models" / self.function / self.digest()


def model_spec(config: FunctionConfig) -> ModelSpec | None:
    models = config.models
    if not models:
        return None
    if not isinstance(models, dict) or "Build" not in models or "Artifacts" not in models:
        raise ConfigError(f"{config.source}: Models needs Build (a script) and Artifacts (a list)")
    folder = config.folder.resolve()
    script = folder / str(models["Build"])
    if not script.is_file():
        raise ConfigError(f"{config.source}: Models.Build: {script} not found")
    return ModelSpec(
        function=config.name,
        folder=folder,
        build_script=script,
        artifacts=tuple(str(a) for a in models["Artifacts"]),
        bucket=config.environment.get("MODEL_BUCKET"),
        prefix=config.environment.get("MODEL_KEY_PREFIX", f"{config.name}/"),
    )


def _complete(spec: ModelSpec, directory: Path) -> bool:
    return all((directory / name).is_file() for name in spec.artifacts)


def _build_python(spec: ModelSpec, say: Progress) -> str:
    """An interpreter with the build requirements: a cached venv per requirements hash."""
    reqs = spec.folder / "build-requirements.txt"
    nodeps = spec.folder / "build-requirements-nodeps.txt"
    if not reqs.is_file():
        return sys.executable
    h = hashlib.sha256(reqs.read_bytes() + (nodeps.read_bytes() if nodeps.is_file() else b""))
    venv = cache_root() / "build-venvs" / h.hexdigest()[:16]
    if (venv / COMPLETE).exists():
        return str(venv / "bin" / "python")
    say(f"{spec.function}: creating the model build environment (cached afterwards)")
    # a venv is not relocatable (its scripts name its folder): made in place, then marked
    shutil.rmtree(venv, ignore_errors=True)
    proc = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"{spec.function}: python -m venv failed:\n{proc.stderr[-2000:]}")
    python = str(venv / "bin" / "python")
    what = f"{spec.function}: installing the model build requirements"
    run_pip(["install", "-r", str(reqs)], python=python, what=what)
    if nodeps.is_file():
        run_pip(["install", "--no-deps", "-r", str(nodeps)], python=python, what=what)
    (venv / COMPLETE).touch()
    return python


def ensure_models(config: FunctionConfig, progress: Progress | None = None) -> Path | None:
    """The function's built artifacts (building them once per change of its build inputs)."""
    say = progress or (lambda _m: None)
    spec = model_spec(config)
    if spec is None:
        return None
    target = spec.cache_dir()
    if _complete(spec, target):
        return target
    python = _build_python(spec, say)
    say(f"{spec.function}: building model artifacts with {spec.build_script.name}")

    def build(staging: Path) -> None:
        proc = subprocess.run(
            [python, str(spec.build_script), "--out", str(staging)],
            cwd=spec.folder,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise BuildError(f"{spec.function}: model build failed:\n{proc.stderr[-3000:]}")
        if not _complete(spec, staging):
            missing = [a for a in spec.artifacts if not (staging / a).is_file()]
            raise BuildError(f"{spec.function}: the build did not write {missing}")

    return cached_dir(target, build)


def upload_models(
    config: FunctionConfig, directory: Path, endpoint_url: str | None, progress: Progress | None
) -> list[str]:
    """Put the artifacts in s3://MODEL_BUCKET/MODEL_KEY_PREFIX; returns the keys written."""
    import boto3

    spec = model_spec(config)
    if spec is None:
        return []
    if not spec.bucket:
        raise ConfigError(f"{config.source}: Models need Environment.Variables.MODEL_BUCKET")
    say = progress or (lambda _m: None)
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if spec.bucket not in existing:
        s3.create_bucket(Bucket=spec.bucket)
    keys = []
    for name in spec.artifacts:
        key = f"{spec.prefix}{name}"
        say(f"{config.name}: uploading {name} to s3://{spec.bucket}/{key}")
        s3.upload_file(str(directory / name), spec.bucket, key)
        keys.append(key)
    return keys
