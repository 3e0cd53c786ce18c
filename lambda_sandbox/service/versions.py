"""Versions and aliases, as Lambda has them.

PublishVersion takes a snapshot of $LATEST's code and configuration as the next number; nothing
of it changes afterwards, and publishing an unchanged $LATEST returns the version published
last. An alias names a version and may send a share of the invokes to one more version
(`RoutingConfig.AdditionalVersionWeights`); it cannot point at $LATEST when it routes. Each
rule raises the error AWS answers with (messages from LocalStack's snapshot tests, recorded
against AWS: test_version_lifecycle, test_publish_with_wrong_*, test_alias_lifecycle,
test_notfound_and_invalid_routingconfigs, test_alias_naming).
"""

from __future__ import annotations

import random
import re
import time
from typing import Any

from lambda_sandbox.exceptions import (
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
    ValidationException,
)
from lambda_sandbox.service.function_state import LATEST, Alias, FunctionState, new_revision

__all__ = [
    "ALIAS_PATTERN",
    "check_revision",
    "create_alias",
    "delete_alias",
    "get_alias",
    "pick_version",
    "publish_version",
    "update_alias",
]

ALIAS_PATTERN = r"(?!^[0-9]+$)([a-zA-Z0-9-_]+)"
PATTERN_CONSTRAINT = "Member must satisfy regular expression pattern: "
_WEIGHTS_AT = "routingConfig.additionalVersionWeights"
_WEIGHT_RANGE = (
    "Map value must satisfy constraint: [Member must have value less than or equal to 1.0, "
    "Member must have value greater than or equal to 0.0, Member must not be null]"
)
_WEIGHT_KEYS = (
    "Map keys must satisfy constraint: [Member must have length less than or equal to 1024, "
    "Member must have length greater than or equal to 1, Member must satisfy regular "
    "expression pattern: [0-9]+]"
)


def check_revision(current: str, given: str | None) -> None:
    if given is not None and given != current:
        raise PreconditionFailedException(
            "The Revision Id provided does not match the latest Revision Id. Call the "
            "GetFunction/GetAlias API to retrieve the latest Revision Id"
        )


def _same_as(version: FunctionState, latest: FunctionState) -> bool:
    """Is $LATEST what `version` was published from (code and configuration)?"""
    return version.code_sha256 == latest.code_sha256 and version.published_from == latest.config


def publish_version(
    latest: FunctionState,
    description: str | None = None,
    code_sha256: str | None = None,
    revision_id: str | None = None,
) -> FunctionState:
    """PublishVersion: $LATEST's code and configuration as the next version (or the last
    one published, when $LATEST has not changed since)."""
    if code_sha256 is not None and code_sha256 != latest.code_sha256:
        raise InvalidParameterValueException(
            f"CodeSHA256 ({code_sha256}) is different from current CodeSHA256 in $LATEST "
            f"({latest.code_sha256}). Please try again with the CodeSHA256 in $LATEST."
        )
    check_revision(latest.revision_id, revision_id)
    newest = latest.versions.get(str(latest.last_version))
    if newest is not None and _same_as(newest, latest):
        return newest
    latest.last_version += 1
    number = str(latest.last_version)
    config = latest.config
    if description is not None:
        config = config.with_updates(description=description)
    version = FunctionState(
        config=config,
        bundle_dir=latest.bundle_dir,  # bundles are never changed once built: safe to share
        arn=latest.arn,
        log=latest.log,
        last_modified=time.time(),
        code_size=latest.code_size,
        code_sha256=latest.code_sha256,
        filesystem=latest.filesystem,
        stats=latest.stats,
        slots=latest.slots,
        version=number,
        latest=latest,
        published_from=latest.config,
    )
    latest.versions[number] = version
    latest.revision_id = new_revision()  # $LATEST's revision moves when a version is made
    return version


def _alias_name(name: str) -> None:
    if not re.fullmatch(ALIAS_PATTERN, name):
        raise ValidationException(name, "name", f"{PATTERN_CONSTRAINT}{ALIAS_PATTERN}")


def _version_of(latest: FunctionState, version: str) -> None:
    if version != LATEST and version not in latest.versions:
        raise ResourceNotFoundException(f"Function not found: {latest.arn}:{version}")


def _weights(latest: FunctionState, target: str, routing: Any) -> dict[str, float]:
    if routing is None:
        return {}
    raw = routing.get("AdditionalVersionWeights") if isinstance(routing, dict) else None
    if not raw:
        return {}
    if not isinstance(raw, dict):
        raise InvalidParameterValueException("AdditionalVersionWeights must be a map")
    shown = "{" + ", ".join(f"{k}={float(v)}" for k, v in raw.items()) + "}"
    if not all(re.fullmatch(r"[0-9]+", str(k)) for k in raw):
        raise ValidationException(shown, _WEIGHTS_AT, _WEIGHT_KEYS)
    if len(raw) > 1:
        raise InvalidParameterValueException(
            "Number of items in AdditionalVersionWeights cannot be greater than 1"
        )
    weights = {str(k): float(v) for k, v in raw.items()}
    if any(not 0.0 <= w <= 1.0 for w in weights.values()):
        raise ValidationException(shown, _WEIGHTS_AT, _WEIGHT_RANGE)
    if target == LATEST:
        raise InvalidParameterValueException(
            "$LATEST is not supported for an alias pointing to more than 1 version", typed=False
        )
    for version in weights:
        if version == target:
            raise InvalidParameterValueException(
                f"Invalid function version {version}. Function version {version} is already "
                "included in routing configuration."
            )
        _version_of(latest, version)
    return weights


def create_alias(
    latest: FunctionState, name: str, version: str, description: str = "", routing: Any = None
) -> Alias:
    _alias_name(name)
    _version_of(latest, version)
    weights = _weights(latest, version, routing)
    if name in latest.aliases:
        raise ResourceConflictException(f"Alias already exists: {latest.arn}:{name}")
    alias = Alias(name, version, description, weights)
    latest.aliases[name] = alias
    return alias


def get_alias(latest: FunctionState, name: str) -> Alias:
    alias = latest.aliases.get(name)
    if alias is None:
        raise ResourceNotFoundException(f"Cannot find alias arn: {latest.arn}:{name}")
    return alias


def update_alias(
    latest: FunctionState,
    name: str,
    version: str | None = None,
    description: str | None = None,
    routing: Any = None,
    revision_id: str | None = None,
) -> Alias:
    alias = get_alias(latest, name)
    check_revision(alias.revision_id, revision_id)
    target = version if version is not None else alias.function_version
    _version_of(latest, target)
    if routing is not None:
        alias.weights = _weights(latest, target, routing)
    elif version is not None and version in alias.weights:
        alias.weights = _weights(latest, target, {"AdditionalVersionWeights": alias.weights})
    alias.function_version = target
    if description is not None:
        alias.description = description
    alias.revision_id = new_revision()
    return alias


def delete_alias(latest: FunctionState, name: str) -> None:
    latest.aliases.pop(name, None)  # Lambda answers 204 for an alias that is not there
    latest.event_configs.pop(name, None)


def pick_version(latest: FunctionState, alias: Alias) -> FunctionState:
    """The version an invoke through `alias` runs: the additional version with its weight."""
    chosen = alias.function_version
    for version, weight in alias.weights.items():
        if random.random() < weight:
            chosen = version
    return latest if chosen == LATEST else latest.versions[chosen]
