"""Function definitions: `functions/<name>/function.yaml` or a SAM `template.yaml`.

Property names are Lambda's CreateFunction / AWS SAM names, so one file maps 1:1 to AWS.
Validation errors name the file, the key, the bad value and the allowed range.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sandbox.exceptions import ConfigError
from sandbox.limits import Limits, load_limits

__all__ = [
    "FunctionConfig",
    "discover_functions",
    "load_function",
    "load_sam_template",
    "validate_update",
]

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_RUNTIMES = ("python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14")
_ARCHS = ("x86_64", "arm64")
_KNOWN_KEYS = {
    "Handler",
    "Runtime",
    "CodeUri",
    "MemorySize",
    "Timeout",
    "EphemeralStorage",
    "Environment",
    "ReservedConcurrentExecutions",
    "Architectures",
    "FunctionUrlConfig",
    "SnapStart",
    "Description",
    "Events",
    "Models",
    "Layers",
    "Role",
    "PackageType",
    "AutoPublishAlias",
    "ProvisionedConcurrencyConfig",
    "Tags",
    "InvokeMode",
    "BuildEnvironment",
    "Fit",
}


@dataclass(frozen=True)
class FunctionConfig:
    name: str
    handler: str
    code_dir: Path
    source: Path  # the file the definition came from
    runtime: str = "python3.11"
    memory_mb: int = 128
    timeout_s: float = 3.0
    ephemeral_mb: int = 512
    environment: dict[str, str] = field(default_factory=dict)
    reserved_concurrency: int | None = None
    architectures: tuple[str, ...] = ("x86_64",)
    function_url: dict[str, Any] | None = None
    snap_start: bool = False
    description: str = ""
    events: dict[str, Any] = field(default_factory=dict)
    models: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def folder(self) -> Path:
        return self.source.parent

    def with_updates(self, **changes: Any) -> FunctionConfig:
        return dataclasses.replace(self, **changes)


def _err(source: Path, key: str, value: object, allowed: str) -> ConfigError:
    return ConfigError(f"{source}: {key}: {value!r} is not valid; allowed: {allowed}")


def _int_in(source: Path, key: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _err(source, key, value, f"an integer from {lo} to {hi}")
    if not lo <= value <= hi:
        raise _err(source, key, value, f"an integer from {lo} to {hi}")
    return value


def validate_update(
    source: Path, props: dict[str, Any], limits: Limits | None = None
) -> dict[str, Any]:
    """Check Lambda properties and return them as FunctionConfig field values."""
    lim = limits or load_limits()
    out: dict[str, Any] = {}
    if "MemorySize" in props:
        out["memory_mb"] = _int_in(
            source,
            "MemorySize",
            props["MemorySize"],
            lim.q("memory", "min_mb"),
            lim.q("memory", "max_mb"),
        )
    if "Timeout" in props:
        out["timeout_s"] = float(
            _int_in(
                source,
                "Timeout",
                props["Timeout"],
                lim.q("timeout", "min_s"),
                lim.q("timeout", "max_s"),
            )
        )
    if "EphemeralStorage" in props:
        eph = props["EphemeralStorage"]
        size = eph.get("Size") if isinstance(eph, dict) else eph
        out["ephemeral_mb"] = _int_in(
            source,
            "EphemeralStorage.Size",
            size,
            lim.q("ephemeral_storage", "min_mb"),
            lim.q("ephemeral_storage", "max_mb"),
        )
    if "Environment" in props:
        env = props["Environment"] or {}
        variables = env.get("Variables", {}) if isinstance(env, dict) else None
        if not isinstance(variables, dict):
            raise _err(source, "Environment.Variables", variables, "a mapping of names to strings")
        env_vars = {str(k): str(v) for k, v in (variables or {}).items()}
        size = sum(len(k) + len(v) for k, v in env_vars.items())
        cap = lim.q("package", "environment_variables_bytes")
        if size > cap:
            raise _err(source, "Environment.Variables", f"{size} bytes", f"at most {cap} bytes")
        out["environment"] = env_vars
    if "ReservedConcurrentExecutions" in props:
        value = props["ReservedConcurrentExecutions"]
        if value is not None:
            value = _int_in(
                source,
                "ReservedConcurrentExecutions",
                value,
                0,
                lim.q("concurrency", "account_default"),
            )
        out["reserved_concurrency"] = value
    if "Runtime" in props:
        if props["Runtime"] not in _RUNTIMES:
            raise _err(source, "Runtime", props["Runtime"], ", ".join(_RUNTIMES))
        out["runtime"] = props["Runtime"]
    if "Architectures" in props:
        archs = props["Architectures"]
        if not isinstance(archs, list) or len(archs) != 1 or archs[0] not in _ARCHS:
            raise _err(source, "Architectures", archs, "[x86_64] or [arm64]")
        out["architectures"] = tuple(archs)
    if "Handler" in props:
        handler = props["Handler"]
        if not isinstance(handler, str) or "." not in handler:
            raise _err(source, "Handler", handler, "module.function, e.g. app.handler")
        out["handler"] = handler
    return out


def _build(name: str, source: Path, props: dict[str, Any], limits: Limits) -> FunctionConfig:
    if not _NAME.match(name):
        raise _err(source, "FunctionName", name, "1-64 letters, digits, hyphens, underscores")
    unknown = set(props) - _KNOWN_KEYS
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {sorted(unknown)}; known: {sorted(_KNOWN_KEYS)}"
        )
    if "Handler" not in props:
        raise _err(source, "Handler", None, "module.function, e.g. app.handler")
    fields = validate_update(source, props, limits)
    code_dir = (source.parent / str(props.get("CodeUri", "src"))).resolve()
    if not code_dir.is_dir():
        raise _err(source, "CodeUri", props.get("CodeUri", "src"), "an existing folder")
    snap = props.get("SnapStart") or {}
    url = props.get("FunctionUrlConfig")
    if url is not None and not isinstance(url, dict):
        raise _err(source, "FunctionUrlConfig", url, "a mapping (AuthType, InvokeMode, Cors)")
    fields.setdefault("memory_mb", limits.q("memory", "default_mb"))
    fields.setdefault("timeout_s", float(limits.q("timeout", "default_s")))
    fields.setdefault("ephemeral_mb", limits.q("ephemeral_storage", "default_mb"))
    return FunctionConfig(
        name=name,
        code_dir=code_dir,
        source=source,
        function_url=url,
        snap_start=isinstance(snap, dict) and snap.get("ApplyOn") == "PublishedVersions",
        description=str(props.get("Description", "")),
        events=dict(props.get("Events") or {}),
        models=props.get("Models"),
        raw=dict(props),
        **fields,
    )


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
    return _build(folder.name, source, props, limits or load_limits())


class _SamLoader(yaml.SafeLoader):
    """A loader that accepts CloudFormation's short intrinsic tags (!Ref, !Sub, ...)."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node)
    else:
        value = loader.construct_mapping(node)  # type: ignore[arg-type]
    return {tag_suffix: value}


