"""The function registry: which functions exist, by name, ARN and qualifier, and their code's
identity.

`register` adds a function (or replaces its code and configuration, keeping its environments,
counters, versions and aliases: older environments drain as an older generation). `resolve`
turns what a caller names (a name, a partial or full ARN, with or without a qualifier, and a
Qualifier parameter) into the version that runs and the ARN it was invoked as, with the errors
Lambda answers: ValidationException for a malformed name or qualifier, ResourceNotFoundException
for a function, version or alias that does not exist or an ARN of another region,
InvalidParameterValueException when the ARN's qualifier and the Qualifier differ (messages from
LocalStack's snapshot tests, recorded against AWS: test_function_name_and_qualifier_validation,
test_ops_on_nonexisting_version, test_get_function_wrong_region,
test_ops_with_arn_qualifier_mismatch).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

from lambda_sandbox.config import FunctionConfig
from lambda_sandbox.exceptions import (
    InvalidParameterValueException,
    ResourceNotFoundException,
    ValidationException,
)
from lambda_sandbox.service.environment_variables import AwsSide
from lambda_sandbox.service.function_state import (
    LATEST,
    EventInvokeConfig,
    FunctionState,
    UrlConfig,
)
from lambda_sandbox.service.logs import LogStream
from lambda_sandbox.service.versions import PATTERN_CONSTRAINT, pick_version
from lambda_sandbox.types import Filesystem

__all__ = [
    "CREATE_NAME_PATTERN",
    "FUNCTION_NAME_PATTERN",
    "QUALIFIER_PATTERN",
    "FunctionRegistry",
    "parse_name",
]

FUNCTION_NAME_PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
)
# CreateFunction's (botocore's FunctionName shape): no dots, no $LATEST.PUBLISHED
CREATE_NAME_PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?"
)
QUALIFIER_PATTERN = r"\$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9-_$]+"
_REGION, _NAME, _QUALIFIER = 3, 11, 13  # the patterns' groups
CREATE_NAME_MAX = 140  # the whole FunctionName; a plain name: 64
PLAIN_NAME_MAX = 64


def _constraints(value: str, qualifier: str | None, create: bool) -> list[tuple[str, str, str]]:
    """Every constraint the parameters fail, as AWS lists them (LocalStack's snapshot
    test_function_name_and_qualifier_validation, recorded against AWS)."""
    failed: list[tuple[str, str, str]] = []
    if qualifier is not None:
        if len(qualifier) > 128:
            failed.append(
                (qualifier, "qualifier", "Member must have length less than or equal to 128")
            )
        elif not re.fullmatch(QUALIFIER_PATTERN, qualifier):
            failed.append((qualifier, "qualifier", PATTERN_CONSTRAINT + QUALIFIER_PATTERN))
    if create and len(value) > CREATE_NAME_MAX:
        failed.append(
            (
                value,
                "functionName",
                f"Member must have length less than or equal to {CREATE_NAME_MAX}",
            )
        )
    pattern = CREATE_NAME_PATTERN if create else FUNCTION_NAME_PATTERN
    if not re.fullmatch(pattern, value):
        failed.append((value, "functionName", PATTERN_CONSTRAINT + pattern))
    return failed


def parse_name(
    value: str, qualifier: str | None, region: str, *, create: bool = False
) -> tuple[str, str | None]:
    """(the function's name, its qualifier) from a FunctionName and a Qualifier parameter
    (`create`: CreateFunction's, whose own constraints are stricter)."""
    failed = _constraints(value, qualifier, create)
    if failed:
        raise ValidationException.many(failed)
    match = re.fullmatch(CREATE_NAME_PATTERN if create else FUNCTION_NAME_PATTERN, value)
    assert match is not None
    name, derived = match.group(_NAME), match.group(_QUALIFIER)
    if create and value == name and len(name) > PLAIN_NAME_MAX:
        raise InvalidParameterValueException(
            f"1 validation error detected: Value '{value}' at 'functionName' failed to satisfy "
            f"constraint: Member must have length less than or equal to {PLAIN_NAME_MAX}"
        )
    arn_region = (match.group(_REGION) or "").rstrip(":")
    if arn_region and arn_region != region:
        raise ResourceNotFoundException(
            f"Functions from '{arn_region}' are not reachable in this region ('{region}')"
        )
    if qualifier is not None and derived is not None and derived != qualifier:
        raise InvalidParameterValueException(
            "The derived qualifier from the function name does not match the specified qualifier."
        )
    return name, derived if derived is not None else qualifier


class FunctionRegistry:
    def __init__(self, aws: AwsSide, logs_dir: Path | None) -> None:
        self.aws = aws
        self.logs_dir = logs_dir
        self.functions: dict[str, FunctionState] = {}  # name -> $LATEST

    def arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.aws.region}:{self.aws.account_id}:function:{name}"

    def register(
        self, config: FunctionConfig, bundle_dir: Path, filesystem: Filesystem | None = None
    ) -> FunctionState:
        state = FunctionState(
            config=config,
            bundle_dir=bundle_dir,
            arn=self.arn(config.name),
            log=LogStream(config.name, self.logs_dir),
            filesystem=filesystem,
        )
        state.code_size, state.code_sha256 = code_identity(config, bundle_dir)
        old = self.functions.get(config.name)
        if old is not None:
            state.log.close()
            state.log = old.log  # one stream per function, across reloads
            state.generation = old.generation + 1
            state.idle, state.busy, state.slots = old.idle, old.busy, old.slots
            state.stats = old.stats
            state.versions, state.aliases = old.versions, old.aliases
            state.url_configs, state.policies = old.url_configs, old.policies
            state.event_configs = old.event_configs
            state.last_version, state.created_by_api = old.last_version, old.created_by_api
            for version in state.versions.values():
                version.latest = state
        if config.function_url is not None and None not in state.url_configs:
            url = UrlConfig(None)  # FunctionUrlConfig of the template or function.yaml
            url.apply({k: v for k, v in config.function_url.items()
                       if k in ("AuthType", "InvokeMode", "Cors")})  # fmt: skip
            state.url_configs[None] = url
        settings = config.event_invoke_config
        if settings is not None and LATEST not in state.event_configs:
            event_config = EventInvokeConfig(LATEST)  # EventInvokeConfig of the template
            event_config.apply(settings)
            state.event_configs[LATEST] = event_config
        self.functions[config.name] = state
        return state

    def remove(self, name: str) -> FunctionState:
        state = self.get(name)
        del self.functions[state.name]
        return state

    def get(self, name_or_arn: str) -> FunctionState:
        """The function ($LATEST) a name or ARN names, whatever its qualifier."""
        name, _ = parse_name(name_or_arn, None, self.aws.region)
        state = self.functions.get(name)
        if state is None:
            raise ResourceNotFoundException(f"Function not found: {self.arn(name)}")
        return state

    def resolve(
        self, name_or_arn: str, qualifier: str | None = None, *, invoke: bool = False
    ) -> tuple[FunctionState, str]:
        """(the version that runs, the ARN it is invoked as). An unqualified Invoke names
        $LATEST in its not-found message, as Lambda's does."""
        name, qualifier = parse_name(name_or_arn, qualifier, self.aws.region)
        latest = self.functions.get(name)
        arn = self.arn(name)
        if latest is None:
            suffix = f":{qualifier}" if qualifier else (f":{LATEST}" if invoke else "")
            raise ResourceNotFoundException(f"Function not found: {arn}{suffix}")
        if qualifier is None:
            return latest, arn
        if qualifier == LATEST:
            return latest, f"{arn}:{LATEST}"
        if qualifier in latest.versions:
            return latest.versions[qualifier], f"{arn}:{qualifier}"
        alias = latest.aliases.get(qualifier)
        if alias is None:
            raise ResourceNotFoundException(f"Function not found: {arn}:{qualifier}")
        if invoke:  # an invoke goes where the routing weights send it
            return pick_version(latest, alias), f"{arn}:{qualifier}"
        target = alias.function_version
        return (latest if target == LATEST else latest.versions[target]), f"{arn}:{qualifier}"

    def all_states(self) -> Iterator[FunctionState]:
        """Every version of every function: what holds environments."""
        for latest in list(self.functions.values()):
            yield from latest.all_versions()


def code_identity(config: FunctionConfig, bundle_dir: Path) -> tuple[int, str]:
    """CodeSize and CodeSha256: of the uploaded zip, as Lambda reports them, for a function
    whose code is one; else the bundle's size and a digest that changes with its content."""
    code = config.code_dir
    if code.suffix == ".zip" and code.is_file():
        data = code.read_bytes()
        return len(data), base64.b64encode(hashlib.sha256(data).digest()).decode()
    return dir_digest(bundle_dir)


def dir_digest(path: Path) -> tuple[int, str]:
    """Size in bytes and a SHA-256 that changes with the content: a built bundle's folder is
    named after its content's digest; another folder is read by names, sizes and times."""
    size = 0
    digest = hashlib.sha256()
    content_named = (path / ".sandbox-bundle").exists()
    if content_named:
        digest.update(path.name.encode())
    with contextlib.suppress(OSError):
        for f in sorted(path.rglob("*")):
            if f.is_file():
                st = f.stat()
                size += st.st_size
                if not content_named:
                    digest.update(f"{f.relative_to(path)}:{st.st_size}:{st.st_mtime_ns}".encode())
    return size, base64.b64encode(digest.digest()).decode()
