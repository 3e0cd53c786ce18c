"""The AWS half of a promotion: read what exists, and change it (boto3, one call per step).

`AwsTarget` holds the boto3 session (the standard credential chain, `--profile`, `--region`)
and makes clients, all pointed at `endpoint_url` when one is given (LocalStack, moto's
server). The functions below are the steps `apply_plan` runs in order; every AWS error leaves
them as a PromoteError naming the step.
"""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.request
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from lambda_sandbox.tools.promote.errors import PromoteError, aws_step, error_code
from lambda_sandbox.tools.promote.plan import FunctionState, UrlConfig, current_state
from lambda_sandbox.tools.promote.progress import Reporter

__all__ = ["AwsTarget", "ImageRef", "Smoke", "parse_image_uri"]

_NOT_FOUND = ("ResourceNotFoundException", "NoSuchEntity", "404")
_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
URL_PUBLIC_SID = "FunctionURLAllowPublicAccess"  # the statement ids the Lambda console uses
URL_INVOKE_SID = "FunctionURLAllowInvokeAction"


class AwsTarget:
    """An AWS account and region to promote to, through boto3's standard credential chain."""

    def __init__(
        self,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        self.local = is_local_endpoint(endpoint_url)
        with aws_step("loading the AWS profile"):
            self.session = boto3.Session(profile_name=profile, region_name=region)
            if self.local and (
                self.session.get_credentials() is None or not self.session.region_name
            ):
                # a local endpoint (moto, LocalStack) takes any credentials: test ones, and
                # Lambda's default region, unless the user's chain has its own
                creds = self.session.get_credentials()
                self.session = boto3.Session(
                    aws_access_key_id=creds.access_key if creds else "test",
                    aws_secret_access_key=creds.secret_key if creds else "test",
                    aws_session_token=creds.token if creds else None,
                    region_name=self.session.region_name or "us-east-1",
                )
        if not self.session.region_name:
            raise PromoteError(
                "no AWS region: pass --region, set AWS_DEFAULT_REGION, or set one in the profile"
            )
        self.region: str = self.session.region_name
        self.endpoint_url = endpoint_url
        self._clients: dict[str, Any] = {}

    def client(self, service: str, **config: Any) -> Any:
        key = service + json.dumps(config, sort_keys=True)
        if key not in self._clients:
            options: dict[str, Any] = {"retries": {"mode": "standard"}}
            if self.endpoint_url and service == "s3":
                options["s3"] = {"addressing_style": "path"}
            options.update(config)
            self._clients[key] = self.session.client(
                service, endpoint_url=self.endpoint_url, config=Config(**options)
            )
        return self._clients[key]

    @cached_property
    def account(self) -> str:
        with aws_step("finding the AWS account (sts get-caller-identity)"):
            return str(self.client("sts").get_caller_identity()["Account"])

    @cached_property
    def partition(self) -> str:
        try:
            return self.session.get_partition_for_region(self.region)
        except Exception:  # an unknown region name (a local endpoint): the default partition
            return "aws"

    def describe(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"account {self.account}, {self.region}{where}"

    def cannot_run_functions(self) -> str | None:
        """Why this target cannot run a function (so no smoke test), or None. moto's server
        runs Lambda functions only in Docker containers of its own."""
        if not self.endpoint_url:
            return None
        try:
            with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=3) as resp:
                if resp.status == 200:
                    return "the target is moto's server, which runs functions only in Docker"
        except (OSError, ValueError):
            return None
        return None


def is_local_endpoint(url: str | None) -> bool:
    """A moto or LocalStack endpoint on this machine or the compose network."""
    if not url:
        return False
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "127.0.0.1", "::1", "0.0.0.0", "localstack", "moto") or (
        host.endswith(".localhost") or host == "host.docker.internal"
    )


# ------------------------------------------------------------------------------- reading
def _absent_is_none(step: str, call: Any, **kwargs: Any) -> Any:
    with aws_step(step):
        try:
            return call(**kwargs)
        except ClientError as exc:
            if error_code(exc) in _NOT_FOUND:
                return None
            raise


