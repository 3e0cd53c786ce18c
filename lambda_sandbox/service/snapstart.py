"""SnapStart: a published version of a function with `SnapStart: {ApplyOn: PublishedVersions}`
is initialized once, when it is published, and its new environments are restored from that
snapshot instead of running INIT.

As on Lambda: publishing answers at once with the version `Pending` (invokes get
SnapStartNotReadyException) and runs INIT with `AWS_LAMBDA_INITIALIZATION_TYPE=snap-start`, at
the tier's own CPU share, within 130 s or the function timeout, whichever is higher, then the
before-snapshot hooks; the INIT output and an INIT_REPORT go to the function's log, and the
version becomes `Active` (or `Failed`, with the reason). `$LATEST` never uses a snapshot. A cold
start of the version restores: REPORT has Restore Duration and Billed Restore Duration instead
of Init Duration; an after-restore hook that fails answers SnapStartException, one that runs
past 10 s SnapStartTimeoutException. The log group and stream variables are not set, as
Lambda documents for SnapStart functions.

Uniqueness (AWS's "Handling uniqueness with Lambda SnapStart"): each restore reports the state
it starts its first invoke with; when Python's `random` or numpy's global generator is in the
same state as in another restore of the snapshot, when network connections opened at INIT are
still open, or when INIT left files in /tmp, the invoke's log gets a SANDBOX warning that says
what to do, and SnapStartUniquenessWarnings counts it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Coroutine
from typing import Any

from lambda_sandbox.config.function import snapstart_runtime as supported_runtime
from lambda_sandbox.environments.base import Backend, Environment
from lambda_sandbox.environments.process import ProcessBackend
from lambda_sandbox.environments.snapshots import RestoredEnvironment, take_snapshot
from lambda_sandbox.exceptions import (
    BackendError,
    ResourceConflictException,
    ServiceException,
    SnapStartException,
    SnapStartNotReadyException,
    SnapStartTimeoutException,
)
from lambda_sandbox.limits import Limits
from lambda_sandbox.log_lines import init_report_line, sandbox_line
from lambda_sandbox.service.environment_variables import new_env_id
from lambda_sandbox.service.function_state import LATEST, FunctionState
from lambda_sandbox.types import EnvironmentSpec, InitOutcome

__all__ = ["INITIALIZATION_TYPE", "SnapStart", "supported_runtime", "uniqueness_warnings"]

INITIALIZATION_TYPE = "snap-start"
NOT_READY = (
    "Lambda is initializing your function. It will be ready to invoke once your function "
    "state becomes ACTIVE."
)
NATIVE_THREADS = (
    "SnapStart: {} native thread(s) (a native library's pool) were running at the end of INIT; "
    "environments restored from this snapshot start without them. A library that does the "
    "work on the calling thread when its workers are gone keeps working (onnxruntime's CPU pool "
    "does); one that waits for them would hang until the function times out: create such "
    "pools in an after-restore hook (snapshot_restore_py.register_after_restore)"
)
_HOOKS = "an after-restore hook (snapshot_restore_py.register_after_restore)"
_UNSET = ("AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME")


def uniqueness_warnings(
    seen: dict[str, set[str]], facts: dict[str, Any] | None, tmp_files: list[str]
) -> list[str]:
    """What this restore shares with the snapshot's others (and records its state in `seen`)."""
    if facts is None:
        return []
    notes = []
    for key, what in (("random", "Python's random module"), ("numpy", "numpy.random")):
        value = facts.get(key)
        if not isinstance(value, str):
            continue
        if value in seen.setdefault(key, set()):
            notes.append(
                f"SnapStart uniqueness: {what} is in the same state as in another environment "
                f"restored from this snapshot, so they draw the same numbers: re-seed it in "
                f"{_HOOKS}, or use os.urandom / secrets"
            )
        seen[key].add(value)
    connections = facts.get("connections")
    if isinstance(connections, int) and connections > 0:
        notes.append(
            f"SnapStart uniqueness: {connections} network connection(s) opened during INIT are "
            f"in the snapshot and shared by every restored environment: open them in {_HOOKS} "
            "or on first use"
        )
    if tmp_files:
        shown = ", ".join(tmp_files[:5])
        notes.append(
            f"SnapStart uniqueness: files INIT wrote to /tmp are in the snapshot ({shown}): "
            f"every restored environment starts with them; write them in {_HOOKS} if they "
            "must differ"
        )
    return notes


