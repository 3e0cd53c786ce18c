"""What the `sandbox` commands share: output for people and pipes, the options every command
takes the same way, finding a running sandbox, and progress.

Output: data (a payload, a table, JSON) goes to stdout, everything else (progress, logs,
warnings, errors) to stderr. A table uses the terminal's width; piped, it prints every value
whole (`--output json` prints the data as JSON instead). Progress is a rich status or bar in a
terminal and plain lines otherwise (CI, compose logs), at most one every few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console
from rich.markup import escape

from lambda_sandbox.exceptions import SandboxError

__all__ = [
    "Project",
    "console",
    "endpoint_option",
    "err",
    "fail",
    "find_url",
    "lambda_client",
    "output_option",
    "progress",
    "progress_bar",
    "project_options",
    "read_payload",
    "run_async",
    "sandbox_for",
    "select",
]

F = TypeVar("F", bound=Callable[..., Any])
WIDE = 10_000  # a table's width when stdout is not a terminal: every value whole


def _console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=WIDE, soft_wrap=True)


console = _console()
err = _console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    # the message is text, not markup: "[x86_64] or [arm64]" must survive
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True)
    sys.exit(code)


def select(configs: list[Any], function: str | None, where: str) -> list[Any]:
    """All of `configs`, or only FUNCTION's (exits with an error when there is none)."""
    if not function:
        return configs
    chosen = [c for c in configs if c.name == function]
    if not chosen:
        names = ", ".join(c.name for c in configs) or "none"
        fail(f"no function {function!r} {where} (there: {names})")
    return chosen


def run_async(coro: Any) -> None:
    try:
        import uvloop

        uvloop.run(coro)
    except ImportError:
        asyncio.run(coro)


def read_payload(payload: str) -> bytes:
    """--payload: JSON text, '@file' for a file's bytes, '-' for stdin's."""
    if payload == "-":
        return sys.stdin.buffer.read()
    if payload.startswith("@"):
        path = Path(payload[1:])
        if not path.is_file():
            fail(f"--payload {payload}: no such file")
        return path.read_bytes()
    return payload.encode()


# ------------------------------------------------------------------------ shared options
@dataclass(frozen=True)
class Project:
    """Where a command reads functions from: a folder of function.yaml folders, or a SAM
    template (./template.yaml is used when neither is given), with the template's parameter
    values and the local stand-ins for layers given by ARN."""

    functions_dir: Path
    template: Path | None
    parameter_overrides: tuple[str, ...] = ()
    layers: tuple[str, ...] = ()  # ARN=PATH

    @property
    def where(self) -> str:
        return f"in {self.template}" if self.template else f"in {self.functions_dir}"

    def configs(self) -> list[Any]:
        from lambda_sandbox.config import discover_functions, load_sam_template

        if self.template is not None:
            return load_sam_template(
                self.template, parameters=self.parameters(), layer_arns=self.layer_arns()
            )
        return discover_functions(self.functions_dir)

    def parameters(self) -> dict[str, str] | None:
        from lambda_sandbox.config.sam import parse_parameter_overrides

        if self.template is None:
            return None
        return parse_parameter_overrides(self.parameter_overrides, self.template)

    def layer_arns(self) -> dict[str, str]:
        mapping = {}
        for entry in self.layers:
            arn, sep, path = entry.rpartition("=")
            if not sep or not arn.startswith("arn:") or not path:
                fail(f"--layer {entry!r}: give ARN=PATH (a local folder or .zip for the layer)")
            mapping[arn] = path
        return mapping

    def sandbox_options(self, **options: Any) -> Any:
        """SandboxOptions serving this project."""
        from lambda_sandbox.runner import SandboxOptions

        return SandboxOptions(
            functions_dir=self.functions_dir,
            template=self.template,
            parameters=self.parameters(),
            layer_arns=self.layer_arns(),
            **options,
        )


def _project(
    functions: Path | None,
    template: Path | None,
    overrides: tuple[str, ...],
    layers: tuple[str, ...],
) -> Project:
    if functions is not None and template is not None:
        fail("give --functions or --template, not both")
    if template is None and functions is None:
        for name in ("template.yaml", "template.yml"):
            if Path(name).is_file():
                template = Path(name)
                break
    return Project(functions or Path("functions"), template, overrides, layers)


