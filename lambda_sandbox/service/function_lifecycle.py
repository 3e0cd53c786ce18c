"""Functions created and changed through the API: CreateFunction, UpdateFunctionCode and
DeleteFunction, with Lambda's state machine, and the store that keeps created functions
across a restart of `sandbox up`.

A new function is `Pending` ("The function is being created.", `Creating`) until its code is
built, then `Active` (or `Failed`, with the build's error as the reason); a code or
configuration change is `LastUpdateStatus: InProgress` until it is applied, then `Successful`.
Each transition gives the function a new RevisionId, as AWS's does (LocalStack's snapshot
test_function_revisions_basic, recorded against AWS). boto3's waiters (function_active_v2,
function_updated_v2) poll exactly these fields.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import shutil
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from lambda_sandbox.config import FunctionConfig
from lambda_sandbox.config.function import LAMBDA_FUNCTION, PROPERTIES, build_config
from lambda_sandbox.exceptions import InvalidParameterValueException
from lambda_sandbox.limits import Limits
from lambda_sandbox.service.function_state import FunctionState, new_revision
from lambda_sandbox.types import Filesystem

__all__ = [
    "CodeBuilder",
    "FunctionStore",
    "config_from_parameters",
    "function_parameters",
    "mark_active",
    "mark_failed",
    "mark_pending",
    "mark_updated",
    "mark_updating",
    "zip_of",
]

# build a function's bundle (and what its environments see) from its configuration, whose
# code_dir is the uploaded zip: given by the composition root (the service builds nothing)
CodeBuilder = Callable[[FunctionConfig], Awaitable[tuple[Path, Filesystem | None]]]

BEING_CREATED = "The function is being created."
CODE_FILE = "_SandboxCodeFile"  # the stored parameters' note of the current zip
CREATING = "Creating"


def mark_pending(state: FunctionState) -> None:
    state.state, state.state_reason, state.state_reason_code = "Pending", BEING_CREATED, CREATING
    state.last_update_status = None
    state.revision_id = new_revision()


def mark_active(state: FunctionState) -> None:
    state.state, state.state_reason, state.state_reason_code = "Active", None, None
    state.last_update_status = "Successful"
    state.revision_id = new_revision()


def mark_failed(state: FunctionState, reason: str) -> None:
    state.state, state.state_reason, state.state_reason_code = "Failed", reason, "InternalError"
    state.last_update_status = "Failed"
    state.revision_id = new_revision()


def mark_updating(state: FunctionState) -> None:
    state.last_update_status = "InProgress"
    state.state_reason, state.state_reason_code = BEING_CREATED, CREATING
    state.revision_id = new_revision()


def mark_updated(state: FunctionState) -> None:
    state.last_update_status = "Successful"
    state.state_reason = state.state_reason_code = None
    state.revision_id = new_revision()


def zip_of(code: dict[str, Any], limit_bytes: int, fetch_s3: Callable[..., bytes] | None) -> bytes:
    """The uploaded zip of a Code parameter (ZipFile, base64 in the request; or S3Bucket and
    S3Key on the AWS side), checked as Lambda checks it."""
    if "ZipFile" in code:
        try:
            data = base64.b64decode(code["ZipFile"], validate=True)
        except (binascii.Error, TypeError, ValueError):
            data = b""
    elif "S3Bucket" in code and "S3Key" in code:
        if fetch_s3 is None:
            raise InvalidParameterValueException("This sandbox has no AWS side to read S3 from.")
        data = fetch_s3(code["S3Bucket"], code["S3Key"], code.get("S3ObjectVersion"))
    elif "ImageUri" in code:
        raise InvalidParameterValueException(
            "Image functions are served from a template or function folder with "
            "PackageType: Image on the docker backend (sandbox up --backend docker)."
        )
    else:
        raise InvalidParameterValueException("Please provide a source for function code.")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            unzipped = sum(info.file_size for info in package.infolist())
    except zipfile.BadZipFile:
        raise InvalidParameterValueException(
            "Could not unzip uploaded file. Please check your file, then try to upload again."
        ) from None
    if unzipped > limit_bytes:
        raise InvalidParameterValueException(
            f"Unzipped size must be smaller than {limit_bytes} bytes"
        )
    return data


def config_from_parameters(
    params: dict[str, Any], code_zip: Path, source: Path, limits: Limits
) -> FunctionConfig:
    """CreateFunction's parameters as a FunctionConfig (the same properties as an
    AWS::Lambda::Function resource), its code the uploaded zip."""
    known = PROPERTIES[LAMBDA_FUNCTION] - {"Code", "FunctionName"}
    props = {k: v for k, v in params.items() if k in known}
    props.setdefault("Runtime", params.get("Runtime", "python3.12"))
    config = build_config(
        str(params["FunctionName"]), source, props, limits, resource_type=LAMBDA_FUNCTION
    )
    return config.with_updates(code_dir=code_zip)


def function_parameters(state: FunctionState) -> dict[str, Any]:
    """A function's configuration as CreateFunction parameters (what the store keeps)."""
    cfg = state.config
    params: dict[str, Any] = {
        "FunctionName": cfg.name, "Runtime": cfg.runtime, "Handler": cfg.handler,
        "MemorySize": cfg.memory_mb, "Timeout": int(cfg.timeout_s),
        "EphemeralStorage": {"Size": cfg.ephemeral_mb}, "Description": cfg.description,
        "Architectures": list(cfg.architectures),
    }  # fmt: skip
    if cfg.environment:
        params["Environment"] = {"Variables": dict(cfg.environment)}
    return params


class FunctionStore:
    """<project>/.sandbox/functions/<name>/: the parameters (function.json) and the code
    (code.zip) of each function created through the API."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def save(self, name: str, params: dict[str, Any], code: bytes) -> Path:
        """Keep the parameters and the code; the code's path (one file per content: a
        published version keeps the zip it was published with)."""
        if self.folder is None:
            raise InvalidParameterValueException("This sandbox keeps no functions.")
        target = self.folder / name
        target.mkdir(parents=True, exist_ok=True)
        zip_path = target / f"code-{hashlib.sha256(code).hexdigest()[:16]}.zip"
        zip_path.write_bytes(code)
        kept = {k: v for k, v in params.items() if k != "Code"}
        kept[CODE_FILE] = zip_path.name
        (target / "function.json").write_text(json.dumps(kept, indent=2))
        return zip_path

    def load(self) -> list[tuple[dict[str, Any], Path]]:
        """(parameters, the code's zip) of every stored function."""
        if self.folder is None or not self.folder.is_dir():
            return []
        found = []
        for item in sorted(self.folder.iterdir()):
            try:
                params = json.loads((item / "function.json").read_text())
            except (OSError, ValueError):
                continue
            code = item / str(params.pop(CODE_FILE, "code.zip"))
            if code.is_file():
                found.append((params, code))
        return found

    def delete(self, name: str) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder / name, ignore_errors=True)
