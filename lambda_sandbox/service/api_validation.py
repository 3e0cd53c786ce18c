"""The Lambda API's own checks of CreateFunction / UpdateFunctionConfiguration parameters, with
the errors AWS answers (not a template reader's: no file paths in them).

Texts from LocalStack's snapshot tests, recorded against AWS (test_create_lambda_exceptions,
test_update_lambda_exceptions, test_large_environment_variables_fails) and the Lambda API
reference (ranges, reserved environment keys).
"""

from __future__ import annotations

import re
from typing import Any

from lambda_sandbox.config.function import environment_size, snapstart_conflict
from lambda_sandbox.exceptions import InvalidParameterValueException, ValidationException
from lambda_sandbox.limits import Limits

__all__ = ["API_RUNTIMES", "RESERVED_ENVIRONMENT_KEYS", "ROLE_PATTERN", "check_parameters"]

ROLE_PATTERN = r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+"
# the enum value set as AWS lists it in the error (its order)
API_RUNTIMES = (
    "nodejs20.x, python3.14, provided.al2023, python3.12, python3.13, nodejs24.x, nodejs22.x, "
    "java25, python3.10, python3.11, java21, ruby3.3, ruby3.4, ruby3.2, python3.8, python3.9, "
    "java17, nodejs16.x, dotnet10, dotnet8, java11, dotnet6, nodejs18.x, provided.al2, java8.al2"
)
# the variables Lambda sets and a function may not (Lambda docs, "Defined runtime environment
# variables": the reserved ones)
RESERVED_ENVIRONMENT_KEYS = frozenset(
    {
        "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION",
        "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
    }
)  # fmt: skip


def _range(body: dict[str, Any], key: str, member: str, lo: int, hi: int) -> None:
    value = body.get(key)
    if key == "EphemeralStorage" and isinstance(value, dict):
        value = value.get("Size")
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameterValueException(f"Value {value} at '{member}' must be an integer")
    if value > hi:
        raise ValidationException(
            value, member, f"Member must have value less than or equal to {hi}"
        )
    if value < lo:
        raise ValidationException(
            value, member, f"Member must have value greater than or equal to {lo}"
        )


def check_parameters(body: dict[str, Any], limits: Limits) -> None:
    """Raise AWS's error for the first parameter that breaks the API's constraints."""
    role = body.get("Role")
    if role is not None and not re.fullmatch(ROLE_PATTERN, str(role)):
        raise ValidationException(
            role, "role", f"Member must satisfy regular expression pattern: {ROLE_PATTERN}"
        )
    snap = body.get("SnapStart")
    apply_on = snap.get("ApplyOn") if isinstance(snap, dict) else None
    if apply_on is not None and apply_on not in ("PublishedVersions", "None"):
        # test_snapstart_exceptions (test_lambda_api.snapshot.json, recorded against AWS)
        raise ValidationException(
            apply_on, "snapStart.applyOn",
            "Member must satisfy enum value set: [PublishedVersions, None]",
        )  # fmt: skip
    runtime = body.get("Runtime")
    if runtime is not None and str(runtime) not in API_RUNTIMES.split(", "):
        raise InvalidParameterValueException(
            f"Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy "
            f"enum value set: [{API_RUNTIMES}] or be a valid ARN"
        )
    archs = body.get("Architectures")
    if archs is not None:
        shown = "[" + ", ".join(str(a) for a in archs) + "]"
        if len(archs) > 1:
            raise ValidationException(
                shown, "architectures", "Member must have length less than or equal to 1"
            )
        if any(a not in ("x86_64", "arm64") for a in archs):
            raise ValidationException(
                shown, "architectures", "Member must satisfy constraint: [Member must satisfy "
                "enum value set: [x86_64, arm64], Member must not be null]",
            )  # fmt: skip
    _range(body, "MemorySize", "memorySize", limits.q("memory", "min_mb"),
           limits.q("memory", "max_mb"))  # fmt: skip
    _range(body, "Timeout", "timeout", limits.q("timeout", "min_s"), limits.q("timeout", "max_s"))
    tmp = (limits.q("ephemeral_storage", "min_mb"), limits.q("ephemeral_storage", "max_mb"))
    _range(body, "EphemeralStorage", "ephemeralStorage.size", *tmp)
    environment = body.get("Environment")
    if isinstance(environment, dict):
        variables = {str(k): str(v) for k, v in (environment.get("Variables") or {}).items()}
        reserved = sorted(k for k in variables if k in RESERVED_ENVIRONMENT_KEYS)
        if reserved:
            raise InvalidParameterValueException(
                "Lambda was unable to configure your environment variables because the "
                "environment variables you have provided contains reserved keys that are "
                f"currently not supported for modification. Reserved keys used in this "
                f"request: {', '.join(reserved)}"
            )
        if environment_size(variables) > limits.q("package", "environment_variables_bytes"):
            measured = "{" + ",".join(f'"{k}":"{v}"' for k, v in variables.items()) + "}"
            raise InvalidParameterValueException(
                "Lambda was unable to configure your environment variables because the "
                "environment variables you have provided exceeded the 4KB limit. String "
                f"measured: {measured}"
            )
    if apply_on == "PublishedVersions" and runtime is not None:  # CreateFunction
        storage = body.get("EphemeralStorage")
        size = storage.get("Size") if isinstance(storage, dict) else None
        why = snapstart_conflict(str(runtime), size if isinstance(size, int) else 512)
        if why is not None:
            raise InvalidParameterValueException(why)
