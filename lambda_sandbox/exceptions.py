"""Every error the sandbox raises, in one place.

Errors the Lambda API answers with carry their AWS error type and HTTP status; the faces render
them, nothing below the faces imports a web framework. Errors of the OS, cgroups and processes
are translated into these at the environments boundary.

    SandboxError
    ├── ConfigError                     a function.yaml / template value is invalid
    ├── BuildError                      a bundle could not be built
    ├── BackendError                    an execution environment could not be started
    ├── MissingExtraError               a command needs an optional part of the install
    └── LambdaAPIError                  answered to API clients: (status, AWS error type)
        ├── InvalidParameterValueException      400
        ├── ValidationException                 400 (a name, pattern or range constraint)
        ├── PreconditionFailedException         412 (a stale RevisionId)
        ├── InvalidRequestContentException      400
        ├── ResourceNotFoundException           404
        ├── ResourceConflictException           409
        ├── RequestEntityTooLargeException      413
        ├── TooManyRequestsException            429 (with a Reason)
        └── ServiceException                    500

Function errors are not exceptions: an invoke that fails inside the function answers HTTP 200
with `X-Amz-Function-Error` and a body whose `errorType` is one of `FunctionErrorType`.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AccessDeniedException",
    "BackendError",
    "BuildError",
    "ConfigError",
    "FunctionErrorType",
    "InvalidParameterValueException",
    "InvalidRequestContentException",
    "LambdaAPIError",
    "MissingExtraError",
    "PreconditionFailedException",
    "RequestEntityTooLargeException",
    "ResourceConflictException",
    "ResourceNotFoundException",
    "SandboxError",
    "ServiceException",
    "SnapStartException",
    "SnapStartNotReadyException",
    "SnapStartTimeoutException",
    "ThrottleReason",
    "TooManyRequestsException",
    "UnknownOperationException",
    "ValidationException",
]


class SandboxError(Exception):
    """Base of every error the sandbox raises on purpose."""


class ConfigError(SandboxError):
    """A function definition is invalid; the message names the file, key, value and range."""


class BuildError(SandboxError):
    """A function bundle could not be built (pip failed, code missing, ...)."""


class BackendError(SandboxError):
    """An execution environment could not be started or controlled."""


class MissingExtraError(SandboxError):
    """A command needs an optional dependency; the message names the extra to install."""


class LambdaAPIError(SandboxError):
    """An error the Lambda API answers with: an AWS error type and an HTTP status."""

    status: int = 500
    error_type: str = "ServiceException"
    kind: str = "Service"
    # the member that holds the message in botocore's shape of the error: `Message` for some,
    # `message` for others (boto3 users read e.response["Message"] where the model says so)
    message_key: str = "message"

    def __init__(self, message: str, *, typed: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.typed = typed  # a few of AWS's answers carry no "Type"

    def body(self) -> dict[str, str]:
        if not self.typed:
            return {self.message_key: self.message}
        return {"Type": self.kind, self.message_key: self.message}


class InvalidParameterValueException(LambdaAPIError):
    status = 400
    error_type = "InvalidParameterValueException"
    kind = "User"


class InvalidRequestContentException(LambdaAPIError):
    status = 400
    error_type = "InvalidRequestContentException"
    kind = "User"


class ValidationException(LambdaAPIError):
    """A parameter failed the API's own constraints (names, patterns, ranges)."""

    status = 400
    error_type = "ValidationException"
    kind = "User"

    def __init__(self, value: object, member: str, constraint: str) -> None:
        super().__init__(
            f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
            f"constraint: {constraint}"
        )

    @classmethod
    def many(cls, failed: Sequence[tuple[object, str, str]]) -> ValidationException:
        """Several failed constraints in one answer, as AWS lists them."""
        error = cls(*failed[0])
        if len(failed) > 1:
            listed = "; ".join(
                f"Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"
                for value, member, constraint in failed
            )
            error.message = f"{len(failed)} validation errors detected: {listed}"
        return error


class UnknownOperationException(LambdaAPIError):
    status = 404
    error_type = "UnknownOperationException"
    kind = "User"


class AccessDeniedException(LambdaAPIError):
    """What AWS answers a caller that may not do what it asked (IAM's 403)."""

    status = 403
    error_type = "AccessDeniedException"
    kind = "User"
    message_key = "Message"


class PreconditionFailedException(LambdaAPIError):
    status = 412
    error_type = "PreconditionFailedException"
    kind = "User"


class ResourceNotFoundException(LambdaAPIError):
    status = 404
    error_type = "ResourceNotFoundException"
    kind = "User"
    message_key = "Message"


class ResourceConflictException(LambdaAPIError):
    status = 409
    error_type = "ResourceConflictException"
    kind = "User"


class SnapStartNotReadyException(LambdaAPIError):
    status = 409
    error_type = "SnapStartNotReadyException"
    kind = "User"


class SnapStartException(LambdaAPIError):
    status = 400
    error_type = "SnapStartException"
    kind = "User"


class SnapStartTimeoutException(LambdaAPIError):
    status = 408
    error_type = "SnapStartTimeoutException"
    kind = "User"


class RequestEntityTooLargeException(LambdaAPIError):
    status = 413
    error_type = "RequestEntityTooLargeException"
    kind = "User"


class ThrottleReason:
    """The `Reason` values of TooManyRequestsException (botocore's Lambda model)."""

    RESERVED = "ReservedFunctionConcurrentInvocationLimitExceeded"
    ACCOUNT = "ConcurrentInvocationLimitExceeded"


class TooManyRequestsException(LambdaAPIError):
    status = 429
    error_type = "TooManyRequestsException"
    kind = "User"

    def __init__(self, reason: str, message: str = "Rate Exceeded.") -> None:
        super().__init__(message)
        self.reason = reason

    def body(self) -> dict[str, str]:
        return {"Reason": self.reason, "Type": self.kind, "message": self.message}


class ServiceException(LambdaAPIError):
    status = 500
    error_type = "ServiceException"
    kind = "Service"
    message_key = "Message"


class FunctionErrorType:
    """`errorType` values of function errors, as Lambda reports them."""

    TIMEOUT = "Sandbox.Timedout"
    EXIT = "Runtime.ExitError"
    RESPONSE_TOO_LARGE = "Function.ResponseSizeTooLarge"
    IMPORT_MODULE = "Runtime.ImportModuleError"
    HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
    INVALID_ENTRYPOINT = "Runtime.InvalidEntrypoint"  # no bootstrap, or not executable
    OUT_OF_MEMORY = "Runtime.OutOfMemory"  # REPORT's Error Type of a run killed at the limit
    UNKNOWN = "Runtime.Unknown"
