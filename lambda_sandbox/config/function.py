"""A function's definition and the rules its values must satisfy.

Property names are Lambda's CreateFunction / AWS SAM names, so one definition maps 1:1 to AWS.
`FunctionConfig` is what the rest of the sandbox reads; `build_config` makes one from a mapping
of properties (a function.yaml, a template resource); `validate_update` checks the properties
UpdateFunctionConfiguration may change. Errors name the file, the key, the bad value and the
allowed range.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambda_sandbox.exceptions import ConfigError
from lambda_sandbox.limits import Limits, load_limits

__all__ = ["FunctionConfig", "build_config", "config_error", "environment_size", "validate_update"]

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
    logical_id: str | None = None  # the template resource's id (None for a function.yaml)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def folder(self) -> Path:
        return self.source.parent

    def with_updates(self, **changes: Any) -> FunctionConfig:
        return dataclasses.replace(self, **changes)


def config_error(source: Path, key: str, value: object, allowed: str) -> ConfigError:
    return ConfigError(f"{source}: {key}: {value!r} is not valid; allowed: {allowed}")


def _int_in(source: Path, key: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise config_error(source, key, value, f"an integer from {lo} to {hi}")
    if not lo <= value <= hi:
        raise config_error(source, key, value, f"an integer from {lo} to {hi}")
    return value


def environment_size(variables: dict[str, str]) -> int:
    """The size Lambda's 4 KB limit measures: the variables as compact JSON, {"K":"V",...}
    (LocalStack's snapshot test_large_environment_variables_fails, recorded against AWS)."""
    return len(json.dumps(variables, separators=(",", ":"), ensure_ascii=False).encode())


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
            raise config_error(
                source, "Environment.Variables", variables, "a mapping of names to strings"
            )
        env_vars = {str(k): str(v) for k, v in (variables or {}).items()}
        size = environment_size(env_vars)
        cap = lim.q("package", "environment_variables_bytes")
        if size > cap:
            raise config_error(
                source, "Environment.Variables", f"{size} bytes", f"at most {cap} bytes"
            )
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
            raise config_error(source, "Runtime", props["Runtime"], ", ".join(_RUNTIMES))
        out["runtime"] = props["Runtime"]
    if "Architectures" in props:
        archs = props["Architectures"]
        if not isinstance(archs, list) or len(archs) != 1 or archs[0] not in _ARCHS:
            raise config_error(source, "Architectures", archs, "[x86_64] or [arm64]")
        out["architectures"] = tuple(archs)
    if "Handler" in props:
        handler = props["Handler"]
        if not isinstance(handler, str) or "." not in handler:
            raise config_error(source, "Handler", handler, "module.function, e.g. app.handler")
        out["handler"] = handler
    return out


def build_config(
    name: str,
    source: Path,
    props: dict[str, Any],
    limits: Limits,
    logical_id: str | None = None,
) -> FunctionConfig:
    if not _NAME.match(name):
        raise config_error(
            source, "FunctionName", name, "1-64 letters, digits, hyphens, underscores"
        )
    unknown = set(props) - _KNOWN_KEYS
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {sorted(unknown)}; known: {sorted(_KNOWN_KEYS)}"
        )
    if "Handler" not in props:
        raise config_error(source, "Handler", None, "module.function, e.g. app.handler")
    fields = validate_update(source, props, limits)
    code_dir = (source.parent / str(props.get("CodeUri", "src"))).resolve()
    if not code_dir.is_dir():
        raise config_error(source, "CodeUri", props.get("CodeUri", "src"), "an existing folder")
    snap = props.get("SnapStart") or {}
    url = props.get("FunctionUrlConfig")
    if url is not None and not isinstance(url, dict):
        raise config_error(
            source, "FunctionUrlConfig", url, "a mapping (AuthType, InvokeMode, Cors)"
        )
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
        logical_id=logical_id,
        **fields,
    )
