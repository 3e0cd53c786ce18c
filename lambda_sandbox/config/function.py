"""A function's definition and the rules its values must satisfy.

Property names are Lambda's CreateFunction / AWS SAM names, so one definition maps 1:1 to AWS.
The properties a resource may have are SAM's own schema (aws-sam-translator's SamFunction and
LambdaFunction): nothing SAM accepts is refused. What the sandbox cannot emulate (IAM policies,
tracing, VPCs, deployment preferences, ...) is accepted and listed in `not_emulated`, so the
start-up can say so once. `build_config` makes a `FunctionConfig` from a mapping of properties
(a function.yaml, a template resource); `validate_update` checks the properties
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

from samtranslator.model.lambda_ import LambdaFunction
from samtranslator.model.sam_resources import SamFunction

from lambda_sandbox.config.layers import LayerRef
from lambda_sandbox.exceptions import ConfigError
from lambda_sandbox.limits import Limits, load_limits

__all__ = [
    "EMULATED",
    "RUNTIMES",
    "SERVABLE_RUNTIMES",
    "SNAPSTART_PROVISIONED",
    "FunctionConfig",
    "build_config",
    "config_error",
    "environment_size",
    "snapstart_conflict",
    "snapstart_runtime",
    "validate_update",
]

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
# Lambda's runtime identifiers (API_CreateFunction, Runtime); the sandbox serves Python and
# the OS-only runtimes (a bootstrap of the function's own), and refuses none of the others
RUNTIMES = (
    *(f"python3.{v}" for v in range(8, 15)),
    "provided",
    "provided.al2",
    "provided.al2023",
    *(f"nodejs{v}.x" for v in (16, 18, 20, 22, 24)),
    "java8",
    "java8.al2",
    "java11",
    "java17",
    "java21",
    "java25",
    "dotnet6",
    "dotnet8",
    "dotnet10",
    "ruby3.2",
    "ruby3.3",
    "ruby3.4",
    "go1.x",
)
SERVABLE_RUNTIMES = tuple(r for r in RUNTIMES if r.startswith(("python3.", "provided")))


def snapstart_runtime(runtime: str) -> bool:
    """The Python runtimes Lambda offers SnapStart on: python3.12 and later (snapstart.html)."""
    minor = runtime.removeprefix("python3.")
    return runtime.startswith("python3.") and minor.isdigit() and int(minor) >= 12


def snapstart_conflict(runtime: str, ephemeral_mb: int, provisioned: bool = False) -> str | None:
    """Why Lambda refuses SnapStart on this function, or None. Lambda's SnapStart page
    (snapstart.html, "Supported features and limitations"): python3.12 and later, no
    provisioned concurrency, ephemeral storage at most 512 MB. The runtime text is
    LocalStack's parity message; no AWS recording of the three refusals exists, so the other
    two say what the page says and what to change."""
    if not snapstart_runtime(runtime):
        return f"{runtime} is not supported for SnapStart enabled functions."
    if ephemeral_mb > SNAPSTART_MAX_EPHEMERAL_MB:
        return (
            f"SnapStart is not supported for functions with more than "
            f"{SNAPSTART_MAX_EPHEMERAL_MB} MB of ephemeral storage (this one has "
            f"{ephemeral_mb} MB): set EphemeralStorage.Size to {SNAPSTART_MAX_EPHEMERAL_MB} or "
            "less, or SnapStart ApplyOn to None."
        )
    if provisioned:
        return SNAPSTART_PROVISIONED
    return None


SNAPSTART_MAX_EPHEMERAL_MB = 512
SNAPSTART_PROVISIONED = (
    "Provisioned concurrency is not supported for function versions with SnapStart enabled: "
    "remove the provisioned concurrency configuration, or publish a version with SnapStart "
    "ApplyOn set to None."
)

_ARCHS = ("x86_64", "arm64")

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
LAMBDA_FUNCTION = "AWS::Lambda::Function"
FUNCTION_YAML = "function.yaml"
# the sandbox's own keys (AWS ignores them): model artifacts, fit variants, build variables
SANDBOX_EXTENSIONS = frozenset({"Models", "Fit", "BuildEnvironment", "InvokeMode", "Metadata"})
PROPERTIES = {
    SERVERLESS_FUNCTION: frozenset(SamFunction.property_types),
    LAMBDA_FUNCTION: frozenset(LambdaFunction.property_types),
    FUNCTION_YAML: frozenset(SamFunction.property_types) | SANDBOX_EXTENSIONS,
}
# what the sandbox really does something with; every other property is accepted, listed as
# not emulated
EMULATED = frozenset(
    {
        "FunctionName",
        "Handler",
        "Runtime",
        "AutoPublishAlias",
        "CodeUri",
        "Code",
        "InlineCode",
        "ImageUri",
        "PackageType",
        "ImageConfig",
        "Description",
        "MemorySize",
        "Timeout",
        "Environment",
        "ReservedConcurrentExecutions",
        "Layers",
        "EphemeralStorage",
        "FunctionUrlConfig",
        "Events",
        "Architectures",
        "EventInvokeConfig",  # SAM's: retries, maximum age, destinations
        "ProvisionedConcurrencyConfig",  # on the AutoPublishAlias
        "DeadLetterQueue",  # SAM's
        "DeadLetterConfig",  # Lambda's
        "SnapStart",  # on the process backend (service/snapstart.py)
    }
)
# the SAM event types the sandbox serves (API Gateway routes); the others are listed
EMULATED_EVENTS = frozenset({"Api", "HttpApi"})


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
    package_type: str = "Zip"  # or "Image"
    inline_code: str | None = None  # InlineCode / Code.ZipFile: the handler's file, index.py
    image_uri: str | None = None
    image_config: dict[str, Any] = field(default_factory=dict)  # Command, EntryPoint, ...
    metadata: dict[str, Any] = field(default_factory=dict)  # Dockerfile, DockerContext, ...
    layers: tuple[LayerRef, ...] = ()
    not_emulated: tuple[str, ...] = ()  # properties accepted, not emulated
    tags: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def folder(self) -> Path:
        return self.source.parent

    @property
    def is_image(self) -> bool:
        return self.package_type == "Image"

    @property
    def python_version(self) -> str | None:
        """'3.12' for python3.12; None for a runtime that is not Python."""
        return self.runtime.removeprefix("python") if self.runtime.startswith("python") else None

    @property
    def dead_letter_arn(self) -> str | None:
        """The queue or topic failed events go to (DeadLetterConfig, SAM's DeadLetterQueue)."""
        for key in ("DeadLetterConfig", "DeadLetterQueue"):
            target = (self.raw.get(key) or {}).get("TargetArn")
            if isinstance(target, str) and target:
                return target
        return None

    @property
    def event_invoke_config(self) -> dict[str, Any] | None:
        """SAM's EventInvokeConfig, with destinations as Lambda's API takes them."""
        value = self.raw.get("EventInvokeConfig")
        if not isinstance(value, dict):
            return None
        out = {k: value[k] for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds")
               if isinstance(value.get(k), int)}  # fmt: skip
        destinations = {}
        for key, target in (value.get("DestinationConfig") or {}).items():
            arn = (target or {}).get("Destination") if isinstance(target, dict) else None
            if key in ("OnSuccess", "OnFailure") and isinstance(arn, str):
                destinations[key] = {"Destination": arn}
        if destinations:
            out["DestinationConfig"] = destinations
        return out

    def with_updates(self, **changes: Any) -> FunctionConfig:
        return dataclasses.replace(self, **changes)


def config_error(source: Path, key: str, value: object, allowed: str) -> ConfigError:
    return ConfigError(f"{source}: {key}: {value!r} is not valid; allowed: {allowed}")


def _int_in(source: Path, key: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, str) and value.strip().isdigit():  # a template parameter's value
        value = int(value)
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
            source, "MemorySize", props["MemorySize"], lim.q("memory", "min_mb"),
            lim.q("memory", "max_mb"),
        )  # fmt: skip
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
            source, "EphemeralStorage.Size", size, lim.q("ephemeral_storage", "min_mb"),
            lim.q("ephemeral_storage", "max_mb"),
        )  # fmt: skip
    if "Environment" in props:
        env = props["Environment"] or {}
        variables = env.get("Variables", {}) if isinstance(env, dict) else None
        if not isinstance(variables, dict):
            raise config_error(
                source, "Environment.Variables", variables, "a mapping of names to strings"
            )
        env_vars = {str(k): _text(v) for k, v in (variables or {}).items()}
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
            value = _int_in(source, "ReservedConcurrentExecutions", value, 0,
                            lim.q("concurrency", "account_default"))  # fmt: skip
        out["reserved_concurrency"] = value
    if "Runtime" in props:
        if props["Runtime"] not in RUNTIMES:
            raise config_error(source, "Runtime", props["Runtime"], ", ".join(RUNTIMES))
        out["runtime"] = props["Runtime"]
    if "Architectures" in props:
        archs = props["Architectures"]
        if not isinstance(archs, list) or len(archs) != 1 or archs[0] not in _ARCHS:
            raise config_error(source, "Architectures", archs, "[x86_64] or [arm64]")
        out["architectures"] = tuple(archs)
    if "Handler" in props:
        handler = props["Handler"]
        if not isinstance(handler, str) or not handler.strip():
            raise config_error(source, "Handler", handler, "a handler, e.g. app.handler")
        out["handler"] = handler.strip()
    if "Description" in props:
        out["description"] = str(props["Description"] or "")
    if "SnapStart" in props:
        snap = props["SnapStart"]
        out["snap_start"] = isinstance(snap, dict) and snap.get("ApplyOn") == "PublishedVersions"
    return out


