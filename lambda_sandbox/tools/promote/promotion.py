"""A promotion's plan, read only: plan_promotion(config, options) builds the package and the
model artifacts locally, reads what exists on AWS, and returns a Plan: the diff, the uploads,
the role, and what blocks applying it. apply.py makes AWS match it; run.py does both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lambda_sandbox.tools.promote.deploy as deploy
from lambda_sandbox.build.model_artifacts import ensure_models, model_spec
from lambda_sandbox.config import FunctionConfig
from lambda_sandbox.limits import Limits, load_limits
from lambda_sandbox.tools.promote.artifacts import (
    Upload,
    bucket_state,
    plan_upload,
)
from lambda_sandbox.tools.promote.deploy import AwsTarget, ImageRef, Smoke
from lambda_sandbox.tools.promote.errors import PromoteError
from lambda_sandbox.tools.promote.http_api import (
    HTTP_API,
    HttpApiState,
    desired_http_api,
    diff_http_api,
    read_http_api,
)
from lambda_sandbox.tools.promote.http_api import compared_count as api_compared_count
from lambda_sandbox.tools.promote.image import (
    ENGINE_ARCH,
    PLATFORM,
    BuiltImage,
    build_image,
)
from lambda_sandbox.tools.promote.package import MIB, ZipPackage, build_zip, package_limits
from lambda_sandbox.tools.promote.plan import (
    CODE,
    CONFIGURATION,
    REPLACE,
    Change,
    FunctionState,
    compared_count,
    desired_state,
    diff,
    function_environment,
    groups,
    markup,
    render_changes,
)
from lambda_sandbox.tools.promote.progress import NullReporter, Reporter

__all__ = [
    "CostEstimate",
    "Plan",
    "PromoteOptions",
    "PromoteResult",
    "plan_promotion",
    "role_name_for",
]


@dataclass(frozen=True)
class PromoteOptions:
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None  # LocalStack, moto's server: every client goes there
    role_arn: str | None = None
    create_role: bool = False
    package: str = "zip"  # or "image"
    image_uri: str | None = None  # an image pushed already; without it, promote builds one
    registry: str | None = None  # push here instead of ECR's registry (tests, LocalStack)
    base_image: str | None = None  # BASE of the generated Dockerfile
    architecture: str | None = None  # override the function's Architectures
    model_bucket: str | None = None  # override MODEL_BUCKET
    code_bucket: str | None = None  # for zips over the direct-upload limit
    duration_ms: float | None = None  # measured locally, for the cost estimate
    smoke_test: bool = True
    dry_run: bool = False


@dataclass(frozen=True)
class ImagePlan:
    ref: ImageRef
    repository_exists: bool
    size_bytes: int | None  # None: not in ECR yet


@dataclass(frozen=True)
class Plan:
    function: str
    target: str  # "account ..., region"
    region: str
    desired: FunctionState
    current: FunctionState | None
    changes: tuple[Change, ...]
    package: ZipPackage | None
    image: ImagePlan | None  # an image pushed already (--image-uri)
    build: BuiltImage | None  # an image built here, pushed when applying
    build_repository: str | None  # ECR repository of the built image: "exists" | "create"
    code_upload: Upload | None  # the zip through S3 when over the direct-upload limit
    http_api: HttpApiState | None  # what the HttpApi events ask for (None: no such events)
    http_api_current: HttpApiState | None  # the function's HTTP API on AWS, if any
    uploads: tuple[Upload, ...]  # model artifacts
    buckets: dict[str, str]  # bucket -> "exists" | "absent"
    role_action: str  # "given", "create", "existing", "kept"
    role_name: str | None
    model_objects: tuple[str, ...]  # S3 ARNs the role may read
    event_file: Path | None
    blockers: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def exists(self) -> bool:
        return self.current is not None

    @property
    def groups(self) -> set[str]:
        return groups(self.changes)

    @property
    def pending_uploads(self) -> tuple[Upload, ...]:
        items = (*self.uploads, *((self.code_upload,) if self.code_upload else ()))
        return tuple(u for u in items if not u.unchanged)

    @property
    def up_to_date(self) -> bool:
        return (
            not self.changes
            and not self.pending_uploads
            and "absent" not in self.buckets.values()
            and self.role_action != "create"
        )

    def lines(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = [
            ("bold", f"Plan: promote {self.function} to AWS ({self.target})")
        ]
        if self.current is None:
            out.append(("bold green", f"function {self.function}: absent -> create"))
        elif any(c.group != HTTP_API for c in self.changes):
            out.append(("bold yellow", f"function {self.function}: update in place"))
        else:
            out.append(("bold", f"function {self.function}: no changes"))
        total = 0
        if self.current is not None:
            total = compared_count(self.desired, self.current)
            total += api_compared_count(self.http_api) if self.http_api_current else 0
        out += render_changes(self.changes, total)
        if (
            self.current is not None
            and self.desired.alias
            and (self.groups & {CODE, CONFIGURATION})
        ):
            out.append(("yellow", f"  ~ alias {self.desired.alias} -> a newly published version"))
        if self.http_api is not None:
            api = self.http_api_current
            where = f"{api.api_id}, {api.endpoint}" if api else "absent -> create"
            out.append(("", f"HTTP API {self.http_api.name}: {where}"))
        if self.package is not None:
            out.append(("", f"code: {self.package.describe()}"))
            out.append(("dim", f"  wheels for: {', '.join(self.package.platforms[:3])}, ..."))
        if self.image is not None:
            size = self.image.size_bytes
            state = "not pushed yet" if size is None else f"{size / MIB:.0f} MB in ECR"
            repo = "exists" if self.image.repository_exists else "create"
            out.append(("", f"image: {self.image.ref.uri} ({state}; repository {repo})"))
        if self.build is not None:
            out.append(("", f"image: {self.build.describe()}"))
            repo = self.build.repository
            if self.build_repository == "create":
                out.append(("green", f"+ ECR repository {repo}"))
            pushed = "in the registry already" if self.build.pushed_digest else "push when applying"
            out.append(("dim", f"  {pushed} ({self.build.registry}/{repo})"))
        if self.code_upload is not None:
            out.append(self._upload_line(self.code_upload))
        for bucket, state in self.buckets.items():
            if state == "absent":
                out.append(("green", f"+ bucket s3://{bucket}"))
        if self.uploads:
            out.append(("", "models:"))
            out += [self._upload_line(u) for u in self.uploads]
        role = {
            "given": f"role: {self.desired.role}",
            "existing": f"role: {self.desired.role} (exists)",
            "kept": f"role: {self.desired.role} (the function's)",
            "create": f"+ role {self.role_name} (trusts Lambda, writes logs"
            + ("; reads the models)" if self.model_objects else ")"),
        }.get(self.role_action, "role: none")
        out.append(("green" if self.role_action == "create" else "", role))
        out += [("cyan", f"note: {n}") for n in self.notes]
        out += [("bold red", f"blocked: {b}") for b in self.blockers]
        return out

    @staticmethod
    def _upload_line(item: Upload) -> tuple[str, str]:
        size = f"{item.size / MIB:.1f} MB"
        if item.unchanged:
            return ("dim", f"  = {item.uri} ({size}, ETag matches: skipped)")
        verb = "upload" if item.current_etag is None else "replace"
        return ("green", f"  + {verb} {item.label} -> {item.uri} ({size})")

    def render(self) -> str:
        """The plan as rich markup."""
        return markup(self.lines())

    def text(self) -> str:
        return "\n".join(text for _, text in self.lines())


@dataclass(frozen=True)
class CostEstimate:
    duration_ms: float
    billed_ms: int
    memory_mb: int
    architecture: str
    per_million: float
    source: str  # where the duration came from

    def describe(self) -> str:
        return (
            f"${self.per_million:,.2f} per 1M invocations at {self.duration_ms:.0f} ms "
            f"({self.source}; billed {self.billed_ms} ms, {self.memory_mb} MB, "
            f"{self.architecture})"
        )


@dataclass(frozen=True)
class PromoteResult:
    plan: Plan
    applied: bool
    function_arn: str | None = None
    version: str | None = None
    endpoint: str | None = None  # the function URL
    http_api_endpoint: str | None = None  # the HTTP API's $default stage
    smoke: Smoke | None = None
    smoke_skipped: str | None = None  # why there was no smoke test
    cost: CostEstimate | None = None


# ---------------------------------------------------------------------------------- plan
def role_name_for(function: str) -> str:
    return f"lambda-sandbox-{function}"[:64]


def plan_promotion(
    config: FunctionConfig,
    options: PromoteOptions,
    *,
    aws: AwsTarget | None = None,
    limits: Limits | None = None,
    reporter: Reporter | None = None,
) -> Plan:
    """Build locally, read AWS, compare. Changes nothing on AWS."""
    say = reporter or NullReporter()
    lim = limits or load_limits()
    aws = aws or AwsTarget(options.region, options.profile, options.endpoint_url)
    s3 = aws.client("s3")
    blockers: list[str] = []
    notes: list[str] = []
    arch = options.architecture or config.architectures[0]
    say.step(f"reading {config.name} on AWS ({aws.describe()})")
    alias = config.raw.get("AutoPublishAlias")
    current = deploy.read_function(aws, config.name, alias if isinstance(alias, str) else None)

    # the package: a zip built for Lambda's platform, or an image in ECR
    package: ZipPackage | None = None
    image: ImagePlan | None = None
    build: BuiltImage | None = None
    build_repository: str | None = None
    if options.package == "image" and not options.image_uri:
        repository = config.name.lower()  # ECR repository names are lower case
        repository_uri = deploy.repository_uri(aws, repository)
        build_repository = "create" if repository_uri is None else "exists"
        registry = options.registry or (
            repository_uri.split("/", 1)[0] if repository_uri else deploy.ecr_registry(aws)
        )
        build = build_image(
            config,
            arch,
            registry=registry,
            repository=repository,
            base_image=options.base_image,
            reporter=say,
        )
        limit = package_limits(lim)["image"]
        if build.size_bytes > limit:
            blockers.append(
                f"the image is {build.size_bytes / MIB:.0f} MB unpacked, over Lambda's "
                f"{limit / MIB:.0f} MB limit: trim the image or its requirements"
            )
        if build.architecture != ENGINE_ARCH[arch]:
            blockers.append(
                f"the image was built for linux/{build.architecture}, the function runs on "
                f"{arch}: build FROM a base image for {PLATFORM[arch]} (--base-image)"
            )
    elif options.package == "image":
        assert options.image_uri is not None
        ref = deploy.parse_image_uri(options.image_uri)
        repo_exists, size = deploy.read_image(aws, ref)
        image = ImagePlan(ref, repo_exists, size)
        limit = package_limits(lim)["image"]
        if size is not None and size > limit:
            blockers.append(
                f"the image is {size / MIB:.0f} MB, over Lambda's {limit / MIB:.0f} MB limit"
            )
        if size is None:
            notes.append(f"push the image before applying: docker push {ref.uri}")
        notes.append("ECR reports the compressed size; Lambda's limit is on the unpacked image")
    elif options.package == "zip":
        say.step(f"building {config.name}'s zip for {config.runtime} on {arch}")
        package = build_zip(config, arch, limits=lim, progress=say.step)
    else:
        raise PromoteError(f"--package {options.package!r}: choose zip or image")

    # model artifacts: built locally (cached), uploaded to MODEL_BUCKET/MODEL_KEY_PREFIX
    spec = model_spec(config)
    bucket = options.model_bucket or (spec.bucket if spec else None)
    buckets: dict[str, str] = {}
    uploads: list[Upload] = []
    model_objects: list[str] = []
    if spec is not None:
        if not bucket:
            blockers.append(
                "the function has Models but no bucket: pass --model-bucket or set "
                "Environment.Variables.MODEL_BUCKET"
            )
        else:
            say.step(f"{config.name}: model artifacts (built once, cached)")
            model_dir = ensure_models(config, say.step)
            assert model_dir is not None
            buckets[bucket] = _usable_bucket(s3, bucket)
            for name in spec.artifacts:
                uploads.append(
                    plan_upload(
                        s3,
                        name,
                        model_dir / name,
                        bucket,
                        f"{spec.prefix}{name}",
                        buckets[bucket] == "exists",
                    )
                )
            model_objects.append(f"arn:{aws.partition}:s3:::{bucket}/{spec.prefix}*")

    code_upload: Upload | None = None
    if package is not None and not package.direct_upload:
        code_bucket = options.code_bucket or bucket or f"lambda-sandbox-{aws.account}-{aws.region}"
        if code_bucket not in buckets:
            buckets[code_bucket] = _usable_bucket(s3, code_bucket)
        key = f"lambda-sandbox/{config.name}/{package.sha256_hex}.zip"
        code_upload = plan_upload(
            s3, "code", package.path, code_bucket, key, buckets[code_bucket] == "exists"
        )
        notes.append(
            f"the zip is over the {package.direct_upload_limit / MIB:.0f} MB direct-upload "
            f"limit: Lambda takes it from {code_upload.uri}"
        )

    # the execution role
    role, role_action = _role(config, options, aws, current)
    if role is None:
        blockers.append("the function needs an execution role: pass --role-arn or --create-role")

    environment = function_environment(
        config, model_bucket=bucket, model_prefix=spec.prefix if spec else None, limits=lim
    )
    desired = desired_state(
        config,
        role=role,
        environment=environment,
        architecture=arch,
        code_sha256=package.sha256 if package else None,
        image_uri=image.ref.uri if image else (build.uri if build else None),
    )
    changes = diff(desired, current)
    if current is not None and any(c.group == REPLACE for c in changes):
        blockers.append(
            f"the function is a {current.package_type} package on AWS; "
            "Lambda cannot change PackageType in place: delete it first "
            f"(aws lambda delete-function --function-name {config.name})"
        )
    if config.snap_start and desired.alias is None:
        notes.append("SnapStart applies to published versions: add AutoPublishAlias")
    http_api = desired_http_api(config, _invoke_target(aws, config.name, desired.alias), lim)
    http_api_current = None
    if http_api is not None:
        say.step(f"reading {config.name}'s HTTP API on AWS")
        http_api_current = read_http_api(aws, config.name, desired.alias)
        changes += diff_http_api(http_api, http_api_current)
    kinds = sorted(
        {str(e.get("Type")) for e in config.events.values() if isinstance(e, dict)} - {"HttpApi"}
    )
    if kinds:
        rest = " (a REST API: declare the routes as Type: HttpApi)" if "Api" in kinds else ""
        notes.append(f"Events of Type {', '.join(kinds)} are not promoted yet{rest}")
    event = config.folder / "events" / "direct.json"
    return Plan(
        function=config.name,
        target=aws.describe(),
        region=aws.region,
        desired=desired,
        current=current,
        changes=changes,
        package=package,
        image=image,
        build=build,
        build_repository=build_repository,
        code_upload=code_upload,
        http_api=http_api,
        http_api_current=http_api_current,
        uploads=tuple(uploads),
        buckets=buckets,
        role_action=role_action,
        role_name=role_name_for(config.name) if role_action == "create" else None,
        model_objects=tuple(model_objects),
        event_file=event if event.is_file() else None,
        blockers=tuple(blockers),
        notes=tuple(notes),
    )


def _invoke_target(aws: AwsTarget, function: str, alias: str | None) -> str:
    """The ARN API Gateway invokes: the alias when there is one (as SAM does)."""
    arn = f"arn:{aws.partition}:lambda:{aws.region}:{aws.account}:function:{function}"
    return f"{arn}:{alias}" if alias else arn


def _usable_bucket(s3: Any, bucket: str) -> str:
    state = bucket_state(s3, bucket)
    if state == "foreign":
        raise PromoteError(
            f"bucket {bucket} exists but these credentials may not use it (another account's?): "
            "pass --model-bucket / --code-bucket with a bucket of yours"
        )
    return state


def _role(
    config: FunctionConfig,
    options: PromoteOptions,
    aws: AwsTarget,
    current: FunctionState | None,
) -> tuple[str | None, str]:
    if options.role_arn:
        return options.role_arn, "given"
    if options.create_role:
        name = role_name_for(config.name)
        arn = deploy.role_arn_if_exists(aws, name)
        if arn is not None:
            return arn, "existing"
        return f"arn:{aws.partition}:iam::{aws.account}:role/{name}", "create"
    yaml_role = config.raw.get("Role")
    if isinstance(yaml_role, str) and yaml_role.startswith("arn:"):
        return yaml_role, "given"
    if current is not None and current.role:
        return current.role, "kept"
    return None, "none"