def project_options(command: F) -> F:
    """--functions DIR | --template FILE (default: ./template.yaml if there is one, else
    functions/), --parameter-overrides and --layer ARN=PATH: the command gets them as one
    `project: Project` argument."""

    @functools.wraps(command)
    def with_project(
        *args: Any,
        functions_dir: Path | None,
        template: Path | None,
        parameter_overrides: tuple[str, ...],
        layers: tuple[str, ...],
        **kwargs: Any,
    ) -> Any:
        project = _project(functions_dir, template, parameter_overrides, layers)
        return command(*args, project=project, **kwargs)

    wrapped: Any = with_project
    wrapped = click.option(
        "--layer",
        "layers",
        multiple=True,
        metavar="ARN=PATH",
        help="A layer given by ARN, as a local folder or .zip (repeatable; also read from "
        "layers.toml beside the template).",
    )(wrapped)
    wrapped = click.option(
        "--parameter-overrides",
        "parameter_overrides",
        multiple=True,
        help="Template parameters, as SAM takes them: 'Key=Value Key2=Value2' or "
        "'ParameterKey=Key,ParameterValue=Value' (repeatable; also read from samconfig.toml).",
    )(wrapped)
    wrapped = click.option(
        "--template",
        "-t",
        type=click.Path(path_type=Path, exists=True, dir_okay=False),
        default=None,
        help="An AWS SAM template (default: ./template.yaml when there is one).",
    )(wrapped)
    wrapped = click.option(
        "--functions",
        "functions_dir",
        type=click.Path(path_type=Path),
        default=None,
        help="A folder of functions, one folder with a function.yaml each [default: functions].",
    )(wrapped)
    return wrapped


def endpoint_option(command: F) -> F:
    return click.option(
        "--endpoint",
        default=None,
        envvar="SANDBOX_URL",
        help="A running sandbox's URL (default: $SANDBOX_URL, else the `sandbox up` serving this "
        "folder, else the only one running).",
    )(command)


def output_option(command: F) -> F:
    return click.option(
        "--output",
        "-o",
        type=click.Choice(["table", "json"]),
        default="table",
        show_default=True,
        help="A table for people, or JSON for scripts.",
    )(command)


# ------------------------------------------------------------------ finding a sandbox
def find_url(endpoint: str | None) -> str | None:
    from lambda_sandbox.discovery import find_running

    try:
        return find_running(endpoint)
    except SandboxError as exc:
        fail(str(exc))


def sandbox_for(function: str, endpoint: str | None, project: Project) -> tuple[str, Any]:
    """The sandbox to talk to: a running one (see `find_url`), or a throwaway one serving
    just FUNCTION (returned too, so the caller stops it)."""
    url = find_url(endpoint)
    if url is not None:
        return url, None
    from lambda_sandbox.runner import SandboxThread

    backend = os.environ.get("SANDBOX_BACKEND") or "process"
    configs = {c.name: c for c in project.configs()}
    if function in configs and configs[function].is_image and backend != "docker":
        err.print(f"{function} is an image function: it runs on the docker backend")
        backend = "docker"
    options = project.sandbox_options(only=[function], port=0, aws_port=0, backend=backend)
    with progress("starting a throwaway sandbox") as say:
        thread = SandboxThread(options).start(say)
    return thread.url, thread


def lambda_client(url: str) -> Any:
    from lambda_sandbox.client import lambda_client as client_for

    return client_for(url)


# ----------------------------------------------------------------------------- progress
class _PlainLines:
    """Progress as plain lines on stderr: the first message, then at most one line every
    `interval_s`, and the last one (CI logs stay short and still show it is moving)."""

    def __init__(self, label: str, interval_s: float) -> None:
        self.label = label
        self.interval_s = interval_s
        self._last = 0.0
        self._pending: str | None = None

    def __call__(self, message: str, fraction: float | None = None) -> None:
        now = time.monotonic()
        if fraction is not None:
            message = f"{message} ({fraction:.0%})"
        if now - self._last >= self.interval_s:
            self._emit(message)
            self._last = now
            self._pending = None
        else:
            self._pending = message

    def _emit(self, message: str) -> None:
        print(f"[{self.label}] {message}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._pending:
            self._emit(self._pending)


def _interactive() -> bool:
    return sys.stderr.isatty() and os.environ.get("CI") != "true"


@contextlib.contextmanager
def progress(label: str, interval_s: float = 2.0) -> Iterator[Callable[[str], None]]:
    """Long work's messages: a rich status in a terminal, plain lines otherwise."""
    if _interactive():
        with err.status(label) as status:
            yield lambda message: status.update(message)
        return
    plain = _PlainLines(label.split(":")[0], interval_s)
    plain(label)
    try:
        yield plain
    finally:
        plain.close()


@contextlib.contextmanager
def progress_bar(label: str, interval_s: float = 2.0) -> Iterator[Callable[[str, float], None]]:
    """Long work with a known fraction done (tune, fit): a bar, or plain lines."""
    if _interactive():
        from rich.progress import Progress

        with Progress(console=err) as bar:
            task = bar.add_task(label, total=1.0)
            yield lambda message, fraction: bar.update(
                task, completed=fraction, description=message
            )
        return
    plain = _PlainLines(label.split(" ")[0], interval_s)
    plain(label)
    try:
        yield plain
    finally:
        plain.close()
