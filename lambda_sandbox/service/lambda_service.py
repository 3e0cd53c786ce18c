"""The Lambda service: one object the faces call, composed of one module per concept.

    registry.py           which functions exist (name or ARN -> state)
    concurrency.py        reserved and unreserved concurrency, throttles (429)
    invoke.py             one invocation: payload limits, deadline, timeout, response limit, REPORT
    cold_start.py         a new environment, the 10 s INIT limit and the suppressed-init retry
    pool.py               warm environments: reuse, keep-alive, reaping
    async_events.py       InvocationType Event: the queue, retries, maximum age, drops
    event_invoke_configs.py, destinations.py   per-qualifier async settings; where outcomes go
    environment_spec.py   a function's configuration as what a backend starts, and its notes
    logs.py, metrics.py   each function's log stream and counters

The service knows no web framework and no backend: it talks to a `Backend` (environments/).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from lambda_sandbox.config import FunctionConfig
from lambda_sandbox.config.function import snapstart_conflict, validate_update
from lambda_sandbox.environments.base import Backend, Environment
from lambda_sandbox.exceptions import (
    ConfigError,
    InvalidParameterValueException,
    LambdaAPIError,
    RequestEntityTooLargeException,
    ResourceConflictException,
    SandboxError,
)
from lambda_sandbox.limits import Limits, load_limits
from lambda_sandbox.service.api_validation import check_parameters
from lambda_sandbox.service.async_events import EventQueue
from lambda_sandbox.service.cold_start import ColdStarts
from lambda_sandbox.service.concurrency import Concurrency
from lambda_sandbox.service.destinations import Destinations
from lambda_sandbox.service.environment_spec import EnvironmentSpecs
from lambda_sandbox.service.environment_variables import AwsSide
from lambda_sandbox.service.event_journal import EventJournal
from lambda_sandbox.service.function_lifecycle import (
    CodeBuilder,
    FunctionStore,
    config_from_parameters,
    function_parameters,
    mark_active,
    mark_failed,
    mark_pending,
    mark_updated,
    mark_updating,
    zip_of,
)
from lambda_sandbox.service.function_state import LATEST, FunctionState
from lambda_sandbox.service.invoke import (
    InvokeLifecycle,
    InvokeOutcome,
    check_payload,
    decode_client_context,
)
from lambda_sandbox.service.pool import EnvironmentPool
from lambda_sandbox.service.provisioned import ProvisionedPool
from lambda_sandbox.service.registry import FunctionRegistry, parse_name
from lambda_sandbox.service.snapstart import SnapStart
from lambda_sandbox.service.versions import (
    check_revision,
    create_alias,
    publish_version,
    update_alias,
)
from lambda_sandbox.types import EnvironmentSpec, Filesystem, ResponseStream

__all__ = ["UPDATABLE_CONFIGURATION", "InvokeOutcome", "LambdaService"]

log = logging.getLogger(__name__)

# UpdateFunctionConfiguration's properties the sandbox applies to a running function
UPDATABLE_CONFIGURATION = frozenset(
    {
        "SnapStart",
        "MemorySize",
        "Timeout",
        "EphemeralStorage",
        "Environment",
        "Handler",
        "Runtime",
        "Description",
        "DeadLetterConfig",
    }
)


class LambdaService:
    def __init__(
        self,
        backend: Backend,
        *,
        aws: AwsSide | None = None,
        limits: Limits | None = None,
        logs_dir: Path | None = None,
        account_concurrency: int | None = None,
        keep_alive_s: float | None = None,
        init_limit_s: float | None = None,
        host_cpus: int | None = None,
        async_retry_delays_s: tuple[float, ...] | None = None,
        max_event_age_s: float | None = None,
        code_builder: CodeBuilder | None = None,
        functions_store: Path | None = None,
        fetch_s3: Callable[..., bytes] | None = None,
        events_dir: Path | None = None,
        session: str = "",
    ) -> None:
        self.backend = backend
        self.aws = aws or AwsSide()
        self.limits = lim = limits or load_limits()
        self.logs_dir = logs_dir
        self.registry = FunctionRegistry(self.aws, logs_dir)
        self.functions: dict[str, FunctionState] = self.registry.functions
        self.account_concurrency = account_concurrency or lim.q("concurrency", "account_default")
        self.concurrency = Concurrency(
            self.account_concurrency, lim.q("concurrency", "unreserved_minimum")
        )
        self.specs = EnvironmentSpecs(lim, self.aws, backend, host_cpus)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._flush_handle: asyncio.TimerHandle | None = None
        self.code_builder = code_builder
        self.store = FunctionStore(functions_store)
        self.fetch_s3 = fetch_s3
        self.pool = EnvironmentPool(
            self.registry.all_states,
            keep_alive_s
            if keep_alive_s is not None
            else lim.q("execution_environment", "idle_keep_alive_s"),
            self._spawn,
        )
        self.cold_starts = ColdStarts(
            backend, self.specs.of, init_limit_s or float(lim.q("init", "on_demand_s"))
        )
        self.snapstart = SnapStart(backend, self.specs.of, lim, self._spawn)
        self.cold_starts.snapstart = self.snapstart
        self.lifecycle = InvokeLifecycle(
            lim, self.cold_starts, self.pool, self.specs.note, self._schedule_flush
        )
        self.provisioned = ProvisionedPool(self._start_provisioned, self._spawn)
        self.lifecycle.provisioned = self.provisioned
        self.events = EventQueue(
            lim,
            self.concurrency,
            lambda state, payload, rid, arn: self.lifecycle.run(
                state, payload, rid, None, None, invoked_arn=arn
            ),
            self._spawn,
            retry_delays_s=async_retry_delays_s,
            max_event_age_s=max_event_age_s,
            destinations=Destinations(
                self.aws, lambda arn, body: self._spawn(self._invoke_destination(arn, body))
            ),
            journal=EventJournal(events_dir, session),
            settle=self.lifecycle.finish_pending,
        )
        self._unzipped_limit = lim.q("package", "unzipped_mb") << 20
        self._sync_request_bytes = lim.q("payload", "sync_request_bytes")
        self._async_request_bytes = lim.q("payload", "async_request_bytes")

    # registry ------------------------------------------------------------------------------
    def arn(self, name: str) -> str:
        return self.registry.arn(name)

    def register(
        self, config: FunctionConfig, bundle_dir: Path, filesystem: Filesystem | None = None
    ) -> FunctionState:
        state = self.registry.register(config, bundle_dir, filesystem)
        self.specs.forget(config.name)
        self.concurrency.recount(self.functions.values())
        return state

    def get(self, name_or_arn: str) -> FunctionState:
        return self.registry.get(name_or_arn)

    def version(self, name_or_arn: str, qualifier: str | None = None) -> FunctionState:
        """The version a name, ARN and Qualifier name (an alias: the version it points at)."""
        return self.registry.resolve(name_or_arn, qualifier)[0]

    async def reload(
        self, config: FunctionConfig, bundle_dir: Path, filesystem: Filesystem | None = None
    ) -> FunctionState:
        """New code or configuration (hot reload): new invocations get fresh environments,
        idle ones are retired, invocations in flight finish on the old code."""
        old = self.functions.get(config.name)
        if old is not None:
            self.lifecycle.finish_pending(old)
        state = self.register(config, bundle_dir, filesystem)
        await self.pool.retire_idle(state)
        return state

    # configuration -------------------------------------------------------------------------
    async def update_configuration(self, name: str, props: dict[str, Any]) -> FunctionState:
        """UpdateFunctionConfiguration: new environments pick the change up; old ones drain.
        The answer says InProgress, and the update is Successful a moment later, as on AWS."""
        state = self.get(name)
        props = dict(props)
        check_revision(state.revision_id, props.pop("RevisionId", None))
        self._not_updating(state)
        check_parameters(props, self.limits)
        props.pop("Role", None)  # accepted, not emulated: functions run with test credentials
        unsupported = set(props) - UPDATABLE_CONFIGURATION
        if unsupported:
            raise InvalidParameterValueException(
                f"The sandbox cannot change {sorted(unsupported)} of a running function; "
                "edit function.yaml and restart `sandbox up`."
            )
        self.lifecycle.finish_pending(state)
        fields = validate_update(state.config.source, props, self.limits)
        dead_letter = (props.get("DeadLetterConfig") or {}).get("TargetArn")
        if dead_letter is not None:  # {} changes nothing; {"TargetArn": ""} removes the queue
            raw = {k: v for k, v in state.config.raw.items() if k != "DeadLetterQueue"}
            fields["raw"] = {**raw, "DeadLetterConfig": {"TargetArn": str(dead_letter)}}
        merged = state.config.with_updates(**fields)
        if merged.snap_start and (why := snapstart_conflict(merged.runtime, merged.ephemeral_mb)):
            raise InvalidParameterValueException(why)
        state.config = merged
        state.generation += 1
        state.last_modified = time.time()
        self.specs.forget(state.name)
        await self.pool.retire_idle(state)
        mark_updating(state)
        asyncio.get_running_loop().call_soon(mark_updated, state)
        return state

    def _not_updating(self, state: FunctionState) -> None:
        if state.last_update_status == "InProgress" or state.state == "Pending":
            raise ResourceConflictException(
                "The operation cannot be performed at this time. An update is in progress for "
                f"resource: {state.arn}"
            )

    def put_concurrency(self, name: str, reserved: int | None) -> FunctionState:
        """PutFunctionConcurrency (an int) / DeleteFunctionConcurrency (None)."""
        state = self.get(name)
        if reserved is not None:
            self.concurrency.check_reservation(state, reserved, self.functions.values())
        was_unreserved = state.reserved is None
        state.config = state.config.with_updates(reserved_concurrency=reserved)
        self.concurrency.moved(state, was_unreserved)
        self.concurrency.recount(self.functions.values())
        return state

    # versions and aliases ------------------------------------------------------------------
    def publish_version(
        self,
        name: str,
        description: str | None = None,
        code_sha256: str | None = None,
        revision_id: str | None = None,
    ) -> FunctionState:
        latest = self.get(name)
        self._not_updating(latest)
        version = publish_version(latest, description, code_sha256, revision_id)
        self.snapstart.published(version)
        return version

    def auto_publish(self, name: str) -> FunctionState | None:
        """SAM's AutoPublishAlias: publish $LATEST (a new version when it changed) and point
        the alias at it; done at start and after each hot reload, as `sam sync` does."""
        latest = self.get(name)
        alias = latest.config.raw.get("AutoPublishAlias")
        if not isinstance(alias, str) or not alias:
            return None
        version = publish_version(latest)
        if alias in latest.aliases:
            # as a SAM deploy does: the alias moves once the new version is Active (a SnapStart
            # version after its snapshot; one that fails leaves the alias where it was)
            def move() -> None:
                if alias in latest.aliases:
                    update_alias(latest, alias, version.version)

            if not self.snapstart.published(version, when_active=move):
                move()
        else:
            self.snapstart.published(version)
            create_alias(latest, alias, version.version)  # SnapStartNotReady until Active
        provisioned = latest.config.raw.get("ProvisionedConcurrencyConfig")
        if isinstance(provisioned, dict) and "ProvisionedConcurrentExecutions" in provisioned:
            # SAM puts it on the alias: its environments follow the alias to the new version
            count = provisioned["ProvisionedConcurrentExecutions"]
            current = latest.provisioned.get(alias)
            if current is None or current.version != version.version:
                self.provisioned.put(latest, latest.arn, alias, _int_or(count))
        return version

    def delete_version(self, name: str, qualifier: str) -> None:
        """A version that is not there is no error (Lambda's DeleteFunction is idempotent
        for qualifiers: LocalStack's snapshot test_delete_on_nonexisting_version)."""
        latest = self.get(name)
        version = latest.versions.get(qualifier)
        if version is None:
            return
        users = [a.name for a in latest.aliases.values()
                 if qualifier in (a.function_version, *a.weights)]  # fmt: skip
        if users:
            raise ResourceConflictException(
                f"Unable to delete version because the following aliases reference it: {users}"
            )
        del latest.versions[qualifier]
        latest.event_configs.pop(qualifier, None)
        self._retire(version)

    # functions created through the API -----------------------------------------------------
    async def create_function(self, params: dict[str, Any]) -> FunctionState:
        """CreateFunction: answered at once, Pending; Active when the code is built."""
        if self.code_builder is None:
            raise InvalidParameterValueException("This sandbox cannot build functions.")
        name, qualifier = parse_name(
            str(params.get("FunctionName", "")), None, self.aws.region, create=True
        )
        if qualifier is not None:
            raise InvalidParameterValueException(
                "Function name can not contain a qualifier when creating a function."
            )
        check_parameters(params, self.limits)
        if name in self.functions:
            raise ResourceConflictException(f"Function already exist: {name}")
        code = zip_of(dict(params.get("Code") or {}), self._unzipped_limit, self.fetch_s3)
        zip_path = self.store.save(name, {**params, "FunctionName": name}, code)
        try:
            config = config_from_parameters(
                {**params, "FunctionName": name}, zip_path, zip_path.with_name("function.json"),
                self.limits,
            )  # fmt: skip
        except ConfigError as exc:
            self.store.delete(name)
            raise InvalidParameterValueException(str(exc)) from exc
        state = self.register(config, zip_path.parent)
        state.created_by_api = True
        mark_pending(state)
        published = None
        if params.get("Publish"):
            published = publish_version(state, None)
            mark_pending(published)
        self._spawn(self._build(state, config, published))
        return published or state

    async def _build(
        self, state: FunctionState, config: FunctionConfig, published: FunctionState | None
    ) -> None:
        assert self.code_builder is not None
        try:
            bundle_dir, filesystem = await self.code_builder(config)
        except SandboxError as exc:
            mark_failed(state, str(exc))
            return
        if self.functions.get(config.name) is not state:
            return  # deleted (or replaced) meanwhile
        was_pending = state.state == "Pending"
        state = self.register(config, bundle_dir, filesystem)
        state.created_by_api = True
        (mark_active if was_pending else mark_updated)(state)
        if published is not None:
            published.bundle_dir, published.filesystem = bundle_dir, filesystem
            published.code_size, published.code_sha256 = state.code_size, state.code_sha256
            mark_active(published)  # a version made with the function: Active when it is
        await self.pool.retire_idle(state)

    async def update_function_code(self, name: str, params: dict[str, Any]) -> FunctionState:
        """UpdateFunctionCode: InProgress until the new code is built, then Successful."""
        if self.code_builder is None:
            raise InvalidParameterValueException("This sandbox cannot build functions.")
        state = self.get(name)
        check_revision(state.revision_id, params.get("RevisionId"))
        self._not_updating(state)
        code = zip_of(params, self._unzipped_limit, self.fetch_s3)
        stored = {**function_parameters(state), "FunctionName": state.name}
        config = state.config.with_updates(code_dir=self.store.save(state.name, stored, code))
        mark_updating(state)
        published = None
        if params.get("Publish"):
            await self._build(state, config, None)
            published = publish_version(self.get(name))
            return published
        self._spawn(self._build(state, config, published))
        return state

    async def delete_function(self, name: str, qualifier: str | None = None) -> None:
        _, qualifier = parse_name(name, qualifier, self.aws.region)
        if qualifier == LATEST:  # checked before the function's existence, as AWS does
            raise InvalidParameterValueException(
                "$LATEST version cannot be deleted without deleting the function."
            )
        latest = self.get(name)
        if qualifier is not None:
            self.delete_version(latest.name, qualifier)
            return
        self.registry.remove(latest.name)
        latest.log.close()
        self.store.delete(latest.name)
        self.specs.forget(latest.name)
        self.concurrency.recount(self.functions.values())
        for version in latest.all_versions():
            self._retire(version)

    def _retire(self, state: FunctionState) -> None:
        self.lifecycle.finish_pending(state)
        for env in [*state.idle]:
            self._spawn(env.kill())
        state.idle.clear()
        if state.snapshot is not None:
            self._spawn(self.snapstart.retire(state))

    def load_stored_functions(self) -> list[tuple[dict[str, Any], Path]]:
        """The functions created through the API in an earlier run (to register again)."""
        return self.store.load()

    # environments --------------------------------------------------------------------------
    def spec(self, state: FunctionState) -> EnvironmentSpec:
        return self.specs.of(state)

    def fidelity_note(self, state: FunctionState) -> str | None:
        return self.specs.fidelity_note(state)

    # invoke --------------------------------------------------------------------------------
    async def invoke(
        self,
        name: str,
        payload: bytes,
        *,
        invocation_type: str = "RequestResponse",
        log_type: str | None = None,
        client_context: str | None = None,
        on_stream: Callable[[ResponseStream], None] | None = None,
        qualifier: str | None = None,
    ) -> InvokeOutcome:
        """Invoke `name` (at `qualifier`: $LATEST, a version or an alias). A function that
        streams its response hands the stream to `on_stream` as soon as it starts
        (InvokeWithResponseStream, streaming function URLs); without `on_stream` the stream
        is buffered into the payload, as Invoke does."""
        state, invoked_arn = self.registry.resolve(name, qualifier, invoke=True)
        client_context = decode_client_context(client_context)
        self.snapstart.check_ready(state)
        if state.function.state != "Active":
            raise ResourceConflictException(
                "The operation cannot be performed at this time. The function is currently in "
                f"the following state: {state.function.state}"
            )
        is_event = invocation_type == "Event"
        if is_event and len(payload) > self._async_request_bytes:
            raise RequestEntityTooLargeException(
                f"{len(payload)} byte payload is too large for the Event invocation type "
                f"(limit {self._async_request_bytes} bytes)"
            )
        payload = check_payload(payload, self._sync_request_bytes)
        if invocation_type == "DryRun":
            return InvokeOutcome(request_id=str(uuid.uuid4()), status=204)
        if is_event:
            return InvokeOutcome(
                request_id=self.events.submit(state, payload, invoked_arn), status=202
            )
        self.concurrency.acquire(state)
        try:
            return await self.lifecycle.run(
                state, payload, str(uuid.uuid4()), log_type, client_context, on_stream,
                invoked_arn,
            )  # fmt: skip
        finally:
            self.concurrency.release(state)

    async def _start_provisioned(self, state: FunctionState) -> Environment | None:
        """One initialized provisioned environment (None when its INIT failed)."""
        env = await self.cold_starts.start_env(state, provisioned=True)
        outcome = await env.wait_init(float(self.limits.q("init", "provisioned_s")))
        if outcome is None or not outcome.ok:
            await env.kill()
            return None
        return env

    def resume_events(self, is_alive: Callable[[str], bool]) -> tuple[int, dict[str, int]]:
        """Queue again the async events that stopped or crashed runs accepted and did not
        finish: (resumed, {function: kept} for functions not served now)."""
        resumed, kept = 0, dict[str, int]()
        for record in self.events.journal.left_behind(is_alive):
            try:
                state, _ = self.registry.resolve(record.invoked_arn, None, invoke=True)
            except LambdaAPIError:
                kept[record.function] = kept.get(record.function, 0) + 1
                continue
            self.events.resume(state, record)
            resumed += 1
        return resumed, kept

    async def _invoke_destination(self, arn: str, record: bytes) -> None:
        """An outcome record to a function destination: an asynchronous event of its own."""
        try:
            await self.invoke(arn, record, invocation_type="Event")
        except LambdaAPIError as exc:
            log.warning("destination %s not delivered: %s", arn, exc)

    # background work -----------------------------------------------------------------------
    def _schedule_flush(self) -> None:
        """Log files are flushed a moment after writes, off the invoke's hot path."""
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_later(0.2, self._flush_logs)

    def _flush_logs(self) -> None:
        self._flush_handle = None
        for state in self.functions.values():
            state.log.flush()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Kill every environment and stop background work; nothing is left behind (queued
        async events stay in the journal for the next start)."""
        self.events.closed = True
        for state in self.registry.all_states():
            self.lifecycle.finish_pending(state)
        envs = await self.pool.close() + await self.provisioned.close()
        await asyncio.gather(*(e.kill() for e in envs), return_exceptions=True)
        snapshots = [self.snapstart.retire(s) for s in self.registry.all_states() if s.snapshot]
        await asyncio.gather(*snapshots, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        for f in self.functions.values():
            f.log.close()
        await self.backend.close()


def _int_or(value: object) -> object:
    """A template's number, which may arrive as a string ("2"); anything else as it is (the
    API's validation answers for it)."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value
