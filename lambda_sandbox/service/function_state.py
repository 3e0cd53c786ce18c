"""A registered function version: its configuration, its pool of environments, its counters.

A function is its `$LATEST` state; each published version is a state of its own (an immutable
copy of the configuration and the code it was published with) whose `latest` is the function's
`$LATEST`. Environments are per version; the concurrency slots, the reservation, the counters
and the log stream are the function's, shared by its versions (Lambda counts a function's
concurrency over all its versions).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambda_sandbox.config import FunctionConfig
from lambda_sandbox.environments.base import Environment
from lambda_sandbox.exceptions import ValidationException
from lambda_sandbox.service.logs import LogStream
from lambda_sandbox.service.metrics import FunctionMetrics
from lambda_sandbox.types import Filesystem

__all__ = [
    "LATEST",
    "Alias",
    "EventInvokeConfig",
    "FunctionState",
    "Slots",
    "UrlConfig",
    "new_revision",
]

LATEST = "$LATEST"


def new_revision() -> str:
    return str(uuid.uuid4())


@dataclass(eq=False)
class Slots:
    in_use: int = 0


@dataclass(eq=False)
class Alias:
    """A name for a version, optionally sending a share of the invokes to a second one."""

    name: str
    function_version: str
    description: str = ""
    weights: dict[str, float] = field(default_factory=dict)  # AdditionalVersionWeights
    revision_id: str = field(default_factory=new_revision)


AUTH_TYPES = ("NONE", "AWS_IAM")
INVOKE_MODES = ("BUFFERED", "RESPONSE_STREAM")


def _stamp(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(when))


@dataclass(eq=False)
class UrlConfig:
    qualifier: str | None  # an alias, or None for the function itself
    auth_type: str = "NONE"
    invoke_mode: str = "BUFFERED"
    cors: dict[str, Any] | None = None
    created: float = field(default_factory=time.time)
    modified: float = field(default_factory=time.time)
    url: str = ""  # where the sandbox serves it (set by the faces)

    def describe(
        self, arn: str, *, invoke_mode: bool = True, modified: bool = True
    ) -> dict[str, Any]:
        """The configuration as the API answers it: Get and List with everything; Create
        without InvokeMode (unless given) and LastModifiedTime; Update without InvokeMode
        (unless given)."""
        out: dict[str, Any] = {
            "FunctionUrl": self.url,
            "FunctionArn": f"{arn}:{self.qualifier}" if self.qualifier else arn,
            "AuthType": self.auth_type,
            "CreationTime": _stamp(self.created),
        }
        if self.cors:
            out["Cors"] = self.cors
        if invoke_mode:
            out["InvokeMode"] = self.invoke_mode
        if modified:
            out["LastModifiedTime"] = _stamp(self.modified)
        return out

    def apply(self, body: dict[str, Any]) -> None:
        auth = body.get("AuthType")
        if auth is not None:
            if auth not in AUTH_TYPES:
                allowed = ", ".join(AUTH_TYPES)
                raise ValidationException(
                    auth, "authType", f"Member must satisfy enum value set: [{allowed}]"
                )
            self.auth_type = str(auth)
        mode = body.get("InvokeMode")
        if mode is not None:
            if mode not in INVOKE_MODES:
                raise ValidationException(
                    mode, "invokeMode",
                    f"Member must satisfy enum value set: [{', '.join(INVOKE_MODES)}]",
                )  # fmt: skip
            self.invoke_mode = str(mode)
        if "Cors" in body:
            self.cors = dict(body["Cors"] or {}) or None
        self.modified = time.time()


@dataclass(eq=False)
class EventInvokeConfig:
    qualifier: str  # $LATEST, a version number or an alias
    maximum_retry_attempts: int | None = None
    maximum_event_age_s: int | None = None
    on_success: dict[str, str] = field(default_factory=dict)  # {"Destination": arn} or {}
    on_failure: dict[str, str] = field(default_factory=dict)
    modified: float = field(default_factory=time.time)

    def describe(self, arn: str) -> dict[str, Any]:
        """As the API answers it: LastModified is a timestamp (epoch seconds on the wire);
        the two settings only when set."""
        out: dict[str, Any] = {
            "DestinationConfig": {"OnFailure": self.on_failure, "OnSuccess": self.on_success},
            "FunctionArn": f"{arn}:{self.qualifier}",
            "LastModified": self.modified,
        }
        if self.maximum_event_age_s is not None:
            out["MaximumEventAgeInSeconds"] = self.maximum_event_age_s
        if self.maximum_retry_attempts is not None:
            out["MaximumRetryAttempts"] = self.maximum_retry_attempts
        return out

    def apply(self, body: dict[str, Any]) -> None:
        if "MaximumRetryAttempts" in body:
            self.maximum_retry_attempts = int(body["MaximumRetryAttempts"])
        if "MaximumEventAgeInSeconds" in body:
            self.maximum_event_age_s = int(body["MaximumEventAgeInSeconds"])
        destinations = body.get("DestinationConfig") or {}
        if "OnSuccess" in destinations:
            self.on_success = _destination(destinations["OnSuccess"])
        if "OnFailure" in destinations:
            self.on_failure = _destination(destinations["OnFailure"])
        self.modified = time.time()


def _destination(value: Any) -> dict[str, str]:
    arn = (value or {}).get("Destination")
    return {"Destination": str(arn)} if arn else {}


@dataclass(eq=False)
class FunctionState:
    config: FunctionConfig
    bundle_dir: Path
    arn: str  # the function's unqualified ARN
    log: LogStream
    generation: int = 0
    last_modified: float = field(default_factory=time.time)
    code_size: int = 0
    code_sha256: str = ""
    filesystem: Filesystem | None = None  # /var/task, /opt, /var/runtime, /var/lang
    idle: list[Environment] = field(default_factory=list)  # most recently used last
    busy: set[Environment] = field(default_factory=set)
    # invocations holding a concurrency slot: one counter per function, shared by its versions
    # and kept across reloads (an invoke in flight gives back the slot it took)
    slots: Slots = field(default_factory=lambda: Slots())
    pending: list[tuple[Any, ...]] = field(default_factory=list)  # invokes to finish (logs, pool)
    stats: FunctionMetrics = field(default_factory=FunctionMetrics)
    # versions ------------------------------------------------------------------------------
    version: str = LATEST
    latest: FunctionState | None = None  # a published version's function ($LATEST)
    versions: dict[str, FunctionState] = field(default_factory=dict)  # on $LATEST, by number
    aliases: dict[str, Alias] = field(default_factory=dict)  # on $LATEST
    url_configs: dict[str | None, UrlConfig] = field(default_factory=dict)  # alias (or None)
    # asynchronous invocation settings by qualifier ($LATEST, a version, an alias)
    event_configs: dict[str, EventInvokeConfig] = field(default_factory=dict)
    # resource policies by qualifier: {"statements": [...], "revision": RevisionId}
    policies: dict[str | None, dict[str, Any]] = field(default_factory=dict)
    # provisioned concurrency by qualifier (a version or alias): provisioned.ProvisionedConfig
    provisioned: dict[str, Any] = field(default_factory=dict)
    # a published version's SnapStart snapshot (environments/snapshots.py), and what its
    # restores showed: the uniqueness checks compare them (service/snapstart.py)
    snapshot: Any = None
    restored_states: dict[str, set[str]] = field(default_factory=dict)
    last_version: int = 0  # on $LATEST: the highest number ever published
    published_from: FunctionConfig | None = None  # a version: $LATEST's config at the time
    revision_id: str = field(default_factory=new_revision)
    # Lambda's state machine: Pending -> Active (or Failed); updates InProgress -> Successful
    state: str = "Active"
    state_reason: str | None = None
    state_reason_code: str | None = None
    last_update_status: str | None = "Successful"
    created_by_api: bool = False  # CreateFunction (kept in the project's state folder)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def function(self) -> FunctionState:
        """The function this version belongs to (itself for $LATEST)."""
        return self.latest or self

    @property
    def qualified_arn(self) -> str:
        return f"{self.arn}:{self.version}"

    @property
    def in_use(self) -> int:
        return self.slots.in_use

    @in_use.setter
    def in_use(self, value: int) -> None:
        self.slots.in_use = value

    @property
    def reserved(self) -> int | None:
        return self.function.config.reserved_concurrency

    def environments(self) -> list[Environment]:
        return [*self.idle, *self.busy]

    def all_versions(self) -> list[FunctionState]:
        """$LATEST and every published version, oldest first (on $LATEST)."""
        return [self, *sorted(self.versions.values(), key=lambda v: int(v.version))]

    def metrics(self, since: float | None = None) -> dict[str, object]:
        envs = [e for v in self.function.all_versions() for e in (v.idle, v.busy)]
        idle = sum(len(e) for e in envs[0::2])
        busy = sum(len(e) for e in envs[1::2])
        configs = list(self.function.provisioned.values())
        provisioned = (
            sum(len(c.busy) for c in configs),
            sum(c.allocated for c in configs),
            sum(c.max_busy for c in configs),
        )
        idle += sum(len(c.idle) for c in configs)
        busy += provisioned[0]
        return self.stats.as_cloudwatch(
            self.in_use, {"idle": idle, "busy": busy}, since, provisioned
        )
