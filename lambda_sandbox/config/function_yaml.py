"""function.yaml folders: one function per folder, named after it; a folder of them.

A `functions/` folder holds one folder per function with a `function.yaml` (Lambda / SAM
property names), and may hold a SAM `template.yaml` too.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from lambda_sandbox.config.function import FunctionConfig, build_config
from lambda_sandbox.config.layers import LayerRef, layer_map, resolve_arn
from lambda_sandbox.config.sam import load_sam_template
from lambda_sandbox.exceptions import ConfigError
from lambda_sandbox.limits import Limits, load_limits

__all__ = ["discover_functions", "load_function"]


def load_function(folder: Path, limits: Limits | None = None) -> FunctionConfig:
    """Read `folder/function.yaml`; the function's name is the folder's name."""
    source = folder / "function.yaml"
    try:
        props = yaml.safe_load(source.read_text()) or {}
    except FileNotFoundError as exc:
        raise ConfigError(f"{source}: not found") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(props, dict):
        raise ConfigError(f"{source}: expected a mapping of Lambda properties")
    layers = tuple(_layer(entry, source) for entry in props.get("Layers") or [])
    return build_config(folder.name, source, props, limits or load_limits(), layers=layers)


def _layer(entry: object, source: Path) -> LayerRef:
    """A function.yaml's layer: a folder (relative to it), or an ARN (mapped in layers.toml
    beside it, or a built-in stand-in)."""
    text = str(entry)
    if text.startswith("arn:"):
        return resolve_arn(text, layer_map(source.parent), source)
    folder = (source.parent / text).resolve()
    if not folder.is_dir():
        raise ConfigError(f"{source}: Layers: {text} is neither a folder nor a layer ARN")
    return LayerRef(name=folder.name, content_dir=folder, source=source)


def discover_functions(directory: Path, limits: Limits | None = None) -> list[FunctionConfig]:
    """Every function under `directory`: folders with function.yaml, and template.yaml files."""
    if not directory.is_dir():
        raise ConfigError(f"{directory}: no such functions folder")
    found: list[FunctionConfig] = []
    for child in sorted(directory.iterdir()):
        if (child / "function.yaml").is_file():
            found.append(load_function(child, limits))
    template = directory / "template.yaml"
    if template.is_file():
        found.extend(load_sam_template(template, limits))
    names = [f.name for f in found]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ConfigError(f"{directory}: function names defined twice: {sorted(dupes)}")
    return found