class SnapStart:
    def __init__(
        self,
        backend: Backend,
        spec_of: Callable[[FunctionState], EnvironmentSpec],
        limits: Limits,
        spawn: Callable[[Coroutine[Any, Any, Any]], None],
    ) -> None:
        self.backend = backend
        self.spec_of = spec_of
        self.limits = limits
        self.spawn = spawn

    @property
    def available(self) -> bool:
        """Snapshots need the process backend (a fork of the initialized runtime)."""
        return isinstance(self.backend, ProcessBackend)

    def applies(self, version: FunctionState) -> bool:
        cfg = version.config
        return (
            version.version != LATEST and cfg.snap_start and supported_runtime(cfg.runtime)
        ) and self.available

    def spec(self, state: FunctionState) -> EnvironmentSpec:
        """A SnapStart environment: the tier's own CPU share at INIT (no on-demand burst)."""
        spec = self.spec_of(state)
        variables = {k: v for k, v in spec.environment.items() if k not in _UNSET}
        variables["AWS_LAMBDA_INITIALIZATION_TYPE"] = INITIALIZATION_TYPE
        return dataclasses.replace(spec, environment=variables, init_vcpus=spec.vcpus)

    # publish ------------------------------------------------------------------------------
    def published(
        self, version: FunctionState, when_active: Callable[[], None] | None = None
    ) -> bool:
        """A version was published: take its snapshot (the version is Pending until then), and
        call `when_active` once it is taken. False when there is no snapshot to take."""
        if not self.applies(version) or version.snapshot is not None or version.state != "Active":
            return False
        version.state = "Pending"
        version.state_reason = "Lambda is creating a snapshot of the initialized function."
        version.state_reason_code = "Creating"
        self.spawn(self._take(version, when_active))
        return True

    async def _take(
        self, version: FunctionState, when_active: Callable[[], None] | None = None
    ) -> None:
        spec = self.spec(version)
        limit_s = max(float(self.limits.q("init", "snapstart_s")), version.config.timeout_s)
        assert isinstance(self.backend, ProcessBackend)
        try:
            snapshot, outcome = await take_snapshot(self.backend, new_env_id(), spec, limit_s)
        except Exception as exc:  # BackendError: what the function is told; else the sandbox's
            why = str(exc) if isinstance(exc, BackendError) else f"the sandbox failed: {exc!r}"
            version.log.write([init_report_line(0.0, "init", "error", None), f"SANDBOX {why}"])
            version.state, version.state_reason_code = "Failed", "FunctionError"
            version.state_reason = f"SnapStart could not snapshot this version: {why}"
            return
        lines = snapshot.template.take_output()
        if snapshot.native_threads:
            lines.append(f"SANDBOX {NATIVE_THREADS.format(snapshot.native_threads)}")
        lines.append(init_report_line(outcome.duration_ms, "init", "success", None))
        version.log.write(lines)
        version.stats.init_duration.observe(outcome.duration_ms)
        if version.function.versions.get(version.version) is not version:
            await snapshot.close()  # deleted while it initialized
            return
        version.snapshot = snapshot
        version.state, version.state_reason, version.state_reason_code = "Active", None, None
        if when_active is not None:
            when_active()

    async def retire(self, version: FunctionState) -> None:
        snapshot, version.snapshot = version.snapshot, None
        if snapshot is not None:
            await snapshot.close()

    # invoke -------------------------------------------------------------------------------
    def check_ready(self, state: FunctionState) -> None:
        if state.version == LATEST or not self.applies(state):
            return
        if state.state == "Pending":
            raise SnapStartNotReadyException(NOT_READY)
        if state.state == "Failed":
            raise ResourceConflictException(
                "The operation cannot be performed at this time. The function is currently in "
                f"the following state: Failed ({state.state_reason})"
            )

    async def restore(
        self, state: FunctionState, request_id: str
    ) -> tuple[Environment, InitOutcome, list[str]]:
        """A new environment of `state` restored from its snapshot, and the warnings for its
        first invoke's log."""
        try:
            env = await state.snapshot.restore(new_env_id(), self.spec(state))
        except BackendError as exc:
            raise ServiceException(f"Could not restore the snapshot: {exc}") from exc
        outcome = await env.wait_init(float(self.limits.q("init", "after_restore_s")))
        if outcome is None:
            await env.kill()
            raise SnapStartTimeoutException(
                "Lambda couldn't restore the snapshot within the timeout limit: the "
                "after-restore hooks ran for more than 10 s."
            )
        if not outcome.ok:
            lines = env.take_output()
            await env.kill()
            state.log.write(lines)
            detail = outcome.error_type or outcome.exit_message or "the runtime exited"
            raise SnapStartException(
                f"The after-restore runtime hook encountered an error ({detail}). For more "
                "information, check the Amazon CloudWatch logs."
            )
        state.stats.restores += 1
        state.stats.restore_duration.observe(outcome.duration_ms)
        facts = env.fingerprint if isinstance(env, RestoredEnvironment) else None
        notes = uniqueness_warnings(state.restored_states, facts, state.snapshot.tmp_files)
        if notes:
            state.stats.uniqueness_warnings += 1
        return env, outcome, [sandbox_line(request_id, note) for note in notes]