_SamLoader.add_multi_constructor("!", _intrinsic)


_PSEUDO = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "000000000000",
    "AWS::StackName": "sandbox",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}


def _resolve(value: Any, params: dict[str, str]) -> Any:
    """Local stand-ins for CloudFormation intrinsics: a Ref is the resource's logical id (or a
    parameter's default), Sub substitutes those, GetAtt is "Resource.Attribute"."""
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key in ("Ref", "!Ref"):
            return params.get(str(arg), str(arg))
        if key in ("Sub", "Fn::Sub"):
            text = arg[0] if isinstance(arg, list) else str(arg)
            return re.sub(r"\$\{([^}]+)\}", lambda m: params.get(m.group(1), m.group(1)), text)
        if key in ("GetAtt", "Fn::GetAtt"):
            return ".".join(arg) if isinstance(arg, list) else str(arg)
    if isinstance(value, dict):
        return {k: _resolve(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, params) for v in value]
    return value


def load_sam_template(path: Path, limits: Limits | None = None) -> list[FunctionConfig]:
    """Read the AWS::Serverless::Function resources of a SAM template (Globals applied)."""
    try:
        doc = yaml.load(path.read_text(), Loader=_SamLoader) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    params = dict(_PSEUDO)
    for name, param in (doc.get("Parameters") or {}).items():
        if isinstance(param, dict) and "Default" in param:
            params[name] = str(param["Default"])
    globals_fn = _resolve((doc.get("Globals") or {}).get("Function") or {}, params)
    configs = []
    for logical_id, res in (doc.get("Resources") or {}).items():
        if not isinstance(res, dict) or res.get("Type") != "AWS::Serverless::Function":
            continue
        props = {**globals_fn, **_resolve(res.get("Properties") or {}, params)}
        if "Environment" in globals_fn and "Environment" in (res.get("Properties") or {}):
            merged = dict((globals_fn["Environment"] or {}).get("Variables") or {})
            merged.update((props["Environment"] or {}).get("Variables") or {})
            props["Environment"] = {"Variables": merged}
        name = props.pop("FunctionName", None)
        name = name if isinstance(name, str) else logical_id
        configs.append(_build(name, path, props, limits or load_limits()))
    return configs


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
