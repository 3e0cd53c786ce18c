"""Layers, as `sam build` makes them, and the /opt a function sees: its layers merged in order.

- no BuildMethod: the layer's folder (or a mapped ARN's folder or zip) as it is;
- `python3.x`: its requirements.txt installed into python/ beside a copy of its files there
  (what `sam build` puts in a Python layer's artifacts);
- `makefile`: its Makefile's `build-<LogicalId>` target, run in a copy of the folder with
  ARTIFACTS_DIR set to the layer's output, as `sam build` runs it;
- the AWS Lambda Web Adapter's published ARNs: the sandbox's stand-in (build/web_adapter).

Each layer is built once per content (cached under the project's build folder); a function's
/opt is the union of its layers, a later layer's file replacing an earlier one's, as Lambda
extracts them. Hand-written rather than aws-lambda-builders: the sandbox's one pip runner
already installs and caches requirements the way bundles need, and a makefile build is one
`make` call; the library would add its own pip driver and workflow registry for the same two.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

from lambda_sandbox.build.pip import run_pip
from lambda_sandbox.config import FunctionConfig
from lambda_sandbox.config.layers import WEB_ADAPTER, LayerRef
from lambda_sandbox.exceptions import BuildError
from lambda_sandbox.paths import COMPLETE, cached_dir, web_adapter_dir
from lambda_sandbox.types import Progress

__all__ = ["build_layer", "build_opt", "layer_digest"]

_SKIP = frozenset({"__pycache__", ".git", ".aws-sam", ".sandbox", COMPLETE})


def _files(folder: Path) -> list[Path]:
    found = []
    for dirpath, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP)
        found += [Path(dirpath) / n for n in sorted(names) if n not in _SKIP]
    return found


def layer_digest(layer: LayerRef, runtime: str) -> str:
    h = hashlib.sha256(f"{layer.name}\0{layer.build_method}\0{runtime}\0".encode())
    if layer.builtin == WEB_ADAPTER:
        source: Path | None = web_adapter_dir()
    else:
        source = layer.content_dir
    if source is not None and source.is_file():
        h.update(source.read_bytes())
    elif source is not None:
        for path in _files(source):
            h.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def _copy(source: Path, into: Path) -> None:
    target = into.resolve()

    def ignore(folder: str, names: list[str]) -> set[str]:
        # never the output itself, when the build folder is inside the layer's (ContentUri: .)
        inside = {n for n in names if target.is_relative_to(Path(folder, n).resolve())}
        return inside | {n for n in names if n in _SKIP}

    shutil.copytree(source, into, dirs_exist_ok=True, symlinks=True, ignore=ignore)


def _pip_layer(layer: LayerRef, source: Path, into: Path, python: str | None) -> None:
    """`python3.x`: the layer's files and its requirements, under python/."""
    target = into / "python"
    _copy(source, target)
    req = source / "requirements.txt"
    if req.is_file():
        run_pip(
            ["install", "--no-warn-script-location", "--target", str(target), "-r", str(req)],
            target_python=python,
            what=f"layer {layer.name}: pip install",
        )


def _make_layer(layer: LayerRef, source: Path, into: Path) -> None:
    """`makefile`: `make build-<LogicalId>` in a scratch copy, ARTIFACTS_DIR = the output."""
    if not shutil.which("make"):
        raise BuildError(
            f"layer {layer.name}: BuildMethod makefile needs make (apt-get install make)"
        )
    scratch = into.with_name(into.name + ".scratch")
    shutil.rmtree(scratch, ignore_errors=True)
    _copy(source, scratch)
    try:
        proc = subprocess.run(
            ["make", f"build-{layer.name}"],
            cwd=scratch,
            env={**os.environ, "ARTIFACTS_DIR": str(into)},
            capture_output=True,
            text=True,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-2000:]
        raise BuildError(f"layer {layer.name}: make build-{layer.name} failed:\n{tail}")


def build_layer(
    layer: LayerRef, runtime: str, build_root: Path, say: Progress, python: str | None = None
) -> Path:
    """The layer's contents, as they are extracted under /opt (built once per content)."""
    target = build_root / ".layers" / f"{_safe(layer.name)}-{layer_digest(layer, runtime)}"

    def make(into: Path) -> None:
        if layer.builtin == WEB_ADAPTER:
            _copy(web_adapter_dir(), into)
            (into / "__init__.py").unlink(missing_ok=True)
            return
        source = layer.content_dir
        if source is None:
            raise BuildError(f"layer {layer.name}: no local content")
        if source.is_file():
            try:
                with zipfile.ZipFile(source) as package:
                    package.extractall(into)
            except zipfile.BadZipFile as exc:
                raise BuildError(f"layer {layer.name}: {source} is not a zip: {exc}") from exc
            return
        method = (layer.build_method or "").lower()
        say(f"layer {layer.name}: building" + (f" ({method})" if method else ""))
        if method.startswith("python"):
            _pip_layer(layer, source, into, python)
        elif method == "makefile":
            _make_layer(layer, source, into)
        elif method in ("", "none"):
            _copy(source, into)
        else:
            raise BuildError(
                f"layer {layer.name}: BuildMethod {layer.build_method} is not one the sandbox "
                "builds (python3.x, makefile); build it yourself and map its ARN to the folder"
            )

    built = cached_dir(target, make)
    for path in [built, *built.rglob("*")]:  # readable by the function's user
        if path.is_dir() and not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o755)
        elif path.is_file() and not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o444)
    return built


def build_opt(
    config: FunctionConfig, build_root: Path, say: Progress, python: str | None = None
) -> Path | None:
    """The function's /opt: its layers built and merged in order (None without layers)."""
    if not config.layers:
        return None
    built = [build_layer(ref, config.runtime, build_root, say, python) for ref in config.layers]
    key = hashlib.sha256("\n".join(str(b) for b in built).encode()).hexdigest()[:16]

    def merge(into: Path) -> None:
        for folder in built:  # a later layer's file replaces an earlier one's
            for path in _files(folder):
                dest = into / path.relative_to(folder)
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.unlink(missing_ok=True)
                try:
                    os.link(path, dest)
                except OSError:
                    shutil.copy2(path, dest)

    opt = cached_dir(build_root / ".opt" / key, merge)
    (opt / COMPLETE).chmod(0o644)
    return opt


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[-60:]
