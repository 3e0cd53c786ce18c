"""Event invoke configurations: what Lambda does with a function's asynchronous events (how
many retries, how old an event may grow, where the outcome goes), one per $LATEST, version or
alias.

The rules and their errors are AWS's (LocalStack's snapshot tests
test_lambda_eventinvokeconfig_lifecycle and test_lambda_eventinvokeconfig_exceptions, recorded
against AWS). Put replaces a configuration; Update changes only what it names. The queue that
applies them is async_events.py; the delivery of outcomes is destinations.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from lambda_sandbox.exceptions import (
    InvalidParameterValueException,
    ResourceNotFoundException,
    ValidationException,
)
from lambda_sandbox.service.function_state import LATEST, EventInvokeConfig, FunctionState
from lambda_sandbox.service.versions import PATTERN_CONSTRAINT

__all__ = [
    "DESTINATION_SERVICES",
    "EventInvokeConfig",
    "config_for",
    "delete_config",
    "get_config",
    "list_configs",
    "put_config",
]

NO_FUNCTION = "The function doesn't exist."
DESTINATION_PATTERN = (
    r"$|kafka://([^.]([a-zA-Z0-9\-_.]{0,248}))|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:"
    r"((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1})?:(\d{12})?:(.*)"
)
DESTINATION_SERVICES = ("sqs", "sns", "lambda", "events")
RANGES = {"MaximumRetryAttempts": (0, 2), "MaximumEventAgeInSeconds": (60, 21600)}


def _check_shape(body: dict[str, Any]) -> None:
    """The API's own constraints, checked before the function is looked up."""
    for key, (low, high) in RANGES.items():
        if key in body:
            value = body[key]
            member = key[0].lower() + key[1:]
            if not isinstance(value, int) or value < low:
                raise ValidationException(
                    value, member, f"Member must have value greater than or equal to {low}"
                )
            if value > high:
                raise ValidationException(
                    value, member, f"Member must have value less than or equal to {high}"
                )
    destinations = body.get("DestinationConfig") or {}
    for key in ("OnSuccess", "OnFailure"):
        arn = (destinations.get(key) or {}).get("Destination")
        if arn and not re.fullmatch(DESTINATION_PATTERN, str(arn)):
            member = f"destinationConfig.{key[0].lower() + key[1:]}.destination"
            raise ValidationException(arn, member, PATTERN_CONSTRAINT + DESTINATION_PATTERN)
    if not any(key in body for key in (*RANGES, "DestinationConfig")):
        raise InvalidParameterValueException(
            "You must specify at least one of error handling or destination setting."
        )


def _check_destinations(
    latest: FunctionState, body: dict[str, Any], function_exists: Callable[[str], bool]
) -> None:
    destinations = body.get("DestinationConfig") or {}
    arns = {k: (destinations.get(k) or {}).get("Destination") for k in ("OnSuccess", "OnFailure")}
    for arn in arns.values():
        if not arn:
            continue
        parts = str(arn).split(":")
        service = parts[2] if len(parts) > 2 else ""
        if service not in DESTINATION_SERVICES:
            described = ", ".join(
                f"{k[0].lower() + k[1:]}=" + (f"{k}(destination={a})" if a else "null")
                for k, a in arns.items()
            )
            raise InvalidParameterValueException(
                f"The provided destination config DestinationConfig({described}) is invalid."
            )
        if service == "lambda":
            target = ":".join(parts[:7])
            if target == latest.arn:
                raise InvalidParameterValueException(
                    "You can't specify the function as a destination for itself."
                )
            if not function_exists(parts[6] if len(parts) > 6 else ""):
                raise InvalidParameterValueException(f"The destination ARN {arn} is invalid.")


def _key(qualifier: str | None) -> str:
    """The qualifier a configuration is kept under (an unqualified name: $LATEST)."""
    return qualifier or LATEST


def _exists(latest: FunctionState, qualifier: str) -> bool:
    return qualifier == LATEST or qualifier in latest.versions or qualifier in latest.aliases


def _missing(arn: str, qualifier: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(
        f"The function {arn}:{qualifier} doesn't have an EventInvokeConfig"
    )


def put_config(
    latest: FunctionState | None,
    qualifier: str | None,
    body: dict[str, Any],
    function_exists: Callable[[str], bool],
    *,
    replace: bool,
) -> EventInvokeConfig:
    """PutFunctionEventInvokeConfig (`replace`) or UpdateFunctionEventInvokeConfig."""
    _check_shape(body)
    key = _key(qualifier)
    if latest is None or not _exists(latest, key):
        raise ResourceNotFoundException(NO_FUNCTION)
    _check_destinations(latest, body, function_exists)
    config = latest.event_configs.get(key)
    if config is None:
        if not replace:
            raise _missing(latest.arn, key)
        config = EventInvokeConfig(key)
    elif replace:
        config = EventInvokeConfig(key)
    config.apply(body)
    latest.event_configs[key] = config
    return config


def get_config(latest: FunctionState | None, qualifier: str | None, arn: str) -> EventInvokeConfig:
    """`arn`: the function's unqualified ARN (named in the not-found message)."""
    key = _key(qualifier)
    config = latest.event_configs.get(key) if latest is not None else None
    if config is None:
        raise _missing(arn, key)
    return config


def delete_config(latest: FunctionState | None, qualifier: str | None, arn: str) -> None:
    get_config(latest, qualifier, arn)
    assert latest is not None
    del latest.event_configs[_key(qualifier)]


def list_configs(latest: FunctionState | None) -> list[dict[str, Any]]:
    if latest is None:
        raise ResourceNotFoundException(NO_FUNCTION)
    items = [config.describe(latest.arn) for config in latest.event_configs.values()]
    return sorted(items, key=lambda item: str(item["FunctionArn"]))


def config_for(state: FunctionState, invoked_as: str) -> EventInvokeConfig | None:
    """The configuration an event invoked as `invoked_as` ($LATEST, a version, an alias)
    is handled with."""
    return state.function.event_configs.get(invoked_as)
