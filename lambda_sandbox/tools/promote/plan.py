"""The pure half of a promotion: what should exist, what exists, and the difference.

`desired_state` turns a FunctionConfig (plus the package's facts) into a `FunctionState`;
`current_state` parses what Lambda answers (GetFunction, GetFunctionConcurrency,
GetFunctionUrlConfig) into the same shape; `diff` compares them field by field, with Lambda's
property names, grouped by the API call that would change them. Nothing here calls AWS.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.markup import escape

from lambda_sandbox.build.bundle import STREAMING_WRAPPER, streams
from lambda_sandbox.config import FunctionConfig
from lambda_sandbox.config.function import environment_size
from lambda_sandbox.limits import Limits, load_limits
from lambda_sandbox.tools.promote.errors import PromoteError

__all__ = [
    "Change",
    "FunctionState",
    "UrlConfig",
    "current_state",
    "desired_state",
    "diff",
    "function_environment",
    "url_config",
]

TASK_ROOT = "/var/task"  # where Lambda unpacks a zip package (LAMBDA_TASK_ROOT)

# The API call that changes each group of settings.
CODE = "code"  # UpdateFunctionCode
CONFIGURATION = "configuration"  # UpdateFunctionConfiguration
CONCURRENCY = "concurrency"  # PutFunctionConcurrency / DeleteFunctionConcurrency
URL = "url"  # Create/Update/DeleteFunctionUrlConfig
TAGS = "tags"  # TagResource
ALIAS = "alias"  # PublishVersion + Create/UpdateAlias
REPLACE = "replace"  # cannot be changed in place


@dataclass(frozen=True)
class UrlConfig:
    auth_type: str = "AWS_IAM"
    invoke_mode: str = "BUFFERED"
    cors: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class FunctionState:
    """A function's settings, as Lambda has (or should have) them."""

    package_type: str = "Zip"
    runtime: str | None = None
    handler: str | None = None
    role: str | None = None
    memory_mb: int = 128
    timeout_s: int = 3
    ephemeral_mb: int = 512
    environment: Mapping[str, str] = field(default_factory=dict)
    architecture: str = "x86_64"
    snap_start: bool = False
    description: str = ""
    layers: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    code_sha256: str | None = None
    image_uri: str | None = None
    image_command: tuple[str, ...] = ()
    reserved_concurrency: int | None = None
    function_url: UrlConfig | None = None
    alias: str | None = None
    arn: str | None = None


class _Absent:
    def __repr__(self) -> str:
        return "absent"


ABSENT: Any = _Absent()


@dataclass(frozen=True)
class Change:
    field: str
    before: Any  # ABSENT when the function (or the setting) does not exist
    after: Any  # ABSENT when the setting would be removed
    group: str

    @property
    def sign(self) -> str:
        if self.before is ABSENT:
            return "+"
        if self.after is ABSENT:
            return "-"
        return "~"

    def describe(self) -> str:
        if self.sign == "+":
            return f"+ {self.field:<34} {show(self.after)}"
        if self.sign == "-":
            return f"- {self.field:<34} {show(self.before)}"
        return f"~ {self.field:<34} {show(self.before)} -> {show(self.after)}"


def show(value: Any) -> str:
    if value is ABSENT or value is None:
        return "absent"
    if value == "":
        return '""'
    if isinstance(value, Mapping):
        return json.dumps(dict(value), sort_keys=True, separators=(",", ":"))
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


# ------------------------------------------------------------------------------- desired
def url_config(raw: Mapping[str, Any] | None) -> UrlConfig | None:
    """FunctionUrlConfig of function.yaml / SAM (AuthType, InvokeMode, Cors)."""
    if raw is None:
        return None
    cors = raw.get("Cors")
    return UrlConfig(
        auth_type=str(raw.get("AuthType", "AWS_IAM")).upper(),
        invoke_mode=str(raw.get("InvokeMode", "BUFFERED")).upper(),
        cors=dict(cors) if isinstance(cors, Mapping) and cors else None,
    )


