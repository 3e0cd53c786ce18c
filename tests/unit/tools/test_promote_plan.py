"""The pure half of `sandbox promote`: platform tags, ETags, desired/current state, the diff,
and the translation of boto3's errors. No AWS (not even moto) here."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from lambda_sandbox.config import FunctionConfig, load_function
from lambda_sandbox.exceptions import BuildError
from lambda_sandbox.limits import load_limits
from lambda_sandbox.tools.promote import PromoteError, current_state, desired_state, diff, s3_etag
from lambda_sandbox.tools.promote.errors import aws_step
from lambda_sandbox.tools.promote.http_api import (
    HTTP_API,
    Route,
    desired_http_api,
    diff_http_api,
    http_api_routes,
)
from lambda_sandbox.tools.promote.package import wheel_platforms
from lambda_sandbox.tools.promote.plan import (
    ABSENT,
    CODE,
    CONCURRENCY,
    CONFIGURATION,
    REPLACE,
    TAGS,
    URL,
    UrlConfig,
    function_environment,
    url_config,
)

LIMITS = load_limits()
MIB = 1024 * 1024
ROLE = "arn:aws:iam::123456789012:role/fn-role"


def make_function(tmp_path: Path, yaml_text: str, name: str = "fn") -> FunctionConfig:
    folder = tmp_path / name
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "app.py").write_text("def handler(event, context):\n    return event\n")
    (folder / "function.yaml").write_text(yaml_text)
    return load_function(folder)


FULL_YAML = """
Handler: app.handler
Runtime: python3.12
CodeUri: src
MemorySize: 1024
Timeout: 30
EphemeralStorage: {Size: 512}
Architectures: [arm64]
ReservedConcurrentExecutions: 7
Environment: {Variables: {MODEL_BUCKET: models-here, MODEL_KEY_PREFIX: fn/, LEVEL: info}}
FunctionUrlConfig: {AuthType: NONE, Cors: {AllowOrigins: ["*"]}}
SnapStart: {ApplyOn: PublishedVersions}
AutoPublishAlias: live
Tags: {team: ml}
Description: a test function
"""


# ------------------------------------------------------------------------------ platforms
def test_wheel_platforms_follow_the_runtimes_glibc_and_architecture() -> None:
    al2023_arm = wheel_platforms("python3.12", "arm64")
    assert al2023_arm[0] == "manylinux_2_34_aarch64"  # Amazon Linux 2023: glibc 2.34
    assert "manylinux_2_28_aarch64" in al2023_arm and "manylinux2014_aarch64" in al2023_arm
    assert all(tag.endswith("_aarch64") for tag in al2023_arm)
    al2_x86 = wheel_platforms("python3.11", "x86_64")
    assert al2_x86[0] == "manylinux_2_26_x86_64"  # Amazon Linux 2: glibc 2.26
    assert "manylinux2014_x86_64" in al2_x86 and "manylinux_2_28_x86_64" not in al2_x86
    assert all(tag.endswith("_x86_64") for tag in al2_x86)


def test_wheel_platforms_refuse_what_lambda_does_not_have() -> None:
    with pytest.raises(BuildError, match="x86_64 and arm64"):
        wheel_platforms("python3.12", "riscv64")
    with pytest.raises(BuildError, match=r"python2\.7"):
        wheel_platforms("python2.7", "x86_64")


# ---------------------------------------------------------------------------------- ETags
def _etag_by_hand(data: bytes, part: int) -> str:
    digests = [hashlib.md5(data[i : i + part]).digest() for i in range(0, len(data), part)]
    return f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(digests)}"


def test_s3_etag_is_md5_below_the_threshold_and_multipart_above(tmp_path: Path) -> None:
    small = tmp_path / "small.bin"
    small.write_bytes(b"x" * 1000)
    assert s3_etag(small) == hashlib.md5(b"x" * 1000).hexdigest()

    chunk = 5 * MIB  # S3's smallest part size
    data = bytes(range(256)) * (12 * MIB // 256)  # 12 MiB: parts of 5, 5 and 2 MiB
    big = tmp_path / "big.bin"
    big.write_bytes(data)
    assert s3_etag(big, chunk) == _etag_by_hand(data, chunk)
    assert s3_etag(big, chunk).endswith("-3")

    exact = tmp_path / "exact.bin"  # exactly one part: still a multipart upload of 1 part
    exact.write_bytes(data[:chunk])
    assert s3_etag(exact, chunk) == _etag_by_hand(data[:chunk], chunk)
    assert s3_etag(exact, chunk).endswith("-1")


# ---------------------------------------------------------------------------- environment
def test_environment_carries_the_model_location_and_nothing_of_the_sandbox(
    tmp_path: Path,
) -> None:
    config = make_function(tmp_path, FULL_YAML)
    env = function_environment(config, model_bucket="other-bucket", model_prefix="fn/")
    assert env["MODEL_BUCKET"] == "other-bucket"  # --model-bucket wins over function.yaml
    assert env["MODEL_KEY_PREFIX"] == "fn/"
    assert env["LEVEL"] == "info"
    # only function.yaml's own variables (and the model location) are deployed: what the
    # sandbox sets locally, such as SANDBOX_VCPUS, is not in function.yaml
    assert set(env) == {"MODEL_BUCKET", "MODEL_KEY_PREFIX", *config.environment}


def test_a_streaming_function_gets_lambdas_exec_wrapper(tmp_path: Path) -> None:
    config = make_function(
        tmp_path,
        "Handler: app.handler\nRuntime: python3.12\n"
        "FunctionUrlConfig: {AuthType: NONE, InvokeMode: RESPONSE_STREAM}\n",
    )
    env = function_environment(config)
    assert env["AWS_LAMBDA_EXEC_WRAPPER"] == "/var/task/lambda-stream-wrapper"


def test_environment_over_lambdas_4_kb_is_refused(tmp_path: Path) -> None:
    config = make_function(tmp_path, "Handler: app.handler\n")
    config = config.with_updates(environment={"BIG": "x" * 4090})
    with pytest.raises(PromoteError, match="over Lambda's 4096 bytes"):
        function_environment(config)


# -------------------------------------------------------------------------- desired state
def test_desired_state_maps_function_yaml_one_to_one(tmp_path: Path) -> None:
    config = make_function(tmp_path, FULL_YAML)
    env = function_environment(config)
    state = desired_state(config, role=ROLE, environment=env, code_sha256="abc=")
    assert state.package_type == "Zip"
    assert (state.runtime, state.handler, state.role) == ("python3.12", "app.handler", ROLE)
    assert (state.memory_mb, state.timeout_s, state.ephemeral_mb) == (1024, 30, 512)
    assert state.architecture == "arm64"
    assert state.reserved_concurrency == 7
    assert state.snap_start is True
    assert state.alias == "live"
    assert state.tags == {"team": "ml"}
    assert state.description == "a test function"
    assert state.function_url == UrlConfig("NONE", "BUFFERED", {"AllowOrigins": ["*"]})
    assert state.code_sha256 == "abc="

    image = desired_state(config, role=ROLE, environment=env, image_uri="r/fn:1")
    assert (image.package_type, image.runtime, image.handler) == ("Image", None, None)
    assert image.image_command == ("app.handler",) and image.code_sha256 is None


def test_url_config_normalises_case_and_defaults() -> None:
    assert url_config(None) is None
    assert url_config({"AuthType": "none"}) == UrlConfig("NONE", "BUFFERED", None)
    assert url_config({"AuthType": "AWS_IAM", "InvokeMode": "response_stream"}) == UrlConfig(
        "AWS_IAM", "RESPONSE_STREAM", None
    )


# -------------------------------------------------------------------------- current state
def get_function_response(**overrides: Any) -> dict[str, Any]:
    """GetFunction's answer as Lambda gives it (the fields promote reads)."""
    configuration = {
        "FunctionName": "fn",
        "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:fn",
        "Runtime": "python3.12",
        "Role": ROLE,
        "Handler": "app.handler",
        "CodeSize": 1234,
        "Description": "a test function",
        "Timeout": 30,
        "MemorySize": 1024,
        "CodeSha256": "abc=",
        "Version": "$LATEST",
        "Environment": {"Variables": {}},
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": ["arm64"],
        "EphemeralStorage": {"Size": 512},
        "SnapStart": {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"},
    }
    configuration.update(overrides)
    return {
        "Configuration": configuration,
        "Code": {"RepositoryType": "S3", "Location": "https://example.invalid/code"},
        "Tags": {"team": "ml", "owner": "someone-else"},
        "Concurrency": {"ReservedConcurrentExecutions": 7},
    }


def _same_function(tmp_path: Path) -> tuple[Any, Any]:
    config = make_function(tmp_path, FULL_YAML)
    env = function_environment(config)
    desired = desired_state(config, role=ROLE, environment=env, code_sha256="abc=")
    current = current_state(
        get_function_response(Environment={"Variables": dict(env)}),
        url={"AuthType": "NONE", "InvokeMode": "BUFFERED", "Cors": {"AllowOrigins": ["*"]}},
        alias="live",
    )
    return desired, current


def test_current_state_parses_get_function(tmp_path: Path) -> None:
    desired, current = _same_function(tmp_path)
    assert current.arn == "arn:aws:lambda:us-east-1:123456789012:function:fn"
    assert current.reserved_concurrency == 7
    assert current.architecture == "arm64" and current.snap_start is True
    assert current.function_url == desired.function_url


def test_a_function_that_matches_has_no_changes(tmp_path: Path) -> None:
    desired, current = _same_function(tmp_path)
    assert diff(desired, current) == ()  # others' tags (owner) are left alone


def test_an_absent_function_is_all_additions(tmp_path: Path) -> None:
    desired, _ = _same_function(tmp_path)
    changes = diff(desired, None)
    assert changes and all(c.sign == "+" and c.before is ABSENT for c in changes)
    fields = {c.field: c.after for c in changes}
    assert fields["MemorySize"] == 1024
    assert fields["Architectures"] == ("arm64",)
    assert fields["ReservedConcurrentExecutions"] == 7
    assert fields["FunctionUrlConfig.AuthType"] == "NONE"
    assert fields["Environment.MODEL_BUCKET"] == "models-here"


def test_changes_are_grouped_by_the_call_that_makes_them(tmp_path: Path) -> None:
    desired, current = _same_function(tmp_path)
    env = dict(current.environment)
    env["OLD"] = "gone soon"
    env["LEVEL"] = "debug"
    raw = get_function_response(MemorySize=512, CodeSha256="old=", Environment={"Variables": env})
    raw["Concurrency"] = {}
    current = current_state(raw, url={"AuthType": "AWS_IAM"}, alias="live")
    changes = {c.field: c for c in diff(desired, current)}
    assert changes["MemorySize"].group == CONFIGURATION
    assert (changes["MemorySize"].sign, changes["MemorySize"].before) == ("~", 512)
    assert changes["CodeSha256"].group == CODE
    assert changes["Environment.OLD"].sign == "-"
    assert changes["Environment.LEVEL"].describe().endswith("debug -> info")
    assert changes["ReservedConcurrentExecutions"].group == CONCURRENCY
    assert changes["ReservedConcurrentExecutions"].sign == "+"
    assert changes["FunctionUrlConfig.AuthType"].group == URL
    assert "Timeout" not in changes


def test_removed_settings_and_other_changes(tmp_path: Path) -> None:
    config = make_function(tmp_path, "Handler: app.handler\nRuntime: python3.12\n")
    desired = desired_state(config, role=ROLE, environment={}, code_sha256="abc=")
    current = current_state(
        get_function_response(PackageType="Image", Runtime=None, Handler=None),
        url={"AuthType": "NONE"},
    )
    changes = {c.field: c for c in diff(desired, current)}
    assert changes["PackageType"].group == REPLACE
    assert changes["ReservedConcurrentExecutions"].sign == "-"  # not in function.yaml
    assert changes["FunctionUrlConfig.AuthType"].sign == "-"
    assert all(c.group != TAGS for c in changes.values())  # no Tags in function.yaml


# ----------------------------------------------------------------------------- HTTP API
HTTP_API_YAML = """
Handler: app.handler
Runtime: python3.12
Events:
  Catch: {Type: HttpApi}
  Get: {Type: HttpApi, Properties: {Path: "/items/{id}", Method: get}}
  Any: {Type: HttpApi, Properties: {Path: "/{proxy+}", Method: x-amazon-apigateway-any-method,
        PayloadFormatVersion: "1.0", TimeoutInMillis: 60000}}
  Quick: {Type: HttpApi, Properties: {Path: /quick, Method: POST, TimeoutInMillis: 500}}
  Bucket: {Type: S3, Properties: {Bucket: b}}
"""
TARGET = "arn:aws:lambda:us-east-1:123456789012:function:fn"


def test_http_api_routes_follow_sams_defaults(tmp_path: Path) -> None:
    config = make_function(tmp_path, HTTP_API_YAML)
    routes = {r.key: (r.payload_version, r.timeout_ms) for r in http_api_routes(config, LIMITS)}
    assert routes == {
        "$default": ("2.0", 29000),  # no Path and no Method: the catch-all route
        "GET /items/{id}": ("2.0", 29000),
        "ANY /{proxy+}": ("1.0", 29000),  # API Gateway's integration timeout caps 60 s
        "POST /quick": ("2.0", 500),
    }
    assert desired_http_api(make_function(tmp_path, FULL_YAML, "plain"), TARGET) is None


def test_http_api_bad_events_are_refused_with_the_key(tmp_path: Path) -> None:
    bad = HTTP_API_YAML.replace('"/items/{id}"', "items")
    with pytest.raises(PromoteError, match=r"Events\.Get\.Properties\.Path 'items' must start"):
        http_api_routes(make_function(tmp_path, bad))
    twice = HTTP_API_YAML.replace("/quick, Method: POST", '"/items/{id}", Method: GET')
    with pytest.raises(PromoteError, match=r"two HttpApi events have the route 'GET /items/"):
        http_api_routes(make_function(tmp_path, twice, "twice"))


def test_http_api_diff(tmp_path: Path) -> None:
    desired = desired_http_api(make_function(tmp_path, HTTP_API_YAML), TARGET, LIMITS)
    assert desired is not None
    created = {c.field: c for c in diff_http_api(desired, None)}
    assert all(c.sign == "+" and c.group == HTTP_API for c in created.values())
    assert set(created) == {
        "HttpApi", "HttpApi.Integration.Target", "HttpApi.Stage.$default", "HttpApi.Permission",
        "HttpApi.Route.$default", "HttpApi.Route.GET /items/{id}", "HttpApi.Route.ANY /{proxy+}",
        "HttpApi.Route.POST /quick",
    }  # fmt: skip
    same = dataclasses.replace(desired, api_id="abc", endpoint="https://abc.example/")
    assert diff_http_api(desired, same) == ()
    drifted = dataclasses.replace(
        same,
        routes=(*desired.routes[1:], Route("GET /old")),
        target=TARGET + ":live",
        stage_auto_deploy=None,
        permitted=False,
    )
    changes = {c.field: c for c in diff_http_api(desired, drifted)}
    assert changes["HttpApi.Route.GET /old"].sign == "-"
    assert changes[f"HttpApi.Route.{desired.routes[0].key}"].sign == "+"
    assert changes["HttpApi.Integration.Target"].sign == "~"
    assert changes["HttpApi.Stage.$default"].sign == "+"
    assert changes["HttpApi.Permission"].sign == "+"
    assert diff_http_api(None, same) == ()  # events removed: the API is left alone


# ------------------------------------------------------------------------------- errors
def test_aws_errors_become_messages_that_say_what_to_do() -> None:
    denied = ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "not allowed: lambda:X"}},
        "CreateFunction",
    )
    with pytest.raises(PromoteError) as info, aws_step("creating function fn"):
        raise denied
    text = str(info.value)
    assert text.startswith("creating function fn failed: AccessDeniedException: not allowed")
    assert "--profile" in text

    with pytest.raises(PromoteError, match="no AWS credentials found"), aws_step("x"):
        raise NoCredentialsError()
    with pytest.raises(PromoteError, match=r"cannot reach http://127\.0\.0\.1:1"), aws_step("x"):
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
    role = ClientError(
        {
            "Error": {
                "Code": "InvalidParameterValueException",
                "Message": "The role defined for the function cannot be assumed by Lambda.",
            }
        },
        "CreateFunction",
    )
    with pytest.raises(PromoteError, match=r"must trust lambda\.amazonaws\.com"), aws_step("x"):
        raise role
