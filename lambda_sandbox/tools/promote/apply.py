"""Applying a promotion's Plan: make AWS match it, idempotently (apply_plan)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import lambda_sandbox.tools.promote.deploy as deploy
from lambda_sandbox.tools.promote.artifacts import (
    create_bucket,
    upload,
)
from lambda_sandbox.tools.promote.deploy import AwsTarget
from lambda_sandbox.tools.promote.errors import PromoteError
from lambda_sandbox.tools.promote.http_api import (
    HTTP_API,
    apply_http_api,
)
from lambda_sandbox.tools.promote.image import (
    push_image,
)
from lambda_sandbox.tools.promote.package import MIB
from lambda_sandbox.tools.promote.plan import (
    ALIAS,
    CODE,
    CONCURRENCY,
    CONFIGURATION,
    TAGS,
    URL,
    FunctionState,
)
from lambda_sandbox.tools.promote.progress import NullReporter, Reporter
from lambda_sandbox.tools.promote.promotion import Plan

__all__ = ["Deployed", "apply_plan"]


@dataclass(frozen=True)
class Deployed:
    arn: str
    version: str | None
    url: str | None
    api_url: str | None = None


def apply_plan(plan: Plan, aws: AwsTarget, reporter: Reporter | None = None) -> Deployed:
    """Make AWS match the plan. Each step is skipped when the plan says it is done already."""
    say = reporter or NullReporter()
    if plan.blockers:
        raise PromoteError("cannot apply the plan:\n  " + "\n  ".join(plan.blockers))
    name, desired, current = plan.function, plan.desired, plan.current
    s3 = aws.client("s3")
    for bucket, state in plan.buckets.items():
        if state == "absent":
            say.step(f"creating bucket s3://{bucket}")
            create_bucket(s3, bucket, aws.region)
    for item in (*plan.uploads, *((plan.code_upload,) if plan.code_upload else ())):
        if item.unchanged:
            say.step(f"{item.uri}: unchanged (ETag matches), not uploaded")
        else:
            say.step(f"uploading {item.label} ({item.size / MIB:.1f} MB) to {item.uri}")
            upload(s3, item, say)
    if plan.image is not None:
        if not plan.image.repository_exists:
            say.step(f"creating ECR repository {plan.image.ref.repository}")
            deploy.create_repository(aws, plan.image.ref.repository)
        if plan.image.size_bytes is None:
            raise PromoteError(
                f"{plan.image.ref.uri} is not in ECR: build and push it (docker push), then run "
                "promote again; or drop --image-uri and promote builds and pushes it"
            )
    if plan.build is not None and (current is None or CODE in plan.groups):
        if plan.build_repository == "create":
            say.step(f"creating ECR repository {plan.build.repository}")
            deploy.create_repository(aws, plan.build.repository)
        image_uri = push_image(aws, plan.build, say)
        desired = dataclasses.replace(desired, image_uri=image_uri)
    if plan.role_action == "create":
        assert plan.role_name is not None
        say.step(f"creating IAM role {plan.role_name}")
        deploy.create_role(aws, plan.role_name, list(plan.model_objects))

    changed = plan.groups
    if current is None:
        say.step(f"creating function {name}")
        arn = deploy.create_function(
            aws, name, desired, _code_argument(plan, desired), say, plan.role_action == "create"
        )
    else:
        arn = current.arn or name
        if CODE in changed:
            say.step(f"updating {name}'s code")
            deploy.update_code(aws, name, desired, _code_argument(plan, desired))
        if CONFIGURATION in changed:
            say.step(f"updating {name}'s configuration")
            snap = any(c.field == "SnapStart.ApplyOn" for c in plan.changes)
            deploy.update_configuration(aws, name, desired, snap)
        if TAGS in changed:
            deploy.tag(aws, arn, dict(desired.tags))
    if CONCURRENCY in changed:
        reserved = desired.reserved_concurrency
        say.step(f"reserved concurrency: {'none' if reserved is None else reserved}")
        deploy.set_concurrency(aws, name, desired.reserved_concurrency)
    version = None
    if desired.alias and (current is None or changed & {CODE, CONFIGURATION, ALIAS}):
        say.step(f"publishing a version; alias {desired.alias}")
        alias_exists = current is not None and current.alias is not None
        version = deploy.publish(aws, name, desired.alias, alias_exists)
    url = None
    if desired.function_url is not None or (current and current.function_url):
        if URL in changed or ALIAS in changed:
            say.step("function URL")
        url = deploy.set_function_url(
            aws,
            name,
            desired.function_url,
            current.function_url if current and ALIAS not in changed else None,
            desired.alias,
            say,
        )
    api_url = None
    if plan.http_api is not None:
        current_api = plan.http_api_current
        if HTTP_API in changed or current_api is None:
            api_url = apply_http_api(
                aws, name, plan.http_api, current_api, desired.alias, desired.tags, say
            )
        else:
            api_url = current_api.endpoint
    return Deployed(arn, version, url, api_url)


def _code_argument(plan: Plan, desired: FunctionState) -> dict[str, Any]:
    if desired.image_uri is not None:
        return {"ImageUri": desired.image_uri}
    assert plan.package is not None
    if plan.code_upload is not None:
        return {"S3Bucket": plan.code_upload.bucket, "S3Key": plan.code_upload.key}
    return {"ZipFile": plan.package.path.read_bytes()}
