"""Hot reload for `sandbox up`: edit a handler, and the next invocation runs the new code.

`watch()` follows the functions' code folders, their layers' folders and definition files
(function.yaml, the SAM template) with watchfiles. A change rebuilds the bundle of each
function it touches (a content hash names the bundle, so an unchanged function is not
rebuilt) and hands the new bundle and configuration to the service: new invocations get
fresh environments with the new code, idle environments are retired, invocations in flight
finish on the old code. One line per reload.
A function that fails to build or to load keeps serving its last good bundle, and the line
says why. Routes and function URLs are set at start: a new route needs a restart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from pathlib import Path

from lambda_sandbox.config import FunctionConfig
from lambda_sandbox.exceptions import SandboxError
from lambda_sandbox.runner import Sandbox
from lambda_sandbox.types import Progress

__all__ = ["IGNORED_DIRS", "affected", "watch"]

# never watched: what the sandbox itself writes (.sandbox: bundles and logs), caches, VCS
IGNORED_DIRS = {".sandbox", ".aws-sam", "__pycache__", ".pytest_cache", ".git", ".venv", ".tox"}


def _under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def watched_paths(configs: Iterable[FunctionConfig]) -> list[Path]:
    paths: set[Path] = set()
    for config in configs:
        paths.add(config.code_dir)
        paths.add(config.source.parent)  # function.yaml's folder, or the template's
        paths.update(_layer_dirs(config))
    return sorted(p for p in paths if p.exists())


def _layer_dirs(config: FunctionConfig) -> list[Path]:
    return [ref.content_dir for ref in config.layers if ref.content_dir is not None]


def affected(configs: Iterable[FunctionConfig], changed: Iterable[Path]) -> tuple[set[str], bool]:
    """(the functions whose code changed, whether a definition file changed)."""
    names: set[str] = set()
    definitions = False
    for path in changed:
        if any(part in IGNORED_DIRS for part in path.parts):
            continue
        for config in configs:
            if path == config.source:
                definitions = True
                names.add(config.name)
            elif _under(path, config.code_dir) or any(
                _under(path, folder) for folder in _layer_dirs(config)
            ):
                names.add(config.name)  # its code, or one of its layers
    return names, definitions


async def reload(sandbox: Sandbox, changed: set[Path], say: Progress) -> None:
    service = sandbox.service
    assert service is not None
    current = [state.config for state in service.functions.values()]
    names, definitions = affected(current, changed)
    if not names and not definitions:
        return
    t0 = time.monotonic()
    configs = {c.name: c for c in current}
    if definitions:
        try:
            configs = {c.name: c for c in sandbox.read_configs() if c.name in service.functions}
        except SandboxError as exc:
            say(f"reload: the definitions do not load, still serving the last good ones: {exc}")
            return
    done = []
    for name in sorted(names):
        config = configs.get(name)
        if config is None:
            continue
        try:
            bundle, filesystem = await asyncio.to_thread(sandbox.build_function, config)
        except SandboxError as exc:
            say(f"reload: {name} does not build, still serving its last good bundle: {exc}")
            continue
        await service.reload(config, bundle.path, filesystem)
        service.auto_publish(name)  # AutoPublishAlias: a new version, the alias moved to it
        done.append(name)
    if done:
        ms = (time.monotonic() - t0) * 1000
        say(f"reloaded {', '.join(done)} ({ms:.0f} ms): new invocations run the new code")


async def watch(sandbox: Sandbox, stop: asyncio.Event, say: Progress) -> None:
    """Reload on every change until `stop` is set."""
    from watchfiles import DefaultFilter, awatch

    service = sandbox.service
    assert service is not None
    paths = watched_paths(state.config for state in service.functions.values())
    if not paths:
        return
    flt = DefaultFilter(ignore_dirs=tuple(IGNORED_DIRS | set(DefaultFilter.ignore_dirs)))
    async for changes in awatch(
        *paths, watch_filter=flt, stop_event=stop, debounce=200, step=50, recursive=True
    ):
        await reload(sandbox, {Path(p) for _, p in changes}, say)
