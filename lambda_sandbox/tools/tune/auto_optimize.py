"""`sandbox tune --auto-optimize`: write the chosen MemorySize into the function's definition.

Power Tuning's autoOptimize updates the deployed function; here the source of truth is the
project: the function's function.yaml, or its resource in the SAM template, is edited in place
(only the one `MemorySize:` line is changed or added, so comments and layout stay), checked by
reading the definition again, and the change is returned as a unified diff to show.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from lambda_sandbox.config import FunctionConfig, load_function, load_sam_template
from lambda_sandbox.exceptions import ConfigError

__all__ = ["write_memory_size"]

_KEY = re.compile(r"^(?P<indent>\s*)MemorySize\s*:\s*(?P<value>[^#\n]*?)\s*(?P<comment>#.*)?$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _in_function_yaml(lines: list[str], memory_mb: int) -> list[str]:
    for i, line in enumerate(lines):
        match = _KEY.match(line)
        if match and not match["indent"]:
            comment = f"  {match['comment']}" if match["comment"] else ""
            lines[i] = f"MemorySize: {memory_mb}{comment}"
            return lines
    return [*lines, f"MemorySize: {memory_mb}"]


def _in_template(lines: list[str], logical_id: str, memory_mb: int) -> list[str]:
    """The MemorySize of resource `logical_id` (under Resources: -> Properties:)."""
    start = next(
        (i for i, ln in enumerate(lines) if re.match(rf"^\s+{re.escape(logical_id)}\s*:", ln)),
        None,
    )
    if start is None:
        raise ConfigError(f"no resource {logical_id} in the template")
    base = _indent(lines[start])
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i].strip() and _indent(lines[i]) <= base),
        len(lines),
    )
    props = next(
        (i for i in range(start + 1, end) if re.match(r"^\s+Properties\s*:\s*$", lines[i])), None
    )
    if props is None:
        raise ConfigError(f"resource {logical_id} has no Properties block to set MemorySize in")
    inner = next(
        (_indent(lines[i]) for i in range(props + 1, end) if lines[i].strip()),
        _indent(lines[props]) + 2,
    )
    for i in range(props + 1, end):
        match = _KEY.match(lines[i])
        if match and len(match["indent"]) == inner:
            comment = f"  {match['comment']}" if match["comment"] else ""
            lines[i] = f"{match['indent']}MemorySize: {memory_mb}{comment}"
            return lines
    return [*lines[: props + 1], f"{' ' * inner}MemorySize: {memory_mb}", *lines[props + 1 :]]


def write_memory_size(config: FunctionConfig, memory_mb: int) -> tuple[Path, str]:
    """Set `config`'s MemorySize in its definition file; returns (the file, the diff)."""
    path = config.source
    before = path.read_text()
    lines = before.splitlines()
    if path.name == "function.yaml":
        after_lines = _in_function_yaml(lines, memory_mb)
    else:
        after_lines = _in_template(lines, config.logical_id or config.name, memory_mb)
    after = "\n".join(after_lines) + ("\n" if before.endswith("\n") else "")
    if after == before:
        return path, ""
    path.write_text(after)
    try:  # the edit must read back as the value asked for
        if path.name == "function.yaml":
            reread = load_function(path.parent)
        else:
            (reread,) = [c for c in load_sam_template(path) if c.name == config.name]
        if reread.memory_mb != memory_mb:
            raise ConfigError(f"MemorySize reads back as {reread.memory_mb}, not {memory_mb}")
    except (ConfigError, ValueError) as exc:
        path.write_text(before)
        raise ConfigError(f"{path}: could not set MemorySize to {memory_mb}: {exc}") from exc
    diff = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), str(path), str(path)
    )
    return path, "".join(diff)