def function_environment(
    config: FunctionConfig,
    *,
    model_bucket: str | None = None,
    model_prefix: str | None = None,
    limits: Limits | None = None,
) -> dict[str, str]:
    """Environment.Variables on AWS: function.yaml's own, the model location when promote
    puts the models somewhere else (--model-bucket; MODEL_KEY_PREFIX), and for a function
    that streams (InvokeMode RESPONSE_STREAM) AWS_LAMBDA_EXEC_WRAPPER pointing at the wrapper
    inside the package, which is how its declared streaming works on Lambda. Nothing the
    sandbox adds locally (SANDBOX_VCPUS, endpoints, credentials) is deployed."""
    lim = limits or load_limits()
    env = dict(config.environment)
    if model_bucket:
        env["MODEL_BUCKET"] = model_bucket
    if model_prefix is not None and "MODEL_KEY_PREFIX" not in env:
        env["MODEL_KEY_PREFIX"] = model_prefix
    if streams(config):
        env.setdefault("AWS_LAMBDA_EXEC_WRAPPER", f"{TASK_ROOT}/{STREAMING_WRAPPER}")
    size = environment_size(env)
    cap = lim.q("package", "environment_variables_bytes")
    if size > cap:
        raise PromoteError(
            f"{config.name}: Environment.Variables would be {size} bytes on AWS, over Lambda's "
            f"{cap} bytes: shorten them in {config.source}"
        )
    return env


def desired_state(
    config: FunctionConfig,
    *,
    role: str | None,
    environment: Mapping[str, str],
    architecture: str | None = None,
    code_sha256: str | None = None,
    image_uri: str | None = None,
) -> FunctionState:
    """What the function should look like on AWS; an image package when image_uri is given."""
    raw = config.raw
    tags = raw.get("Tags") or {}
    layers = raw.get("Layers") or []
    alias = raw.get("AutoPublishAlias")
    image = image_uri is not None
    return FunctionState(
        package_type="Image" if image else "Zip",
        runtime=None if image else config.runtime,
        handler=None if image else config.handler,
        role=role,
        memory_mb=config.memory_mb,
        timeout_s=int(config.timeout_s),
        ephemeral_mb=config.ephemeral_mb,
        environment=dict(environment),
        architecture=architecture or config.architectures[0],
        snap_start=config.snap_start,
        description=config.description,
        layers=tuple(str(layer) for layer in layers if isinstance(layer, str)),
        tags={str(k): str(v) for k, v in tags.items()} if isinstance(tags, Mapping) else {},
        code_sha256=None if image else code_sha256,
        image_uri=image_uri,
        image_command=(config.handler,) if image else (),
        reserved_concurrency=config.reserved_concurrency,
        function_url=url_config(config.function_url),
        alias=str(alias) if isinstance(alias, str) and alias else None,
    )


# ------------------------------------------------------------------------------- current
def current_state(
    get_function: Mapping[str, Any],
    *,
    concurrency: Mapping[str, Any] | None = None,
    url: Mapping[str, Any] | None = None,
    alias: str | None = None,
    limits: Limits | None = None,
) -> FunctionState:
    """Parse Lambda's answers: GetFunction, GetFunctionConcurrency, GetFunctionUrlConfig
    (None when the function has no URL) and the name of the alias if it exists."""
    lim = limits or load_limits()
    cfg = get_function.get("Configuration") or {}
    package_type = cfg.get("PackageType", "Zip")
    image_cfg = (cfg.get("ImageConfigResponse") or {}).get("ImageConfig") or {}
    reserved = (get_function.get("Concurrency") or {}).get("ReservedConcurrentExecutions")
    if reserved is None and concurrency:
        reserved = concurrency.get("ReservedConcurrentExecutions")
    return FunctionState(
        package_type=package_type,
        runtime=cfg.get("Runtime"),
        handler=cfg.get("Handler"),
        role=cfg.get("Role"),
        memory_mb=int(cfg.get("MemorySize", lim.q("memory", "default_mb"))),
        timeout_s=int(cfg.get("Timeout", lim.q("timeout", "default_s"))),
        ephemeral_mb=int(
            (cfg.get("EphemeralStorage") or {}).get(
                "Size", lim.q("ephemeral_storage", "default_mb")
            )
        ),
        environment=dict((cfg.get("Environment") or {}).get("Variables") or {}),
        architecture=(cfg.get("Architectures") or ["x86_64"])[0],
        snap_start=(cfg.get("SnapStart") or {}).get("ApplyOn") == "PublishedVersions",
        description=cfg.get("Description") or "",
        layers=tuple(layer["Arn"] for layer in cfg.get("Layers") or []),
        tags=dict(get_function.get("Tags") or {}),
        code_sha256=cfg.get("CodeSha256") if package_type == "Zip" else None,
        image_uri=(get_function.get("Code") or {}).get("ImageUri"),
        image_command=tuple(image_cfg.get("Command") or ()),
        reserved_concurrency=reserved,
        function_url=None
        if url is None
        else UrlConfig(
            auth_type=str(url.get("AuthType", "AWS_IAM")).upper(),
            invoke_mode=str(url.get("InvokeMode") or "BUFFERED").upper(),
            cors=dict(url["Cors"]) if url.get("Cors") else None,
        ),
        alias=alias,
        arn=cfg.get("FunctionArn"),
    )


