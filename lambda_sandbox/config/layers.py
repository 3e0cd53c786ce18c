"""Lambda layers a function uses: local layers of the template, and layers given by ARN.

A local layer is an `AWS::Serverless::LayerVersion` (ContentUri) or `AWS::Lambda::LayerVersion`
(Content as a local folder) resource with an optional `Metadata.BuildMethod` (`python3.x`:
its requirements.txt installed, as `sam build` does; `makefile`: its `build-<LogicalId>`
target run with ARTIFACTS_DIR). A layer given by ARN cannot be had offline: it is mapped to a
local folder or zip (`--layer ARN=PATH`, or `layers.toml` beside the template), or, for the
AWS Lambda Web Adapter's published ARNs, to the sandbox's built-in stand-in.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambda_sandbox.exceptions import ConfigError

__all__ = [
    "LAYER_TYPES",
    "WEB_ADAPTER",
    "LayerRef",
    "is_web_adapter",
    "layer_from_resource",
    "layer_map",
    "resolve_arn",
]

LAYER_TYPES = ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")
WEB_ADAPTER = "builtin:lambda-web-adapter"
# arn:aws:lambda:<region>:753240598075:layer:LambdaAdapterLayerX86:<version> (and Arm64):
# the AWS Lambda Web Adapter's layers, published by its account in every region
_WEB_ADAPTER_ARN = re.compile(
    r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:753240598075:layer:LambdaAdapterLayer(X86|Arm64):\d+$"
)


@dataclass(frozen=True)
class LayerRef:
    """One entry of a function's Layers, in order."""

    name: str  # the logical id of a local layer, or the ARN
    content_dir: Path | None = None  # a local layer's folder (or a mapped ARN's)
    build_method: str | None = None  # python3.x, makefile, or None (copied as it is)
    arn: str | None = None  # set for a layer given by ARN
    builtin: str | None = None  # the sandbox's stand-in for a known published layer
    compatible_runtimes: tuple[str, ...] = ()
    source: Path | None = None  # the file that declares it
    metadata: Mapping[str, Any] = field(default_factory=dict)


def is_web_adapter(arn: str) -> bool:
    return bool(_WEB_ADAPTER_ARN.match(arn))


def layer_from_resource(logical_id: str, resource: dict[str, Any], template: Path) -> LayerRef:
    """A local layer from its (resolved) template resource."""
    props = resource.get("Properties") or {}
    metadata = resource.get("Metadata") or {}
    if resource.get("Type") == "AWS::Serverless::LayerVersion":
        content = props.get("ContentUri")
    else:
        content = props.get("Content")
    if not isinstance(content, str):
        raise ConfigError(
            f"{template}: layer {logical_id}: its content is {content!r}, which cannot be had "
            "offline: point ContentUri (or Content) at a local folder"
        )
    folder = (template.parent / content).resolve()
    if not folder.is_dir():
        raise ConfigError(f"{template}: layer {logical_id}: ContentUri {content} is no folder")
    runtimes = props.get("CompatibleRuntimes") or []
    return LayerRef(
        name=logical_id,
        content_dir=folder,
        build_method=metadata.get("BuildMethod"),
        compatible_runtimes=tuple(str(r) for r in runtimes),
        source=template,
        metadata=dict(metadata),
    )


def layer_map(
    template_or_folder: Path | None, overrides: Mapping[str, str] | None = None
) -> dict[str, Path]:
    """ARN -> local folder or zip: `layers.toml` beside the template ([layers] "ARN" = "path"),
    then `--layer ARN=PATH` options."""
    mapping: dict[str, Path] = {}
    if template_or_folder is not None:
        base = template_or_folder if template_or_folder.is_dir() else template_or_folder.parent
        file = base / "layers.toml"
        if file.is_file():
            try:
                data = tomllib.loads(file.read_text())
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{file}: not valid TOML: {exc}") from exc
            for arn, path in (data.get("layers") or {}).items():
                mapping[str(arn)] = (base / str(path)).resolve()
    for arn, path in (overrides or {}).items():
        mapping[arn] = Path(path).resolve()
    return mapping


def resolve_arn(arn: str, mapping: Mapping[str, Path], source: Path) -> LayerRef:
    """A layer given by ARN, as something local: mapped, or a built-in stand-in, or an error
    that names it and says how to map it."""
    if arn in mapping:
        return LayerRef(name=arn, content_dir=mapping[arn], arn=arn, source=source)
    if is_web_adapter(arn):
        return LayerRef(name=arn, arn=arn, builtin=WEB_ADAPTER, source=source)
    raise ConfigError(
        f"{source}: layer {arn} cannot be downloaded offline: map it to a local folder or zip "
        f"with --layer '{arn}=PATH', or in layers.toml beside the template "
        f'([layers] "{arn}" = "PATH")'
    )
