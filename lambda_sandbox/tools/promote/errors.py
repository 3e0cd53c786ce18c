"""Errors of a promotion, and the translation of boto3's errors into them.

Every failure of an AWS call leaves here as a `PromoteError` that says what failed and what to
do; credentials never appear in a message (botocore's own messages carry none).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    WaiterError,
)

from lambda_sandbox.exceptions import SandboxError

__all__ = ["PromoteError", "aws_step", "error_code"]


class PromoteError(SandboxError):
    """A promotion could not go on; the message says what failed and what to do."""


_HINTS = {
    "AccessDenied": "the credentials lack this permission: grant it, or use another --profile",
    "AccessDeniedException": "the credentials lack this permission: grant it, or use another "
    "--profile",
    "UnrecognizedClientException": "the credentials are not valid here: check --profile / "
    "AWS_ACCESS_KEY_ID, or the region",
    "InvalidClientTokenId": "the credentials are not valid here: check --profile / "
    "AWS_ACCESS_KEY_ID",
    "InvalidSignatureException": "the secret key does not match the key id: check the profile",
    "SignatureDoesNotMatch": "the secret key does not match the key id: check the profile",
    "ExpiredToken": "the session token expired: refresh it (aws sso login, or new keys)",
    "ExpiredTokenException": "the session token expired: refresh it (aws sso login, or new keys)",
    "ResourceConflictException": "another update of the function is in progress: wait a minute "
    "and run promote again",
    "TooManyRequestsException": "AWS throttled the request: run promote again in a minute",
    "CodeStorageExceededException": "the account's 75 GB of function code storage is full: "
    "delete old versions (aws lambda delete-function --qualifier N)",
    "RequestEntityTooLargeException": "the request is too large: this should have gone "
    "through S3; please report it",
    "InvalidParameterValueException": "AWS refused a value of the configuration: fix it in "
    "function.yaml",
    "ServiceException": "Lambda had an internal error: run promote again",
    "BucketAlreadyExists": "that bucket name belongs to another account: pass --model-bucket "
    "with a name of your own",
    "EntityAlreadyExists": "the IAM role exists already: pass --role-arn with its ARN",
    "LimitExceeded": "an IAM quota is reached: delete unused roles, or pass --role-arn",
    "RepositoryPolicyNotFoundException": "set the ECR repository's policy so Lambda may pull",
}


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError ("" for anything else)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


@contextmanager
def aws_step(step: str, hints: dict[str, str] | None = None) -> Iterator[None]:
    """Run AWS calls; turn their errors into PromoteError("<step> failed: ... <what to do>")."""
    try:
        yield
    except PromoteError:
        raise
    except ClientError as exc:
        code = error_code(exc)
        message = exc.response.get("Error", {}).get("Message") or str(exc)
        hint = (hints or {}).get(code) or _HINTS.get(code, "")
        if "cannot be assumed by Lambda" in message:
            hint = "the role must trust lambda.amazonaws.com (or pass --create-role)"
        tail = f" ({hint})" if hint else ""
        raise PromoteError(f"{step} failed: {code}: {message}{tail}") from exc
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise PromoteError(
            f"{step} failed: no AWS credentials found. Pass --profile, set AWS_PROFILE, or "
            "configure credentials (aws configure / aws sso login)"
        ) from exc
    except ProfileNotFound as exc:
        raise PromoteError(
            f"{step} failed: {exc}. Check the name with `aws configure list-profiles`"
        ) from exc
    except NoRegionError as exc:
        raise PromoteError(
            f"{step} failed: no region: pass --region or set AWS_DEFAULT_REGION"
        ) from exc
    except EndpointConnectionError as exc:
        raise PromoteError(
            f"{step} failed: cannot reach {exc.kwargs.get('endpoint_url', 'AWS')}: check the "
            "network, --region and --endpoint-url"
        ) from exc
    except WaiterError as exc:
        last = exc.last_response or {}
        reason = last.get("Configuration", last)
        detail = ""
        if isinstance(reason, dict):
            detail = str(reason.get("StateReason") or reason.get("LastUpdateStatusReason") or "")
        raise PromoteError(
            f"{step} failed: {exc.reason}{': ' + detail if detail else ''}. See the function's "
            "state in the Lambda console, fix the cause and run promote again"
        ) from exc
    except BotoCoreError as exc:
        raise PromoteError(f"{step} failed: {exc}") from exc