# ---------------------------------------------------------------------------------- diff
def _fields(state: FunctionState) -> list[tuple[str, Any, str]]:
    """(Lambda property, value, group) for every compared setting; ABSENT = not set."""

    def opt(value: Any) -> Any:
        return ABSENT if value is None or value == () else value

    out: list[tuple[str, Any, str]] = [
        ("PackageType", state.package_type, REPLACE),
        ("Runtime", opt(state.runtime), CONFIGURATION),
        ("Handler", opt(state.handler), CONFIGURATION),
        ("Role", opt(state.role), CONFIGURATION),
        ("MemorySize", state.memory_mb, CONFIGURATION),
        ("Timeout", state.timeout_s, CONFIGURATION),
        ("EphemeralStorage.Size", state.ephemeral_mb, CONFIGURATION),
        ("SnapStart.ApplyOn", "PublishedVersions" if state.snap_start else "None", CONFIGURATION),
        ("Description", state.description, CONFIGURATION),
        ("Layers", opt(state.layers), CONFIGURATION),
        ("ImageConfig.Command", opt(state.image_command), CONFIGURATION),
        ("Architectures", (state.architecture,), CODE),
        ("CodeSha256", opt(state.code_sha256), CODE),
        ("ImageUri", opt(state.image_uri), CODE),
        ("ReservedConcurrentExecutions", opt(state.reserved_concurrency), CONCURRENCY),
    ]
    url = state.function_url
    out += [
        ("FunctionUrlConfig.AuthType", url.auth_type if url else ABSENT, URL),
        ("FunctionUrlConfig.InvokeMode", url.invoke_mode if url else ABSENT, URL),
        ("FunctionUrlConfig.Cors", opt(url.cors) if url else ABSENT, URL),
        ("AutoPublishAlias", opt(state.alias), ALIAS),
    ]
    return out


def diff(desired: FunctionState, current: FunctionState | None) -> tuple[Change, ...]:
    """The changes that turn `current` (None: the function is absent) into `desired`."""
    changes: list[Change] = []
    before = dict((name, value) for name, value, _ in _fields(current)) if current else {}
    for name, after, group in _fields(desired):
        was = before.get(name, ABSENT) if current else ABSENT
        if current is not None and name == "AutoPublishAlias" and after is ABSENT:
            continue  # an alias made earlier is left alone
        if was != after and not (was is ABSENT and after is ABSENT):
            changes.append(Change(name, was, after, group))
    old_env = dict(current.environment) if current else {}
    for key in sorted(set(old_env) | set(desired.environment)):
        was = old_env.get(key, ABSENT)
        after = desired.environment.get(key, ABSENT)
        if was != after:
            changes.append(Change(f"Environment.{key}", was, after, CONFIGURATION))
    old_tags = dict(current.tags) if current else {}
    for key in sorted(desired.tags):  # only our tags: others' tags on the function stay
        if old_tags.get(key, ABSENT) != desired.tags[key]:
            changes.append(
                Change(f"Tags.{key}", old_tags.get(key, ABSENT), desired.tags[key], TAGS)
            )
    return tuple(changes)


def groups(changes: tuple[Change, ...]) -> set[str]:
    return {c.group for c in changes}


def render_changes(changes: tuple[Change, ...], total: int) -> list[tuple[str, str]]:
    """(rich style, text) lines: + green, - red, ~ yellow, and a count of unchanged ones."""
    style = {"+": "green", "-": "red", "~": "yellow"}
    lines = [(style[c.sign], "  " + c.describe()) for c in changes]
    same = total - len({c.field for c in changes})
    if same > 0:
        lines.append(("dim", f"  = {same} settings unchanged"))
    return lines


def compared_count(desired: FunctionState, current: FunctionState | None) -> int:
    """How many settings the diff compares (for the 'unchanged' count)."""
    env_keys = set(desired.environment) | set(current.environment if current else {})
    return len(_fields(desired)) + len(env_keys) + len(desired.tags)


def markup(lines: list[tuple[str, str]]) -> str:
    return "\n".join(
        f"[{style}]{escape(text)}[/]" if style else escape(text) for style, text in lines
    )