def _text(value: Any) -> str:
    """An environment variable's value as Lambda stores it (booleans as true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _not_emulated(props: dict[str, Any]) -> tuple[str, ...]:
    skipped = {key for key in props if key not in EMULATED and key not in SANDBOX_EXTENSIONS}
    for name, event in (props.get("Events") or {}).items():
        kind = event.get("Type") if isinstance(event, dict) else None
        if kind not in EMULATED_EVENTS:
            skipped.add(f"Events.{name} ({kind})")
    if props.get("Architectures") and list(props["Architectures"]) != ["x86_64"]:
        skipped.add("Architectures (runs on this host's)")
    return tuple(sorted(skipped))


def _code(source: Path, props: dict[str, Any], base: Path, default: str) -> tuple[Path, str | None]:
    """(the code folder, the inline code): CodeUri / Code, or InlineCode / Code.ZipFile."""
    code = props.get("Code")
    inline = props.get("InlineCode")
    if isinstance(code, dict) and "ZipFile" in code:
        inline = code["ZipFile"]
    if inline is not None:
        return base, str(inline)
    uri = props.get("CodeUri", code if code is not None else default)
    if isinstance(uri, dict):
        raise config_error(
            source, "CodeUri", uri, "a local folder: code in S3 cannot be had offline"
        )
    folder = (base / str(uri)).resolve()
    if folder.is_file() and folder.suffix == ".zip":
        return folder, None  # a zip package: the bundle is built from what it holds
    if not folder.is_dir():
        raise config_error(source, "CodeUri", uri, "an existing folder or .zip file")
    return folder, None


def build_config(
    name: str,
    source: Path,
    props: dict[str, Any],
    limits: Limits,
    logical_id: str | None = None,
    *,
    resource_type: str = FUNCTION_YAML,
    metadata: dict[str, Any] | None = None,
    layers: tuple[LayerRef, ...] = (),
) -> FunctionConfig:
    """A FunctionConfig from a function's properties (a function.yaml's, or a template
    resource's, Globals merged and intrinsics resolved)."""
    if not _NAME.match(name):
        raise config_error(
            source, "FunctionName", name, "1-64 letters, digits, hyphens, underscores"
        )
    allowed = PROPERTIES[resource_type]
    unknown = set(props) - allowed
    if unknown:
        kind = "a function.yaml" if resource_type == FUNCTION_YAML else resource_type
        raise ConfigError(
            f"{source}: {', '.join(sorted(unknown))}: not a property of {kind} (SAM's "
            f"properties: {', '.join(sorted(allowed - SANDBOX_EXTENSIONS))})"
        )
    most = limits.q("package", "layers")
    if len(layers) > most:
        raise config_error(source, "Layers", [ref.name for ref in layers], f"at most {most} layers")
    package_type = str(props.get("PackageType", "Zip"))
    if package_type not in ("Zip", "Image"):
        raise config_error(source, "PackageType", package_type, "Zip or Image")
    meta = dict(metadata or props.get("Metadata") or {})
    fields = validate_update(source, props, limits)
    if package_type == "Image":
        fields.setdefault("handler", "")  # the image's CMD, unless ImageConfig.Command says
        fields.setdefault("runtime", "python3.12")
        context = meta.get("DockerContext")
        code_dir = (source.parent / str(context)).resolve() if context else source.parent
        inline = None
    else:
        if "handler" not in fields:
            raise config_error(source, "Handler", None, "a handler, e.g. app.handler")
        default = "src" if resource_type == FUNCTION_YAML else "."
        code_dir, inline = _code(source, props, source.parent, default)
    url = props.get("FunctionUrlConfig")
    if url is not None and not isinstance(url, dict):
        raise config_error(
            source, "FunctionUrlConfig", url, "a mapping (AuthType, InvokeMode, Cors)"
        )
    code: dict[str, Any] = props["Code"] if isinstance(props.get("Code"), dict) else {}
    image_config = props.get("ImageConfig") or {}
    if not isinstance(image_config, dict):
        raise config_error(source, "ImageConfig", image_config, "Command, EntryPoint, ...")
    fields.setdefault("memory_mb", limits.q("memory", "default_mb"))
    fields.setdefault("timeout_s", float(limits.q("timeout", "default_s")))
    fields.setdefault("ephemeral_mb", limits.q("ephemeral_storage", "default_mb"))
    if fields.get("snap_start"):
        provisioned = props.get("ProvisionedConcurrencyConfig")
        why = snapstart_conflict(
            str(fields.get("runtime", FunctionConfig.runtime)), fields["ephemeral_mb"],
            provisioned=isinstance(provisioned, dict) and bool(provisioned),
        )  # fmt: skip
        if why is not None:
            raise ConfigError(f"{source}: SnapStart: {why}")
    tags = props.get("Tags") or {}
    return FunctionConfig(
        name=name,
        code_dir=code_dir,
        source=source,
        function_url=url,
        events=dict(props.get("Events") or {}),
        models=props.get("Models"),
        raw=dict(props),
        logical_id=logical_id,
        package_type=package_type,
        inline_code=inline,
        image_uri=props.get("ImageUri") or code.get("ImageUri"),
        image_config=dict(image_config),
        metadata=meta,
        layers=layers,
        not_emulated=_not_emulated(props),
        tags={str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {},
        **fields,
    )
