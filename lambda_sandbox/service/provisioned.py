"""Provisioned concurrency: environments initialized ahead of traffic, per version or alias.

PutProvisionedConcurrencyConfig on a published version or an alias keeps that many
environments of its version initialized: INIT at the tier's own CPU share (provisioned
concurrency gets no on-demand burst) under the 130 s limit, with
AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency. An invoke takes a free provisioned
environment first (no cold start, no Init Duration in its REPORT); when every one is busy it
spills over to on-demand, counted (ProvisionedConcurrencySpilloverInvocations). A provisioned
environment that dies is replaced. The rules and errors are AWS's (LocalStack's snapshot tests
TestLambdaProvisionedConcurrency, recorded against AWS).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from lambda_sandbox.config.function import SNAPSTART_PROVISIONED
from lambda_sandbox.environments.base import Environment
from lambda_sandbox.exceptions import (
    InvalidParameterValueException,
    LambdaAPIError,
    ResourceConflictException,
    ResourceNotFoundException,
    ValidationException,
)
from lambda_sandbox.service.function_state import LATEST, FunctionState

__all__ = ["ProvisionedConfig", "ProvisionedConfigNotFound", "ProvisionedPool"]

UNPUBLISHED_PUT = (
    "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
)
UNPUBLISHED = "The function resource provided must be an alias or a published version."
ALIAS_ON_PROVISIONED_VERSION = (
    "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned "
    "version"
)
VERSION_UNDER_ALIAS = "Version is pointed by a Provisioned Concurrency alias"

StartEnv = Callable[[FunctionState], Awaitable[Environment | None]]


class ProvisionedConfigNotFound(LambdaAPIError):
    status = 404
    error_type = "ProvisionedConcurrencyConfigNotFoundException"
    kind = "User"

    def __init__(self) -> None:
        super().__init__("No Provisioned Concurrency Config found for this function")


@dataclass(eq=False)
class ProvisionedConfig:
    qualifier: str  # the version number or alias it was put on
    version: str  # the version its environments run
    requested: int
    modified: float = field(default_factory=time.time)
    status: str = "IN_PROGRESS"
    reason: str | None = None
    idle: list[Environment] = field(default_factory=list)
    busy: set[Environment] = field(default_factory=set)
    max_busy: int = 0

    @property
    def allocated(self) -> int:
        return len(self.idle) + len(self.busy)

    def body(self, arn: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "RequestedProvisionedConcurrentExecutions": self.requested,
            "AvailableProvisionedConcurrentExecutions": self.allocated,
            "AllocatedProvisionedConcurrentExecutions": self.allocated,
            "Status": self.status,
            "LastModified": time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(self.modified)),
        }
        if self.reason:
            out["StatusReason"] = self.reason
        if arn is not None:
            out["FunctionArn"] = arn
        return out


def _target(latest: FunctionState | None, arn: str, qualifier: str | None, put: bool) -> str:
    """The version a qualifier names (its errors as AWS words them)."""
    if qualifier in (None, LATEST):
        if latest is None:
            raise ResourceNotFoundException(f"Function not found: {arn}")
        raise InvalidParameterValueException(UNPUBLISHED_PUT if put else UNPUBLISHED)
    assert qualifier is not None
    if qualifier.isdigit():
        if latest is None or qualifier not in latest.versions:
            raise ResourceNotFoundException(f"Function not found: {arn}:{qualifier}")
        return qualifier
    alias = latest.aliases.get(qualifier) if latest is not None else None
    if alias is None:
        raise ResourceNotFoundException(f"Cannot find alias arn: {arn}:{qualifier}")
    return alias.function_version


class ProvisionedPool:
    """Every function's provisioned configurations and their environments."""

    def __init__(self, start_env: StartEnv, spawn: Callable[[Any], None]) -> None:
        self._start_env = start_env
        self._spawn = spawn
        self._owner: dict[Environment, ProvisionedConfig] = {}
        self.closed = False
        self._tasks: set[asyncio.Task[None]] = set()  # provisioning under way

    # the API -------------------------------------------------------------------------------
    def put(
        self, latest: FunctionState | None, arn: str, qualifier: str | None, count: object
    ) -> ProvisionedConfig:
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ValidationException(
                count, "provisionedConcurrentExecutions",
                "Member must have value greater than or equal to 1",
            )  # fmt: skip
        version = _target(latest, arn, qualifier, put=True)
        assert latest is not None and qualifier is not None
        if latest.versions[version].config.snap_start:
            raise InvalidParameterValueException(SNAPSTART_PROVISIONED)
        configs: dict[str, ProvisionedConfig] = latest.provisioned
        for other in configs.values():
            if other.qualifier != qualifier and other.version == version:
                raise ResourceConflictException(
                    VERSION_UNDER_ALIAS if qualifier.isdigit() else ALIAS_ON_PROVISIONED_VERSION
                )
        old = configs.pop(qualifier, None)
        if old is not None:
            self._drop(old)
        config = ProvisionedConfig(qualifier, version, count)
        configs[qualifier] = config
        self._start(self._provision(latest.versions[version], config))
        return config

    def get(
        self, latest: FunctionState | None, arn: str, qualifier: str | None
    ) -> ProvisionedConfig:
        _target(latest, arn, qualifier, put=False)
        assert latest is not None and qualifier is not None
        config = latest.provisioned.get(qualifier)
        if config is None:
            raise ProvisionedConfigNotFound()
        return config

    def delete(self, latest: FunctionState | None, arn: str, qualifier: str | None) -> None:
        _target(latest, arn, qualifier, put=False)
        assert latest is not None and qualifier is not None
        config = latest.provisioned.pop(qualifier, None)
        if config is not None:  # none there: 204 all the same
            self._drop(config)

    def forget_alias(self, latest: FunctionState, alias: str) -> None:
        """An alias is deleted: its configuration goes with it."""
        config = latest.provisioned.pop(alias, None)
        if config is not None:
            self._drop(config)

    # the invoke path ---------------------------------------------------------------------
    def configured(self, state: FunctionState) -> ProvisionedConfig | None:
        config: ProvisionedConfig
        for config in state.function.provisioned.values():
            if config.version == state.version:
                return config
        return None

    def take(self, state: FunctionState) -> Environment | None:
        """A free initialized environment of the version, or None (spill over)."""
        config = self.configured(state)
        if config is None:
            return None
        while config.idle:
            env = config.idle.pop()
            if env.alive:
                config.busy.add(env)
                config.max_busy = max(config.max_busy, len(config.busy))
                return env
            self._owner.pop(env, None)
            self._start(self._replace(state, config))
        return None

    def owns(self, env: Environment) -> bool:
        return env in self._owner

    def put_back(self, state: FunctionState, env: Environment, reusable: bool) -> None:
        config = self._owner.get(env)
        if config is None:
            return
        config.busy.discard(env)
        if reusable and env.alive and config in state.function.provisioned.values():
            config.idle.append(env)
            return
        self._owner.pop(env, None)
        if env.alive:
            self._spawn(env.kill())
        if config in state.function.provisioned.values():
            self._start(self._replace(state, config))

    def in_use(self, latest: FunctionState) -> tuple[int, int, int]:
        """(busy now, allocated, most busy at once) over the function's configurations."""
        configs = list(latest.provisioned.values())
        return (
            sum(len(c.busy) for c in configs),
            sum(c.allocated for c in configs),
            sum(c.max_busy for c in configs),
        )

    async def close(self) -> list[Environment]:
        """Stop provisioning (an environment being started is let finish: cancelling a
        start half-way would leak its process) and hand back every environment to kill."""
        self.closed = True
        running = [t for t in self._tasks if not t.done()]
        if running:
            _, late = await asyncio.wait(running, timeout=15)
            for task in late:
                task.cancel()
        envs = list(self._owner)
        self._owner.clear()
        return envs

    # provisioning --------------------------------------------------------------------------
    async def _provision(self, state: FunctionState, config: ProvisionedConfig) -> None:
        results = await asyncio.gather(
            *(self._one(state, config) for _ in range(config.requested)), return_exceptions=True
        )
        failed = [r for r in results if r is not True]
        config.status = "FAILED" if failed else "READY"
        if failed:
            config.reason = "FUNCTION_ERROR_INIT_FAILURE"

    async def _one(self, state: FunctionState, config: ProvisionedConfig) -> bool:
        if self.closed:
            return False
        env = await self._start_env(state)
        if env is None:
            return False
        if self.closed or config not in state.function.provisioned.values():  # deleted
            await env.kill()
            return False
        self._owner[env] = config
        config.idle.append(env)
        return True

    async def _replace(self, state: FunctionState, config: ProvisionedConfig) -> None:
        with contextlib.suppress(LambdaAPIError):
            await self._one(state, config)

    def _start(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _drop(self, config: ProvisionedConfig) -> None:
        # an environment still being started is killed when it is up (_one), not cancelled
        for env in config.idle:  # a busy one finishes its invoke, then goes (put_back)
            self._owner.pop(env, None)
            self._spawn(env.kill())
        config.idle.clear()