def read_function(aws: AwsTarget, name: str, alias: str | None) -> FunctionState | None:
    """The function as Lambda has it now, or None when it does not exist."""
    lam = aws.client("lambda")
    got = _absent_is_none(f"reading function {name}", lam.get_function, FunctionName=name)
    if got is None:
        return None
    concurrency = _absent_is_none(
        f"reading {name}'s concurrency", lam.get_function_concurrency, FunctionName=name
    )
    qualifier = {"Qualifier": alias} if alias else {}
    has_alias = alias is not None and (
        _absent_is_none(f"reading alias {alias}", lam.get_alias, FunctionName=name, Name=alias)
        is not None
    )
    url = None
    if alias is None or has_alias:
        url = _absent_is_none(
            f"reading {name}'s function URL",
            lam.get_function_url_config,
            FunctionName=name,
            **qualifier,
        )
    return current_state(got, concurrency=concurrency, url=url, alias=alias if has_alias else None)


def role_arn_if_exists(aws: AwsTarget, role_name: str) -> str | None:
    got = _absent_is_none(
        f"reading IAM role {role_name}", aws.client("iam").get_role, RoleName=role_name
    )
    return None if got is None else str(got["Role"]["Arn"])


@dataclass(frozen=True)
class ImageRef:
    uri: str
    registry: str
    repository: str
    tag: str | None
    digest: str | None

    def image_id(self) -> dict[str, str]:
        return {"imageDigest": self.digest} if self.digest else {"imageTag": self.tag or "latest"}


_IMAGE = re.compile(
    r"^(?P<registry>[^/]+)/(?P<repo>[a-z0-9._/-]+?)(?::(?P<tag>[\w.-]+))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


def parse_image_uri(uri: str) -> ImageRef:
    match = _IMAGE.match(uri)
    if not match:
        raise PromoteError(
            f"image URI {uri!r} is not REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST], e.g. "
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-fn:latest"
        )
    return ImageRef(uri, match["registry"], match["repo"], match["tag"], match["digest"])


def read_image(aws: AwsTarget, ref: ImageRef) -> tuple[bool, int | None]:
    """(does the ECR repository exist, the image's size in bytes or None if not pushed)."""
    ecr = aws.client("ecr")
    with aws_step(f"reading ECR repository {ref.repository}"):
        try:
            ecr.describe_repositories(repositoryNames=[ref.repository])
        except ClientError as exc:
            if error_code(exc) == "RepositoryNotFoundException":
                return False, None
            raise
        try:
            images = ecr.describe_images(repositoryName=ref.repository, imageIds=[ref.image_id()])
        except ClientError as exc:
            if error_code(exc) == "ImageNotFoundException":
                return True, None
            raise
    details = images.get("imageDetails") or [{}]
    return True, int(details[0].get("imageSizeInBytes") or 0)


def repository_uri(aws: AwsTarget, repository: str) -> str | None:
    """The ECR repository's URI (REGISTRY/NAME), or None when it does not exist."""
    with aws_step(f"reading ECR repository {repository}"):
        try:
            got = aws.client("ecr").describe_repositories(repositoryNames=[repository])
        except ClientError as exc:
            if error_code(exc) == "RepositoryNotFoundException":
                return None
            raise
    return str(got["repositories"][0]["repositoryUri"])


def ecr_registry(aws: AwsTarget) -> str:
    """The account's private ECR registry in the region."""
    suffix = "amazonaws.com.cn" if aws.partition == "aws-cn" else "amazonaws.com"
    return f"{aws.account}.dkr.ecr.{aws.region}.{suffix}"


# ------------------------------------------------------------------------------ changing
def create_repository(aws: AwsTarget, repository: str) -> None:
    with aws_step(f"creating ECR repository {repository}"):
        aws.client("ecr").create_repository(repositoryName=repository)


def create_role(aws: AwsTarget, role_name: str, model_objects: list[str]) -> str:
    """An execution role: trusts Lambda, may write its logs (what the managed policy
    AWSLambdaBasicExecutionRole allows, inlined) and read the model objects."""
    iam = aws.client("iam")
    statements: list[dict[str, Any]] = [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        }
    ]
    if model_objects:
        statements.append({"Effect": "Allow", "Action": "s3:GetObject", "Resource": model_objects})
    policy = {"Version": "2012-10-17", "Statement": statements}
    with aws_step(f"creating IAM role {role_name}"):
        role = iam.create_role(
            RoleName=role_name,
            AssumeRolePolicyDocument=json.dumps(_TRUST),
            Description="Execution role made by `sandbox promote`",
        )["Role"]
        iam.put_role_policy(
            RoleName=role_name, PolicyName="lambda-sandbox", PolicyDocument=json.dumps(policy)
        )
        iam.get_waiter("role_exists").wait(RoleName=role_name, WaiterConfig={"Delay": 1})
    return str(role["Arn"])


