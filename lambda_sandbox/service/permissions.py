"""Resource-based policies (AddPermission, GetPolicy, RemovePermission): kept and answered as
Lambda keeps them, per function, version or alias. They are not enforced: every caller of the
sandbox may invoke every function (the start-up banner says so).

Rules and texts from LocalStack's snapshot tests, recorded against AWS
(test_permission_exceptions, test_add_lambda_permission_aws, test_remove_multi_permissions).
"""

from __future__ import annotations

import json
import re
from typing import Any

from lambda_sandbox.exceptions import (
    InvalidParameterValueException,
    ResourceConflictException,
    ResourceNotFoundException,
    ValidationException,
)
from lambda_sandbox.service.function_state import LATEST, FunctionState, new_revision
from lambda_sandbox.service.registry import FunctionRegistry, parse_name
from lambda_sandbox.service.versions import PATTERN_CONSTRAINT

__all__ = ["add_permission", "get_policy", "remove_permission"]

SID_PATTERN = r"([a-zA-Z0-9-_]+)"
NOT_THERE = "The resource you requested does not exist."
_PRINCIPALS = (
    r"\*",
    r"\d{12}",
    r"arn:aws[a-zA-Z-]*:iam::\d{12}:(root|user/.+|role/.+)",
    r"[a-z0-9][a-z0-9.-]*\.amazonaws\.com(\.cn)?",
    r"[a-z0-9][a-z0-9.-]*\.amazon\.com",
)


def _target(
    registry: FunctionRegistry, value: str, qualifier: str | None
) -> tuple[FunctionState | None, str, str | None, bool]:
    """(the function or None, its name, the qualifier, whether it came from the name)."""
    region = registry.aws.region
    _, derived = parse_name(value, None, region)
    name, qualifier = parse_name(value, qualifier, region)
    return registry.functions.get(name), name, qualifier, derived is not None


def _check_version(latest: FunctionState, qualifier: str | None, alias_error: bool) -> None:
    """A qualifier that names nothing: AWS says "Cannot find alias" for a name-like one when
    it came from the function's ARN (AddPermission) or always (RemovePermission)."""
    if qualifier is None or qualifier == LATEST:
        return
    if qualifier in latest.versions or qualifier in latest.aliases:
        return
    if alias_error and not qualifier.isdigit():
        raise ResourceNotFoundException(f"Cannot find alias arn: {latest.arn}:{qualifier}")
    raise ResourceNotFoundException(f"Function not found: {latest.arn}:{qualifier}")


def _principal(principal: str) -> dict[str, str] | str:
    if not any(re.fullmatch(p, principal) for p in _PRINCIPALS):
        raise InvalidParameterValueException(
            "The provided principal was invalid. Please check the principal and try again."
        )
    if principal == "*":
        return "*"
    if re.fullmatch(r"\d{12}", principal):
        return {"AWS": f"arn:aws:iam::{principal}:root"}
    if principal.startswith("arn:"):
        return {"AWS": principal}
    return {"Service": principal}


def add_permission(registry: FunctionRegistry, value: str, body: dict[str, Any]) -> dict[str, Any]:
    """The statement added (the API answers it as a JSON string)."""
    sid = str(body.get("StatementId", ""))
    if not re.fullmatch(SID_PATTERN, sid):
        raise ValidationException(sid, "statementId", PATTERN_CONSTRAINT + SID_PATTERN)
    latest, name, qualifier, derived = _target(registry, value, body.get("Qualifier"))
    if qualifier == LATEST:
        raise InvalidParameterValueException(
            "We currently do not support adding policies for $LATEST."
        )
    principal = _principal(str(body.get("Principal", "")))
    if latest is None:
        raise ResourceNotFoundException(f"Function not found: {registry.arn(name)}")
    _check_version(latest, qualifier, alias_error=derived)
    policy = latest.policies.setdefault(qualifier, {"statements": [], "revision": new_revision()})
    if any(s["Sid"] == sid for s in policy["statements"]):
        raise ResourceConflictException(
            f"The statement id ({sid}) provided already exists. Please provide a new statement "
            "id, or remove the existing statement."
        )
    resource = f"{latest.arn}:{qualifier}" if qualifier else latest.arn
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": principal,
        "Action": str(body.get("Action", "")),
        "Resource": resource,
    }
    condition: dict[str, dict[str, str]] = {}
    if body.get("SourceAccount"):
        condition.setdefault("StringEquals", {})["AWS:SourceAccount"] = str(body["SourceAccount"])
    if body.get("PrincipalOrgID"):
        condition.setdefault("StringEquals", {})["aws:PrincipalOrgID"] = str(body["PrincipalOrgID"])
    if body.get("FunctionUrlAuthType"):
        condition.setdefault("StringEquals", {})["lambda:FunctionUrlAuthType"] = str(
            body["FunctionUrlAuthType"]
        )
    if body.get("SourceArn"):
        condition["ArnLike"] = {"AWS:SourceArn": str(body["SourceArn"])}
    if condition:
        statement["Condition"] = condition
    policy["statements"].append(statement)
    policy["revision"] = new_revision()
    return statement


def get_policy(registry: FunctionRegistry, value: str, qualifier: str | None) -> dict[str, Any]:
    latest, _, qualifier, _ = _target(registry, value, qualifier)
    policy = latest.policies.get(qualifier) if latest is not None else None
    if policy is None or not policy["statements"]:
        raise ResourceNotFoundException(NOT_THERE)
    document = {"Version": "2012-10-17", "Id": "default", "Statement": policy["statements"]}
    return {"Policy": json.dumps(document, separators=(",", ":")), "RevisionId": policy["revision"]}


def remove_permission(
    registry: FunctionRegistry, value: str, sid: str, qualifier: str | None
) -> None:
    latest, name, qualifier, _ = _target(registry, value, qualifier)
    if latest is None:
        raise ResourceNotFoundException(f"No policy found for: {registry.arn(name)}")
    _check_version(latest, qualifier, alias_error=True)
    policy = latest.policies.get(qualifier)
    if policy is None or not policy["statements"]:
        raise ResourceNotFoundException("No policy is associated with the given resource.")
    kept = [s for s in policy["statements"] if s["Sid"] != sid]
    if len(kept) == len(policy["statements"]):
        raise ResourceNotFoundException(f"Statement {sid} is not found in resource policy.")
    policy["statements"] = kept
    policy["revision"] = new_revision()
