"""The environment pool: which warm environment serves an invoke, keep-alive and reaping.

Each function keeps its idle environments most recently used last; an invoke takes the most
recent live one (a dead one, killed while idle, is never handed a request: it is dropped and
the next one is tried, or the invoke becomes a cold start). After an invoke the environment goes
back unless it died, must be replaced, or belongs to an older configuration. Lambda does not
publish its keep-alive; idle environments are reaped after `keep_alive_s`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from lambda_sandbox.environments.base import Environment
from lambda_sandbox.service.function_state import FunctionState

__all__ = ["EnvironmentPool"]

Spawn = Callable[[Coroutine[Any, Any, Any]], None]


class EnvironmentPool:
    def __init__(
        self,
        functions: Callable[[], Iterable[FunctionState]],
        keep_alive_s: float,
        spawn: Spawn,
    ) -> None:
        self._functions = functions
        self.keep_alive_s = keep_alive_s
        self._spawn = spawn
        self._reaper: asyncio.Task[None] | None = None
        self.closed = False

    def take(self, state: FunctionState) -> Environment | None:
        """The most recently used live idle environment of the function's current code and
        configuration, or None (a cold start)."""
        while state.idle:
            env = state.idle.pop()
            if env.alive and env.spec.config_generation == state.generation:
                return env
            if env.alive:  # an older generation: retired
                self._spawn(env.kill())
        return None

    def put_back(self, state: FunctionState, env: Environment, reusable: bool) -> None:
        """After an invoke: back to the idle list, or killed in the background."""
        if reusable and env.alive and env.spec.config_generation == state.generation:
            env.last_used = time.monotonic()
            state.idle.append(env)
            self._ensure_reaper()
        elif env.alive:
            self._spawn(env.kill())

    async def retire_idle(self, state: FunctionState) -> None:
        """Kill `state`'s idle environments (a configuration or code change)."""
        idle, state.idle = state.idle, []
        await asyncio.gather(*(env.kill() for env in idle))

    def _ensure_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap_idle())

    async def _reap_idle(self) -> None:
        """Kill environments idle for longer than the keep-alive."""
        while not self.closed and any(f.idle for f in self._functions()):
            now = time.monotonic()
            for state in self._functions():
                stale = [e for e in state.idle if now - e.last_used > self.keep_alive_s]
                for env in stale:
                    state.idle.remove(env)
                    self._spawn(env.kill())
            await asyncio.sleep(min(5.0, max(self.keep_alive_s / 4, 0.05)))

    async def close(self) -> list[Environment]:
        """Stop reaping; returns every environment (idle and busy) for the caller to kill."""
        self.closed = True
        if self._reaper is not None:
            self._reaper.cancel()
        envs = [e for f in self._functions() for e in f.environments()]
        for f in self._functions():
            f.idle.clear()
        return envs