def _config_args(desired: FunctionState) -> dict[str, Any]:
    args: dict[str, Any] = {
        "Role": desired.role,
        "Description": desired.description,
        "Timeout": desired.timeout_s,
        "MemorySize": desired.memory_mb,
        "Environment": {"Variables": dict(desired.environment)},
        "EphemeralStorage": {"Size": desired.ephemeral_mb},
        "Layers": list(desired.layers),
    }
    if desired.package_type == "Zip":
        args.update(Runtime=desired.runtime, Handler=desired.handler)
    else:
        args["ImageConfig"] = {"Command": list(desired.image_command)}
    return args


def _wait(aws: AwsTarget, waiter: str, name: str, step: str, **kwargs: Any) -> None:
    with aws_step(step):
        aws.client("lambda").get_waiter(waiter).wait(
            FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 900}, **kwargs
        )


def create_function(
    aws: AwsTarget,
    name: str,
    desired: FunctionState,
    code: dict[str, Any],
    reporter: Reporter,
    role_is_new: bool,
) -> str:
    lam = aws.client("lambda")
    args = _config_args(desired)
    args.update(
        FunctionName=name,
        Code=code,
        PackageType=desired.package_type,
        Architectures=[desired.architecture],
        Publish=False,
    )
    if desired.snap_start:
        args["SnapStart"] = {"ApplyOn": "PublishedVersions"}
    if desired.tags:
        args["Tags"] = dict(desired.tags)
    # A new IAM role takes a few seconds before Lambda may assume it.
    deadline = time.monotonic() + (60 if role_is_new else 0)
    while True:
        try:
            with aws_step(f"creating function {name}"):
                arn = str(lam.create_function(**args)["FunctionArn"])
            break
        except PromoteError as exc:
            if "cannot be assumed" not in str(exc) or time.monotonic() > deadline:
                raise
            reporter.step("waiting for the new IAM role to reach Lambda")
            time.sleep(3)
    _wait(aws, "function_active_v2", name, f"waiting for {name} to become Active")
    return arn


def update_code(aws: AwsTarget, name: str, desired: FunctionState, code: dict[str, Any]) -> None:
    with aws_step(f"updating {name}'s code"):
        aws.client("lambda").update_function_code(
            FunctionName=name, Architectures=[desired.architecture], **code
        )
    _wait(aws, "function_updated_v2", name, f"waiting for {name}'s code update")


def update_configuration(aws: AwsTarget, name: str, desired: FunctionState, snap: bool) -> None:
    args = _config_args(desired)
    if snap:
        args["SnapStart"] = {"ApplyOn": "PublishedVersions" if desired.snap_start else "None"}
    with aws_step(f"updating {name}'s configuration"):
        aws.client("lambda").update_function_configuration(FunctionName=name, **args)
    _wait(aws, "function_updated_v2", name, f"waiting for {name}'s configuration update")


def tag(aws: AwsTarget, arn: str, tags: dict[str, str]) -> None:
    with aws_step("tagging the function"):
        aws.client("lambda").tag_resource(Resource=arn, Tags=tags)


def set_concurrency(aws: AwsTarget, name: str, reserved: int | None) -> None:
    lam = aws.client("lambda")
    with aws_step(f"setting {name}'s reserved concurrency"):
        if reserved is None:
            lam.delete_function_concurrency(FunctionName=name)
        else:
            lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserved)


def publish(aws: AwsTarget, name: str, alias: str, alias_exists: bool) -> str:
    """Publish a version (Lambda returns the latest one when nothing changed) and point the
    alias at it; returns the version."""
    lam = aws.client("lambda")
    with aws_step(f"publishing a version of {name}"):
        version = str(lam.publish_version(FunctionName=name)["Version"])
    with aws_step(f"waiting for version {version} of {name}"):
        lam.get_waiter("published_version_active").wait(
            FunctionName=name, Qualifier=version, WaiterConfig={"Delay": 2, "MaxAttempts": 300}
        )
    with aws_step(f"pointing alias {alias} at version {version}"):
        if alias_exists:
            lam.update_alias(FunctionName=name, Name=alias, FunctionVersion=version)
        else:
            lam.create_alias(FunctionName=name, Name=alias, FunctionVersion=version)
    return version


