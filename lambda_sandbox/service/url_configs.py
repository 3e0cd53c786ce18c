"""Function URL configurations, as Lambda keeps them: one per function or alias (never per
version or $LATEST), with its auth type, CORS and invoke mode.

The rules and their errors are AWS's (LocalStack's snapshot tests test_url_config_lifecycle,
test_url_config_exceptions and test_url_config_list_paging, recorded against AWS). Serving a
URL (its port) is the faces' part; this module says which exist.
"""

from __future__ import annotations

import re
from typing import Any

from lambda_sandbox.exceptions import (
    InvalidParameterValueException,
    ResourceConflictException,
    ResourceNotFoundException,
    ValidationException,
)
from lambda_sandbox.service.function_state import FunctionState, UrlConfig
from lambda_sandbox.service.versions import PATTERN_CONSTRAINT

__all__ = [
    "NOT_THERE",
    "NO_FUNCTION",
    "check_qualifier",
    "create_url_config",
    "url_config_of",
]

URL_QUALIFIER_PATTERN = r"((?!^\d+$)^[0-9a-zA-Z-_]+$)"
NO_FUNCTION = "Function does not exist"
NOT_THERE = "The resource you requested does not exist."


def check_qualifier(qualifier: str | None) -> None:
    """URL configs are for functions and aliases: a version or $LATEST is refused."""
    if qualifier is not None and not re.fullmatch(URL_QUALIFIER_PATTERN, qualifier):
        raise ValidationException(
            qualifier, "qualifier", PATTERN_CONSTRAINT + URL_QUALIFIER_PATTERN
        )


def _target(latest: FunctionState | None, qualifier: str | None, missing: str) -> FunctionState:
    if latest is None or (qualifier is not None and qualifier not in latest.aliases):
        raise ResourceNotFoundException(missing)
    return latest


def url_config_of(
    latest: FunctionState | None, qualifier: str | None, *, missing_function: str = NOT_THERE
) -> UrlConfig:
    """The URL configuration of a function or alias, or the error AWS answers."""
    check_qualifier(qualifier)
    latest = _target(latest, qualifier, missing_function)
    config = latest.url_configs.get(qualifier)
    if config is None:
        raise ResourceNotFoundException(NOT_THERE)
    return config


def create_url_config(
    latest: FunctionState | None, qualifier: str | None, body: dict[str, Any]
) -> UrlConfig:
    check_qualifier(qualifier)
    latest = _target(latest, qualifier, NO_FUNCTION)
    if "AuthType" not in body:
        raise InvalidParameterValueException("AuthType is required")
    if qualifier in latest.url_configs:
        arn = f"{latest.arn}:{qualifier}" if qualifier else latest.arn
        raise ResourceConflictException(
            f"Failed to create function url config for [functionArn = {arn}]. Error message:  "
            "FunctionUrlConfig exists for this Lambda function"
        )
    config = UrlConfig(qualifier)
    config.apply(body)
    config.modified = config.created
    latest.url_configs[qualifier] = config
    return config
