"""`sandbox fit FN`: does the function's model fit Lambda, at each of its variants?

The three tables of the Llama-2/OpenVINO study (seeds/002), measured instead of estimated:
storage, peak memory and latency per variant of the model, each against Lambda's limits as
limits/lambda.toml has them, with a verdict per row. A function declares its variants (a
sandbox extension, ignored by AWS):

    Fit:
      Event: events/direct.json   # the request to measure
      Select: MODEL_FILE          # the environment variable that names the file to load
      Variants:                   # name: a file its Models build writes
        Q4_1: model.Q4_1.gguf
        F16: model.F16.gguf

Each variant runs in a throwaway sandbox at one memory size (default the function's MemorySize:
a peak that reaches it is reported as not fitting; `memory_mb` = 10,240 measures any peak Lambda
could hold, but on a small host a large size is CPU-capped and its latency shared with whatever
else runs) with Lambda's maximum timeout: the variant's file is
put in S3 beside the function's artifacts, the function is pointed at it through `Select`
(UpdateFunctionConfiguration, which retires the warm environments), then invoked cold once and
warm `invokes` times. Peak memory is the REPORT line's Max Memory Used: the cgroup's peak over
the environment's life, model loading included.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lambda_sandbox.build.bundle import build_bundle
from lambda_sandbox.build.model_artifacts import ensure_models, model_spec
from lambda_sandbox.client import invoke, lambda_client
from lambda_sandbox.config import FunctionConfig
from lambda_sandbox.exceptions import ConfigError
from lambda_sandbox.limits import Limits, load_limits
from lambda_sandbox.reports.tables import Table
from lambda_sandbox.types import ProgressFraction

__all__ = ["FitResult", "FitRow", "FitSpec", "fit", "fit_spec", "render_markdown", "rich_tables"]

MB = 1024 * 1024  # Lambda's MB are MiB


@dataclass(frozen=True)
class FitSpec:
    event: Path
    select: str
    variants: dict[str, str]  # name -> artifact file


def fit_spec(config: FunctionConfig) -> FitSpec:
    raw = config.raw.get("Fit")
    where = f"{config.source}: Fit"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: the function declares no Fit (Event, Select, Variants)")
    variants = raw.get("Variants")
    if not isinstance(variants, dict) or not variants:
        raise ConfigError(f"{where}.Variants: a mapping of variant names to model files")
    select = raw.get("Select")
    if not isinstance(select, str) or not select:
        raise ConfigError(f"{where}.Select: the environment variable that names the model file")
    event = config.folder / str(raw.get("Event", "events/direct.json"))
    if not event.is_file():
        raise ConfigError(f"{where}.Event: {event} not found")
    return FitSpec(event, select, {str(k): str(v) for k, v in variants.items()})


@dataclass
class FitRow:
    variant: str
    file: str
    size_bytes: int
    init_ms: float | None = None
    cold_duration_ms: float | None = None
    warm_p50_ms: float | None = None
    warm_max_ms: float | None = None
    max_memory_mb: int | None = None
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def size_mb(self) -> float:
        return self.size_bytes / MB


@dataclass
class FitResult:
    function: str
    memory_mb: int
    bundle_bytes: int
    invokes: int
    rows: list[FitRow]
    limits: dict[str, float]  # the Lambda limits the verdicts use
    host_note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            **{k: v for k, v in asdict(self).items() if k != "rows"},
            "rows": [{**asdict(r), **verdicts(r, self)} for r in self.rows],
        }


def lambda_limits(lim: Limits) -> dict[str, float]:
    return {
        "memory_max_mb": lim.q("memory", "max_mb"),
        "ephemeral_default_mb": lim.q("ephemeral_storage", "default_mb"),
        "ephemeral_max_mb": lim.q("ephemeral_storage", "max_mb"),
        "zip_unzipped_mb": lim.q("package", "unzipped_mb"),
        "image_mb": lim.q("package", "image_mb"),
        "timeout_max_s": lim.q("timeout", "max_s"),
        "init_s": lim.q("init", "on_demand_s"),
        "api_gateway_s": lim.q("api_gateway", "integration_timeout_s"),
    }


# the verdicts ----------------------------------------------------------------------------------
def verdicts(row: FitRow, result: FitResult) -> dict[str, str]:
    """One verdict per table: storage, memory, latency."""
    lim = result.limits
    size, bundle = row.size_mb, result.bundle_bytes / MB
    if size + bundle <= lim["zip_unzipped_mb"]:
        storage = "fits: in the zip, or from S3"
    elif size + bundle <= lim["image_mb"]:
        storage = "fits from S3 (memfd or /tmp) or an image; too big for the zip"
    else:
        storage = "does not fit: over the 10 GB image limit"
    if size > lim["ephemeral_max_mb"]:
        storage += "; /tmp fallback impossible"
    elif size > lim["ephemeral_default_mb"]:
        storage += f"; /tmp fallback needs EphemeralStorage >= {math.ceil(size)} MB"
    if row.max_memory_mb is None:
        memory = f"not measured ({_errors(row.errors) or 'no result'})"
    elif row.max_memory_mb >= result.memory_mb:
        memory = f"does not fit in {result.memory_mb} MB (reached the limit)"
    else:
        memory = f"fits: MemorySize >= {row.max_memory_mb} MB"
    if row.warm_p50_ms is None:
        latency = f"not measured ({_errors(row.errors) or 'no result'})"
    else:
        warm_s = (row.warm_max_ms or row.warm_p50_ms) / 1000
        parts = []
        if warm_s > lim["timeout_max_s"]:
            parts.append("over the 900 s timeout")
        elif warm_s > lim["api_gateway_s"]:
            parts.append("past API Gateway's 29 s: function URL or async only")
        else:
            parts.append("fits behind API Gateway (29 s)")
        if row.init_ms is not None and row.init_ms / 1000 > lim["init_s"]:
            parts.append("INIT over 10 s: suppressed, retried in the first invoke")
        elif row.init_ms is None and row.cold_duration_ms is not None:
            parts.append("INIT suppressed (over 10 s)")
        latency = "; ".join(parts)
    return {"storage_verdict": storage, "memory_verdict": memory, "latency_verdict": latency}


def _errors(errors: dict[str, int]) -> str:
    return ", ".join(f"{k} x{v}" for k, v in errors.items())


# measuring -------------------------------------------------------------------------------------
def _measure_variant(
    client: Any, config: FunctionConfig, spec: FitSpec, name: str, invokes: int, row: FitRow
) -> None:
    env = {**config.environment, spec.select: spec.variants[name]}
    client.update_function_configuration(FunctionName=config.name, Environment={"Variables": env})
    payload = spec.event.read_bytes()
    cold = invoke(client, config.name, payload)
    calls = [cold] + [invoke(client, config.name, payload) for _ in range(invokes)]
    for call in calls:
        if call.error:
            row.errors[call.error] = row.errors.get(call.error, 0) + 1
    row.init_ms = cold.init_ms
    row.cold_duration_ms = cold.duration_ms
    warm = [c.duration_ms for c in calls[1:] if c.ok and not c.cold and c.duration_ms is not None]
    if warm:
        row.warm_p50_ms, row.warm_max_ms = statistics.median(warm), max(warm)
    peaks = [c.max_memory_mb for c in calls if c.max_memory_mb is not None]
    row.max_memory_mb = max(peaks, default=None)


def fit(
    config: FunctionConfig,
    *,
    memory_mb: int | None = None,
    invokes: int = 3,
    project_dir: Path | None = None,
    progress: ProgressFraction | None = None,
) -> FitResult:
    """Measure every variant of `config`'s Fit section in a throwaway sandbox."""
    import boto3

    from lambda_sandbox.runner import SandboxOptions, SandboxThread

    say = progress or (lambda _m, _f: None)
    spec = fit_spec(config)
    models = model_spec(config)
    if models is None or not models.bucket:
        raise ConfigError(f"{config.source}: Fit needs Models and MODEL_BUCKET to put files in S3")
    lim = load_limits()
    memory = memory_mb or config.memory_mb
    say("building the model artifacts", 0.0)
    artifacts = ensure_models(config, lambda m: say(m, 0.0))
    assert artifacts is not None
    missing = [f for f in spec.variants.values() if not (artifacts / f).is_file()]
    if missing:
        raise ConfigError(f"{config.source}: Fit.Variants: the Models build wrote no {missing}")
    root = project_dir or Path.cwd()
    bundle = build_bundle(config, root / ".sandbox" / "build", lambda m: say(m, 0.0), lim)
    timeout = float(lim.q("timeout", "max_s"))
    measured = config.with_updates(memory_mb=memory, timeout_s=timeout)
    options = SandboxOptions(port=0, configs=[measured], project_dir=root)
    rows = [
        FitRow(name, file, (artifacts / file).stat().st_size)
        for name, file in spec.variants.items()
    ]
    say("starting a sandbox", 0.02)
    thread = SandboxThread(options).start(progress=lambda m: say(m, 0.02))
    try:
        aws = thread.sandbox.aws
        s3 = boto3.client(
            "s3",
            endpoint_url=aws.endpoint_url if aws else None,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        client = lambda_client(thread.url)
        for i, row in enumerate(rows):
            if row.file not in models.artifacts:
                say(f"{row.variant}: uploading {row.file}", (i + 0.1) / len(rows))
                s3.upload_file(str(artifacts / row.file), models.bucket, models.prefix + row.file)
            say(f"{row.variant}: measuring at {memory} MB", (i + 0.3) / len(rows))
            _measure_variant(client, measured, spec, row.variant, invokes, row)
        say("done", 1.0)
    finally:
        thread.stop()
    given, capped = lim.host_capped_vcpus(memory)
    note = (
        f"CPU capped by this host at {memory} MB: {given:.2f} of {lim.vcpus_for(memory):.2f} "
        "vCPU, so latency here is longer than on Lambda at this size"
        if capped
        else ""
    )
    return FitResult(
        config.name, memory, bundle.size_bytes, invokes, rows, lambda_limits(lim), note
    )


# rendering -------------------------------------------------------------------------------------
def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def tables(result: FitResult) -> list[Table]:
    """The three tables: storage, peak memory, latency; a row that does not fit is failed."""
    lim = result.limits
    bundle = result.bundle_bytes / MB
    storage, memory, latency = [], [], []
    for row in result.rows:
        v = verdicts(row, result)
        storage.append(
            [
                row.variant,
                f"{row.size_mb:.1f} MB",
                f"{row.size_mb + bundle:.1f} MB",
                f"{row.size_mb / lim['ephemeral_max_mb']:.1%}",
                v["storage_verdict"],
            ]
        )
        memory.append(
            [
                row.variant,
                "-" if row.max_memory_mb is None else f"{row.max_memory_mb} MB",
                "-"
                if row.max_memory_mb is None
                else f"{row.max_memory_mb / lim['memory_max_mb']:.1%}",
                v["memory_verdict"],
            ]
        )
        latency.append(
            [
                row.variant,
                _ms(row.init_ms),
                _ms(row.warm_p50_ms),
                _ms(row.warm_max_ms),
                v["latency_verdict"],
            ]
        )
    specs = [
        (
            "Storage",
            ["Variant", "Model file", f"+ code bundle ({bundle:.1f} MB)", "of /tmp max", "Verdict"],
            storage,
        ),
        (
            f"Peak memory (at MemorySize {result.memory_mb} MB)",
            ["Variant", "Max Memory Used", f"of {lim['memory_max_mb']:.0f} MB", "Verdict"],
            memory,
        ),
        (
            f"Latency (warm: {result.invokes} invokes)",
            ["Variant", "Init Duration", "Warm p50", "Warm max", "Verdict"],
            latency,
        ),
    ]
    return [
        Table(title, headers, rows, ["failed" if "does not fit" in r[-1] else "" for r in rows])
        for title, headers, rows in specs
    ]


def notes(result: FitResult) -> list[str]:
    lim = result.limits
    out = [
        f"Lambda's limits (limits/lambda.toml): zip {lim['zip_unzipped_mb']:.0f} MB unzipped, "
        f"image {lim['image_mb']:.0f} MB, /tmp {lim['ephemeral_default_mb']:.0f}-"
        f"{lim['ephemeral_max_mb']:.0f} MB, memory {lim['memory_max_mb']:.0f} MB, INIT "
        f"{lim['init_s']:.0f} s, timeout {lim['timeout_max_s']:.0f} s, API Gateway "
        f"{lim['api_gateway_s']:.0f} s.",
        "Max Memory Used: the cgroup's peak over the environment's life (REPORT line); a model "
        "fetched into memory (memfd) counts there, as it does on Lambda.",
    ]
    if result.host_note:
        out.append(result.host_note + ".")
    return out


def render_markdown(result: FitResult) -> str:
    parts = [f"# Fit report: {result.function}\n"]
    parts += [table.markdown(level=2) for table in tables(result)]
    parts.append("".join(f"- {n}\n" for n in notes(result)))
    return "\n".join(parts)


def rich_tables(result: FitResult) -> list[Any]:
    return [table.rich() for table in tables(result)]


def write_outputs(result: FitResult, out_dir: Path) -> dict[str, Path]:
    import json

    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / f"fit-{result.function}.md"
    md.write_text(render_markdown(result), encoding="utf-8")
    data = out_dir / f"fit-{result.function}.json"
    data.write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    return {"markdown": md, "json": data}