def set_function_url(
    aws: AwsTarget,
    name: str,
    desired: UrlConfig | None,
    current: UrlConfig | None,
    qualifier: str | None,
    reporter: Reporter,
) -> str | None:
    """Create, update or delete the function URL; returns the URL (None: no URL)."""
    lam = aws.client("lambda")
    where: dict[str, Any] = {"FunctionName": name}
    if qualifier:
        where["Qualifier"] = qualifier
    if desired is None:
        if current is not None:
            with aws_step(f"deleting {name}'s function URL"):
                lam.delete_function_url_config(**where)
        return None
    args: dict[str, Any] = {"AuthType": desired.auth_type, "InvokeMode": desired.invoke_mode}
    if desired.cors:
        args["Cors"] = dict(desired.cors)
    with aws_step(f"configuring {name}'s function URL"):
        if current is None:
            url = lam.create_function_url_config(**where, **args)["FunctionUrl"]
        elif current != desired:
            url = lam.update_function_url_config(**where, **args)["FunctionUrl"]
        else:
            url = lam.get_function_url_config(**where)["FunctionUrl"]
    if desired.auth_type == "NONE":
        # Anyone may call a URL with AuthType NONE only with these two statements (the second
        # one is required for URLs made since October 2025).
        _permit(
            aws,
            where,
            URL_PUBLIC_SID,
            Action="lambda:InvokeFunctionUrl",
            Principal="*",
            FunctionUrlAuthType="NONE",
        )
        try:
            _permit(
                aws,
                where,
                URL_INVOKE_SID,
                Action="lambda:InvokeFunction",
                Principal="*",
                InvokedViaFunctionUrl=True,
            )
        except PromoteError as exc:
            if "InvalidParameterValue" not in str(exc):
                raise
            reporter.step(f"this endpoint does not know InvokedViaFunctionUrl; skipped ({exc})")
    return str(url)


def _permit(aws: AwsTarget, where: dict[str, Any], sid: str, **statement: Any) -> None:
    with aws_step(f"allowing public calls of the function URL ({sid})"):
        try:
            aws.client("lambda").add_permission(**where, StatementId=sid, **statement)
        except ClientError as exc:
            if error_code(exc) != "ResourceConflictException":  # the statement exists
                raise


# -------------------------------------------------------------------------------- smoke
@dataclass(frozen=True)
class Smoke:
    event: str  # where the event came from
    status: int
    function_error: str | None
    payload: str
    round_trip_ms: float
    report: dict[str, str]  # fields of the REPORT log line, when Lambda sent the log tail

    @property
    def ok(self) -> bool:
        return self.function_error is None and 200 <= self.status < 300


def smoke_invoke(
    aws: AwsTarget, name: str, qualifier: str | None, event_file: Path | None, timeout_s: int
) -> Smoke:
    payload = event_file.read_bytes() if event_file else b"{}"
    lam = aws.client("lambda", read_timeout=timeout_s + 30, retries={"total_max_attempts": 1})
    args: dict[str, Any] = {"FunctionName": name, "Payload": payload, "LogType": "Tail"}
    if qualifier:
        args["Qualifier"] = qualifier
    start = time.perf_counter()
    with aws_step(f"invoking {name} (smoke test)"):
        resp = lam.invoke(**args)
        body = resp["Payload"].read().decode("utf-8", "replace")
    elapsed = (time.perf_counter() - start) * 1000
    report: dict[str, str] = {}
    log = base64.b64decode(resp.get("LogResult") or "").decode("utf-8", "replace")
    for line in log.splitlines():
        if line.startswith("REPORT RequestId:"):
            for part in line.split("\t"):
                key, _, value = part.partition(": ")
                if value:
                    report[key.removeprefix("REPORT ").strip()] = value.strip()
    return Smoke(
        event=str(event_file) if event_file else "{}",
        status=int(resp.get("StatusCode", 0)),
        function_error=resp.get("FunctionError"),
        payload=body,
        round_trip_ms=elapsed,
        report=report,
    )
