"""What a function's execution environments are started with, and how they differ from Lambda.

`EnvironmentSpecs.of(state)` turns a function's configuration into the `EnvironmentSpec` a
backend starts: memory, /tmp, the CPU share (Lambda's MemorySize / 1,769 vCPU, capped at the
host's cores), Lambda's environment variables, pids and file limits. It is cached per
configuration generation. `note(state)` says, in one line, what on this host differs from
Lambda for the function (a capped CPU share, another Python, limits not enforced): the SANDBOX
line after each REPORT.
"""

from __future__ import annotations

import os

from lambda_sandbox.environments.base import Backend
from lambda_sandbox.limits import Limits
from lambda_sandbox.service.environment_variables import AwsSide, lambda_environment
from lambda_sandbox.service.function_state import FunctionState
from lambda_sandbox.types import EnvironmentSpec

__all__ = ["EnvironmentSpecs"]


class EnvironmentSpecs:
    def __init__(
        self, limits: Limits, aws: AwsSide, backend: Backend, host_cpus: int | None
    ) -> None:
        self.limits = limits
        self.aws = aws
        self.backend = backend
        self.host_cpus = host_cpus
        self.lambda_endpoint_url: str | None = None  # the sandbox's Lambda API, for functions
        self._specs: dict[tuple[str, str], EnvironmentSpec] = {}  # (name, version) ->
        self._notes: dict[tuple[str, str], tuple[int, str | None]] = {}

    def forget(self, name: str) -> None:
        for key in [k for k in self._specs if k[0] == name]:
            del self._specs[key]

    def of(self, state: FunctionState) -> EnvironmentSpec:
        key = (state.name, state.version)
        spec = self._specs.get(key)
        if spec is None or spec.config_generation != state.generation:
            cfg = state.config
            vcpus, _ = self.limits.host_capped_vcpus(cfg.memory_mb, self.host_cpus)
            host = self.host_cpus or os.cpu_count() or 1
            burst = float(self.limits.q("init", "on_demand_burst_vcpus"))
            init_vcpus = min(max(vcpus, burst), float(host))
            spec = EnvironmentSpec(
                function_name=cfg.name,
                handler=cfg.handler,
                runtime=cfg.runtime,
                bundle_dir=state.bundle_dir,
                memory_mb=cfg.memory_mb,
                ephemeral_mb=cfg.ephemeral_mb,
                vcpus=vcpus,
                environment=lambda_environment(
                    cfg, self.aws, vcpus, state.version, self.lambda_endpoint_url
                ),
                pids_max=self.limits.q("execution_environment", "pids_max"),
                nofile=self.limits.q("execution_environment", "nofile"),
                cpu_period_us=self.limits.q("cpu", "cfs_period_us"),
                timeout_s=cfg.timeout_s,
                config_generation=state.generation,
                init_vcpus=init_vcpus,
                overhead_mb=int(self.limits.q("memory", "runtime_overhead_mb")),
                filesystem=state.filesystem,
            )
            self._specs[key] = spec
        return spec

    def fidelity_note(self, state: FunctionState) -> str | None:
        """What differs from Lambda for this function on this host, or None."""
        want = self.limits.vcpus_for(state.config.memory_mb)
        got, capped = self.limits.host_capped_vcpus(state.config.memory_mb, self.host_cpus)
        notes = []
        if capped:
            notes.append(f"CPU capped at {got:.2f} vCPU (the tier gets {want:.2f} on Lambda)")
        if state.filesystem is not None:
            notes += state.filesystem.notes
        else:
            runtime_note = self.backend.runtime_note(state.config.runtime)
            if runtime_note:
                notes.append(runtime_note)
        enforcement = self.backend.enforcement
        if not enforcement.all_enforced:
            notes.append(f"limits not all enforced ({enforcement.summary()})")
        return "; ".join(notes) or None

    def note(self, state: FunctionState) -> str | None:
        """`fidelity_note`, cached per configuration generation (it is on every invoke)."""
        key = (state.name, state.version)
        cached = self._notes.get(key)
        if cached is None or cached[0] != state.generation:
            cached = (state.generation, self.fidelity_note(state))
            self._notes[key] = cached
        return cached[1]
