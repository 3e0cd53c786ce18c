"""`sandbox promote`: against moto (in process) and against a real LocalStack as "AWS".

moto runs every test; the LocalStack ones are marked integration + slow. LocalStack runs from
a virtualenv of its own that the `localstack` fixture makes on first use (see there), because
its pins would clash with the project's.
"""

from __future__ import annotations

import base64
import dataclasses
import glob
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from rich.console import Console

from lambda_sandbox.aws_side import free_port
from lambda_sandbox.config import FunctionConfig, load_function
from lambda_sandbox.cost import cost_per_million
from lambda_sandbox.limits import Limits, load_limits
from lambda_sandbox.paths import cache_root
from lambda_sandbox.tools.promote import (
    ListReporter,
    PromoteError,
    PromoteOptions,
    PromoteResult,
    plan_promotion,
    promote,
    run_promote,
    s3_etag,
)
from lambda_sandbox.tools.promote.deploy import AwsTarget

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
KEY_ID = "AKIAPROMOTETESTKEY00"
SECRET = "promote-test-secret-never-printed-0123456789"
MIB = 1024 * 1024
MOTO_CONFIG: Any = {"lambda": {"use_docker": False}}  # invoke answers with the event itself

APP = """\
import os


def handler(event, context):
    return {"echo": event, "memory": os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")}
"""

BUILD_MODEL = """\
import argparse
import pathlib
import random

parser = argparse.ArgumentParser()
parser.add_argument("--out", required=True)
out = pathlib.Path(parser.parse_args().out)
rng = random.Random(7)
(out / "weights.bin").write_bytes(rng.randbytes(12 * 1024 * 1024))  # 2 parts of 8 MiB
(out / "labels.json").write_text('["cat", "dog"]')
"""

FUNCTION_YAML = """\
Handler: app.handler
Runtime: python3.12
CodeUri: src
MemorySize: 512
Timeout: 20
EphemeralStorage: {Size: 1024}
Architectures: [arm64]
ReservedConcurrentExecutions: 5
Environment:
  Variables:
    MODEL_BUCKET: promote-test-models
    MODEL_KEY_PREFIX: probe/
    LOG_LEVEL: info
FunctionUrlConfig: {AuthType: NONE}
AutoPublishAlias: live
Tags: {team: ml}
Models:
  Build: build_model.py
  Artifacts: [weights.bin, labels.json]
"""
NO_MODELS_YAML = FUNCTION_YAML.split("Models:")[0]


# -------------------------------------------------------------------------------- fixtures
@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Credentials from the environment only (no profile of the machine's user), and a model /
    package cache of the test's own."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def own_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("SANDBOX_CACHE_DIR", str(cache))
    return cache


@pytest.fixture
def moto(aws_env: None) -> Iterator[None]:
    with mock_aws(config=MOTO_CONFIG):
        yield


def make_function(
    root: Path, name: str = "promote-probe", yaml_text: str = FUNCTION_YAML
) -> FunctionConfig:
    folder = root / name
    (folder / "src").mkdir(parents=True, exist_ok=True)
    (folder / "events").mkdir(exist_ok=True)
    (folder / "src" / "app.py").write_text(APP)
    (folder / "build_model.py").write_text(BUILD_MODEL)
    (folder / "events" / "direct.json").write_text('{"name": "smoke"}')
    (folder / "function.yaml").write_text(yaml_text)
    return load_function(folder)


def clients(endpoint_url: str | None = None) -> dict[str, Any]:
    kw: dict[str, Any] = {"region_name": REGION, "endpoint_url": endpoint_url}
    return {name: boto3.client(name, **kw) for name in ("lambda", "s3", "iam")}


def snapshot(endpoint_url: str | None = None) -> dict[str, Any]:
    """Everything a promotion could create: functions, buckets and objects, roles."""
    c = clients(endpoint_url)
    buckets = sorted(b["Name"] for b in c["s3"].list_buckets().get("Buckets", []))
    return {
        "functions": sorted(
            (f["FunctionName"], f["MemorySize"], f["CodeSha256"])
            for f in c["lambda"].list_functions()["Functions"]
        ),
        "buckets": buckets,
        "objects": {
            b: sorted(o["Key"] for o in c["s3"].list_objects_v2(Bucket=b).get("Contents", []))
            for b in buckets
        },
        "roles": sorted(r["RoleName"] for r in c["iam"].list_roles()["Roles"]),
    }


def assert_same_configuration(fn: FunctionConfig, result: PromoteResult, lam: Any) -> None:
    got = lam.get_function(FunctionName=fn.name)
    cfg = got["Configuration"]
    assert cfg["Runtime"] == fn.runtime and cfg["Handler"] == fn.handler
    assert cfg["MemorySize"] == fn.memory_mb
    assert cfg["Timeout"] == int(fn.timeout_s)
    assert cfg["EphemeralStorage"] == {"Size": fn.ephemeral_mb}
    assert cfg["Architectures"] == list(fn.architectures)
    variables = cfg["Environment"]["Variables"]
    assert {k: variables[k] for k in fn.environment} == fn.environment
    assert "SANDBOX_VCPUS" not in variables, "only function.yaml's own variables are deployed"
    assert result.plan.package is not None
    assert cfg["CodeSha256"] == result.plan.package.sha256
    concurrency = lam.get_function_concurrency(FunctionName=fn.name)
    assert concurrency["ReservedConcurrentExecutions"] == fn.reserved_concurrency
    assert got["Tags"]["team"] == "ml"


# ------------------------------------------------------------------------------------ moto
def test_promote_creates_the_function_with_the_same_configuration(
    moto: None, own_cache: Path, tmp_path: Path
) -> None:
    fn = make_function(tmp_path)
    reporter = ListReporter()
    result = promote(fn, PromoteOptions(create_role=True, duration_ms=87.3), reporter=reporter)
    assert result.applied
    c = clients()
    assert_same_configuration(fn, result, c["lambda"])
    assert c["lambda"].get_alias(FunctionName=fn.name, Name="live")["FunctionVersion"] == "1"
    assert result.version == "1"
    url = c["lambda"].get_function_url_config(FunctionName=fn.name, Qualifier="live")
    assert url["AuthType"] == "NONE" and result.endpoint == url["FunctionUrl"]
    policy = json.loads(c["lambda"].get_policy(FunctionName=fn.name, Qualifier="live")["Policy"])
    actions = {s["Action"]: s for s in policy["Statement"]}
    assert actions["lambda:InvokeFunctionUrl"]["Principal"] == "*"
    assert "lambda:InvokeFunction" in actions  # the second statement, since October 2025
    # the model artifacts, with the ETag S3 gives a multipart upload of 8 MiB parts
    models = cache_root() / "models" / fn.name
    (model_dir,) = list(models.iterdir())
    head = c["s3"].head_object(Bucket="promote-test-models", Key="probe/weights.bin")
    assert head["ETag"].strip('"') == s3_etag(model_dir / "weights.bin")
    assert head["ETag"].strip('"').endswith("-2")
    assert reporter.transferred["weights.bin -> s3://promote-test-models/probe/weights.bin"] == (
        12 * MIB
    )
    # the role may write logs and read the models, nothing more
    role = c["iam"].get_role(RoleName="lambda-sandbox-promote-probe")["Role"]
    assert c["lambda"].get_function(FunctionName=fn.name)["Configuration"]["Role"] == role["Arn"]
    # smoke test with events/direct.json, and the cost at the duration measured locally
    assert result.smoke is not None and result.smoke.ok
    assert json.loads(result.smoke.payload) == {"name": "smoke"}  # moto echoes the event
    assert result.cost is not None
    expected = cost_per_million(88, 512, arch="arm64", ephemeral_mb=1024)  # billed: 87.3 -> 88
    assert result.cost.per_million == pytest.approx(expected)


def test_a_second_promote_updates_in_place(moto: None, own_cache: Path, tmp_path: Path) -> None:
    fn = make_function(tmp_path)
    first = promote(fn, PromoteOptions(create_role=True))
    lam = clients()["lambda"]
    arn = lam.get_function(FunctionName=fn.name)["Configuration"]["FunctionArn"]

    # change the code and the memory: one update of each, same function
    (fn.code_dir / "app.py").write_text(APP + "\nVERSION = 2\n")
    changed = fn.with_updates(memory_mb=1024)
    reporter = ListReporter()
    second = promote(changed, PromoteOptions(create_role=True), reporter=reporter)
    fields = {c.field for c in second.plan.changes}
    assert {"MemorySize", "CodeSha256"} <= fields
    assert not any(f.startswith("Environment.") for f in fields), "no variable of the sandbox's"
    assert "Runtime" not in fields
    functions = lam.list_functions()["Functions"]
    assert [f["FunctionName"] for f in functions] == [fn.name]
    cfg = lam.get_function(FunctionName=fn.name)["Configuration"]
    assert cfg["FunctionArn"] == arn
    assert cfg["MemorySize"] == 1024
    assert second.plan.package is not None and first.plan.package is not None
    assert cfg["CodeSha256"] == second.plan.package.sha256 != first.plan.package.sha256
    assert lam.get_alias(FunctionName=fn.name, Name="live")["FunctionVersion"] == "2"
    assert any("unchanged (ETag matches)" in s for s in reporter.steps)
    assert not reporter.transferred  # the models were not uploaded again

    # nothing changed: nothing to do, and nothing is done
    third = plan_promotion(changed, PromoteOptions(create_role=True))
    assert third.changes == () and third.up_to_date
    assert "no changes" in third.text()
    before = snapshot()
    promote(changed, PromoteOptions(create_role=True))
    assert snapshot() == before
    versions = lam.list_versions_by_function(FunctionName=fn.name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]


def test_dry_run_prints_the_diff_and_changes_nothing(
    moto: None, own_cache: Path, tmp_path: Path
) -> None:
    fn = make_function(tmp_path)
    empty = snapshot()
    result = promote(fn, PromoteOptions(create_role=True, dry_run=True))
    assert not result.applied
    assert snapshot() == empty
    text = result.plan.text()
    assert "function promote-probe: absent -> create" in text
    assert "+ MemorySize" in text and "+ role lambda-sandbox-promote-probe" in text
    assert "+ upload weights.bin -> s3://promote-test-models/probe/weights.bin" in text

    promote(fn, PromoteOptions(create_role=True))
    deployed = snapshot()
    out = Console(record=True, width=200)
    status = run_promote(
        fn.name,
        PromoteOptions(create_role=True, dry_run=True),
        functions_dir=tmp_path,
        console=out,
    )
    assert status == 0
    assert snapshot() == deployed
    assert "function promote-probe: no changes" in out.export_text()

    bigger = tmp_path / "promote-probe" / "function.yaml"
    bigger.write_text(FUNCTION_YAML.replace("MemorySize: 512", "MemorySize: 2048"))
    out = Console(record=True, width=200)
    run_promote(fn.name, PromoteOptions(dry_run=True), functions_dir=tmp_path, console=out)
    text = out.export_text()
    assert "~ MemorySize                         512 -> 2048" in text
    assert "= s3://promote-test-models/probe/weights.bin (12.0 MB, ETag matches" in text
    assert "dry run: nothing was changed" in text
    assert snapshot() == deployed


def test_an_oversize_package_is_refused_before_any_upload(
    moto: None, own_cache: Path, tmp_path: Path
) -> None:
    fn = make_function(tmp_path, yaml_text=NO_MODELS_YAML)
    limit_mb = load_limits().q("package", "unzipped_mb")
    with open(fn.code_dir / "weights.bin", "wb") as f:  # sparse: costs no disk
        f.truncate((limit_mb + 1) * MIB)
    before = snapshot()
    with pytest.raises(PromoteError) as info:
        promote(fn, PromoteOptions(create_role=True))
    message = str(info.value)
    assert f"over Lambda's {limit_mb} MB limit for zip packages" in message
    assert "--package image" in message and "weights.bin" in message
    assert snapshot() == before


def test_a_zip_over_the_direct_upload_limit_goes_through_s3(
    moto: None, own_cache: Path, tmp_path: Path
) -> None:
    fn = make_function(tmp_path)
    (fn.code_dir / "blob.bin").write_bytes(os.urandom(2 * MIB))  # does not compress
    quotas = {k: dict(v) if isinstance(v, dict) else v for k, v in load_limits().quotas.items()}
    quotas["package"]["zipped_direct_upload_mb"] = 1
    limits = Limits(quotas, load_limits().tiers, load_limits().prices)
    result = promote(fn, PromoteOptions(create_role=True), limits=limits)
    assert result.plan.code_upload is not None and result.plan.package is not None
    assert not result.plan.package.direct_upload
    c = clients()
    key = result.plan.code_upload.key
    assert key == f"lambda-sandbox/{fn.name}/{result.plan.package.sha256_hex}.zip"
    c["s3"].head_object(Bucket="promote-test-models", Key=key)
    cfg = c["lambda"].get_function(FunctionName=fn.name)["Configuration"]
    assert cfg["CodeSha256"] == result.plan.package.sha256


def test_an_image_package_from_ecr(moto: None, own_cache: Path, tmp_path: Path) -> None:
    fn = make_function(tmp_path)
    uri = f"123456789012.dkr.ecr.{REGION}.amazonaws.com/promote-probe:v1"
    options = PromoteOptions(create_role=True, package="image", image_uri=uri, smoke_test=False)
    with pytest.raises(PromoteError, match="is not in ECR: build and push it"):
        promote(fn, options)
    ecr = boto3.client("ecr", region_name=REGION)
    assert ecr.describe_repositories()["repositories"][0]["repositoryName"] == "promote-probe"
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7,
                   "digest": "sha256:" + hashlib.sha256(b"config").hexdigest()},
        "layers": [],
    }  # fmt: skip
    ecr.put_image(repositoryName="promote-probe", imageManifest=json.dumps(manifest),
                  imageTag="v1")  # fmt: skip
    result = promote(fn, options)
    got = boto3.client("lambda", region_name=REGION).get_function(FunctionName=fn.name)
    assert got["Configuration"]["PackageType"] == "Image"
    assert got["Code"]["ImageUri"] == uri
    assert got["Configuration"]["MemorySize"] == 512
    assert result.plan.image is not None and result.plan.image.repository_exists


def test_without_a_role_or_credentials_the_message_says_what_to_do(
    moto: None, own_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_function(tmp_path)
    out = Console(record=True, width=200)
    assert run_promote("promote-probe", PromoteOptions(), functions_dir=tmp_path, console=out) == 1
    assert "blocked: the function needs an execution role: pass --role-arn or --create-role" in (
        out.export_text()
    )
    out = Console(record=True, width=200)
    assert run_promote("nope", PromoteOptions(), functions_dir=tmp_path, console=out) == 1
    assert "no function 'nope'" in out.export_text()

    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    no_credentials = mock_aws(config={**MOTO_CONFIG, "core": {"mock_credentials": False}})
    with no_credentials, pytest.raises(PromoteError, match=r"no AWS credentials found\. Pass"):
        promote(load_function(tmp_path / "promote-probe"), PromoteOptions(create_role=True))


def test_nothing_is_applied_without_a_yes(moto: None, own_cache: Path, tmp_path: Path) -> None:
    make_function(tmp_path)
    options = PromoteOptions(create_role=True)
    out = Console(record=True, width=200)
    questions: list[str] = []
    no = run_promote(
        "promote-probe", options, functions_dir=tmp_path, console=out,
        ask=lambda q: questions.append(q) or False,
    )  # fmt: skip
    assert no == 1 and snapshot()["functions"] == []
    assert questions == ["Apply this plan to account 123456789012, us-east-1?"]
    out = Console(record=True, width=200)
    assert run_promote("promote-probe", options, functions_dir=tmp_path, console=out) == 1
    assert "not a terminal: pass --yes" in out.export_text()  # pytest's stdin is no tty
    assert snapshot()["functions"] == []


def test_credentials_are_never_printed(moto: None, own_cache: Path, tmp_path: Path) -> None:
    make_function(tmp_path)
    out = Console(record=True, width=200)
    status = run_promote(
        "promote-probe", PromoteOptions(create_role=True), functions_dir=tmp_path, yes=True,
        console=out,
    )  # fmt: skip
    text = out.export_text()
    assert status == 0, text
    assert "promoted arn:aws:lambda:us-east-1:123456789012:function:promote-probe" in text
    assert "endpoint: https://" in text and "smoke test" in text and " OK " in text
    assert SECRET not in text and KEY_ID not in text


API_YAML = """\
Handler: app.handler
Runtime: python3.12
CodeUri: src
MemorySize: 256
AutoPublishAlias: live
Tags: {team: ml}
Events:
  GetItem:
    Type: HttpApi
    Properties: {Path: "/items/{id}", Method: get}
  Files:
    Type: HttpApi
    Properties: {Path: "/files/{proxy+}", Method: any, TimeoutInMillis: 5000}
  Legacy:
    Type: Api
    Properties: {Path: /legacy, Method: get}
"""


def http_apis() -> dict[str, Any]:
    """Every HTTP API with its routes, integrations and stages, and the functions' policies."""
    gw = boto3.client("apigatewayv2", region_name=REGION)
    lam = boto3.client("lambda", region_name=REGION)
    out: dict[str, Any] = {}
    for api in gw.get_apis()["Items"]:
        api_id = api["ApiId"]
        integrations = {i["IntegrationId"]: i for i in gw.get_integrations(ApiId=api_id)["Items"]}
        out[api_id] = {
            "name": api["Name"],
            "tags": api.get("Tags"),
            "endpoint": api["ApiEndpoint"],
            "routes": {
                r["RouteKey"]: integrations[r["Target"].removeprefix("integrations/")]
                for r in gw.get_routes(ApiId=api_id)["Items"]
            },
            "integrations": len(integrations),
            "stages": {s["StageName"]: s.get("AutoDeploy") for s in
                       gw.get_stages(ApiId=api_id)["Items"]},
        }  # fmt: skip
    for f in lam.list_functions()["Functions"]:
        try:
            policy = lam.get_policy(FunctionName=f["FunctionName"], Qualifier="live")["Policy"]
        except lam.exceptions.ResourceNotFoundException:
            continue
        out[f"policy {f['FunctionName']}"] = json.loads(policy)["Statement"]
    return out


def test_http_api_events_become_one_http_api_with_their_routes(
    moto: None, own_cache: Path, tmp_path: Path
) -> None:
    fn = make_function(tmp_path, name="api-probe", yaml_text=API_YAML)
    # dry run: the API is in the diff, and nothing exists afterwards
    dry = promote(fn, PromoteOptions(create_role=True, dry_run=True))
    text = dry.plan.text()
    assert "HTTP API api-probe: absent -> create" in text
    assert "+ HttpApi.Route.GET /items/{id}" in text
    assert "+ HttpApi.Route.ANY /files/{proxy+}  Lambda proxy, payload 2.0, timeout 5000 ms" in text
    assert "+ HttpApi.Stage.$default             auto-deploy" in text
    assert "+ HttpApi.Permission" in text
    assert "Events of Type Api are not promoted yet" in text
    assert http_apis() == {} and snapshot()["functions"] == []

    out = Console(record=True, width=200)
    status = run_promote(
        fn.name, PromoteOptions(create_role=True), functions_dir=tmp_path, yes=True, console=out
    )
    assert status == 0, out.export_text()
    apis = http_apis()
    ((api_id, api),) = [(k, v) for k, v in apis.items() if not k.startswith("policy")]
    assert api["name"] == "api-probe" and api["tags"]["lambda-sandbox:function"] == "api-probe"
    assert api["tags"]["team"] == "ml"
    assert f"HTTP API: {api['endpoint']}/ (ANY /files/{{proxy+}}, GET /items/{{id}})" in (
        out.export_text()
    )
    alias_arn = f"arn:aws:lambda:{REGION}:123456789012:function:api-probe:live"
    assert set(api["routes"]) == {"GET /items/{id}", "ANY /files/{proxy+}"}
    for key, timeout in (("GET /items/{id}", 29000), ("ANY /files/{proxy+}", 5000)):
        integration = api["routes"][key]
        assert integration["IntegrationType"] == "AWS_PROXY"
        assert integration["IntegrationUri"] == alias_arn
        assert integration["PayloadFormatVersion"] == "2.0"
        assert integration["TimeoutInMillis"] == timeout
    assert api["stages"] == {"$default": True}
    (statement,) = apis["policy api-probe"]
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert statement["Action"] == "lambda:InvokeFunction"
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == (
        f"arn:aws:execute-api:{REGION}:123456789012:{api_id}/*"
    )

    # a second promote: nothing to do, no second API, route, integration or statement
    again = plan_promotion(fn, PromoteOptions(create_role=True))
    assert again.changes == () and again.up_to_date
    assert f"HTTP API api-probe: {api_id}, {api['endpoint']}/" in again.text()
    second = promote(fn, PromoteOptions(create_role=True))
    assert second.http_api_endpoint == api["endpoint"] + "/"
    assert http_apis() == apis

    # a route less and a route more: the same API changes in place
    yaml_text = API_YAML.replace('Path: "/items/{id}", Method: get', "Path: /health, Method: get")
    (tmp_path / "api-probe" / "function.yaml").write_text(yaml_text)
    changed = load_function(tmp_path / "api-probe")
    plan = plan_promotion(changed, PromoteOptions(create_role=True))
    assert {(c.sign, c.field) for c in plan.changes} == {
        ("+", "HttpApi.Route.GET /health"),
        ("-", "HttpApi.Route.GET /items/{id}"),
    }
    assert "function api-probe: no changes" in plan.text()
    promote(changed, PromoteOptions(create_role=True))
    after = http_apis()
    assert list(k for k in after if not k.startswith("policy")) == [api_id]
    assert set(after[api_id]["routes"]) == {"GET /health", "ANY /files/{proxy+}"}
    assert after[api_id]["integrations"] == 2
    assert after["policy api-probe"] == apis["policy api-probe"]


# ---------------------------------------------------------------------- image packages
IMAGE_YAML = NO_MODELS_YAML.replace("Architectures: [arm64]", "Architectures: [x86_64]")


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    """A real registry (Debian's docker-registry, the CNCF distribution server) on
    127.0.0.1:<free port>, storing in the test's folder; its HOST:PORT. Nothing here reaches a
    public registry: the Docker engine treats 127.0.0.0/8 registries as plain HTTP ones."""
    binary = os.environ.get("SANDBOX_REGISTRY_BIN") or shutil.which("docker-registry")
    assert binary, "needs a local registry: apt-get install docker-registry"
    address = f"127.0.0.1:{free_port()}"
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\nlog: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {tmp_path / 'registry'}}}}}\n"
        f"http: {{addr: {address}}}\n"
    )
    log = open(tmp_path / "registry.log", "wb")  # noqa: SIM115 (closed at teardown)
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "registry.log").read_text()
            try:
                with urllib.request.urlopen(f"http://{address}/v2/", timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the registry did not start in 30 s"
                time.sleep(0.2)
        yield address
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def registry_get(address: str, path: str) -> tuple[bytes, dict[str, str]]:
    request = urllib.request.Request(
        f"http://{address}/v2/{path}",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return resp.read(), dict(resp.headers)


def layer_files(address: str, repository: str, digest: str) -> dict[str, bytes]:
    """Every regular file of the image's layers, by path, as the registry serves them."""
    manifest, _ = registry_get(address, f"{repository}/manifests/{digest}")
    files: dict[str, bytes] = {}
    for layer in json.loads(manifest)["layers"]:
        blob, _ = registry_get(address, f"{repository}/blobs/{layer['digest']}")
        with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
            for member in tar.getmembers():
                if member.isfile():
                    files[member.name] = tar.extractfile(member).read()  # type: ignore[union-attr]
    return files


@pytest.fixture
def tiny_base() -> Iterator[str]:
    """A base image made offline: `docker import` of a one-file tarball (nothing is pulled)."""
    import docker

    client = docker.from_env()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"lambda-sandbox test base\n"
        info = tarfile.TarInfo("etc/base-release")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    name = f"lambda-sandbox-test-base:{os.getpid()}"
    client.api.import_image_from_data(buf.getvalue(), repository=name.split(":")[0],
                                      tag=name.split(":")[1])  # fmt: skip
    yield name
    for image in client.images.list(filters={"label": "lambda-sandbox.function=img-probe"}):
        client.images.remove(image.id, force=True)
    client.images.remove(name, force=True)


@pytest.mark.docker
@pytest.mark.timeout(300)
def test_an_image_package_is_built_pushed_and_deployed_by_digest(
    moto: None, own_cache: Path, tmp_path: Path, registry: str, tiny_base: str
) -> None:
    fn = make_function(tmp_path, name="img-probe", yaml_text=IMAGE_YAML)
    options = PromoteOptions(
        create_role=True, package="image", registry=registry, base_image=tiny_base,
        smoke_test=False,
    )  # fmt: skip
    ecr = boto3.client("ecr", region_name=REGION)
    lam = boto3.client("lambda", region_name=REGION)

    # dry run: built locally, nothing on AWS or in the registry
    dry = promote(fn, dataclasses.replace(options, dry_run=True))
    text = dry.plan.text()
    assert f"+ ImageUri                           {registry}/img-probe@(digest after the push)" in (
        text
    )
    assert "+ ECR repository img-probe" in text
    assert f"Dockerfile: generated FROM {tiny_base}) -> {registry}/img-probe:sandbox-" in text
    assert snapshot()["functions"] == [] and ecr.describe_repositories()["repositories"] == []
    catalog, _ = registry_get(registry, "_catalog")
    assert json.loads(catalog)["repositories"] == []

    reporter = ListReporter()
    first = promote(fn, options, reporter=reporter)
    assert ecr.describe_repositories()["repositories"][0]["repositoryName"] == "img-probe"
    got = lam.get_function(FunctionName=fn.name)
    cfg = got["Configuration"]
    assert cfg["PackageType"] == "Image" and "Runtime" not in cfg
    assert cfg["ImageConfigResponse"]["ImageConfig"]["Command"] == ["app.handler"]
    assert (cfg["MemorySize"], cfg["Timeout"], cfg["EphemeralStorage"]) == (512, 20, {"Size": 1024})
    uri = got["Code"]["ImageUri"]
    prefix = f"{registry}/img-probe@sha256:"
    assert uri.startswith(prefix) and len(uri) == len(prefix) + 64
    digest = uri.split("@")[1]
    _, headers = registry_get(registry, f"img-probe/manifests/{digest}")
    assert headers["Docker-Content-Digest"] == digest
    files = layer_files(registry, "img-probe", digest)
    assert files["var/task/app.py"] == APP.encode()  # the bundle, on the base's layer
    assert files["etc/base-release"] == b"lambda-sandbox test base\n"
    # ECR's token went to the engine only
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    password = base64.b64decode(token).decode().partition(":")[2]
    assert not any(password in step or token in step for step in reporter.steps)
    assert first.plan.build is not None and first.plan.build.size_bytes > 0

    # unchanged: the build hits the engine's cache, the digest is known, nothing is pushed
    tags_before, _ = registry_get(registry, "img-probe/tags/list")
    second = plan_promotion(fn, options)
    assert second.changes == () and second.up_to_date
    assert "in the registry already" in second.text()
    promote(fn, options)
    assert registry_get(registry, "img-probe/tags/list")[0] == tags_before
    assert lam.get_function(FunctionName=fn.name)["Code"]["ImageUri"] == uri

    # new code: a new image and digest, the same function updated in place
    (fn.code_dir / "app.py").write_text(APP + "\nVERSION = 2\n")
    third = promote(fn, options)
    assert [c.field for c in third.plan.changes] == ["ImageUri"]
    new_uri = lam.get_function(FunctionName=fn.name)["Code"]["ImageUri"]
    assert new_uri.startswith(prefix) and new_uri != uri
    assert layer_files(registry, "img-probe", new_uri.split("@")[1])["var/task/app.py"].endswith(
        b"VERSION = 2\n"
    )
    assert [f["FunctionName"] for f in lam.list_functions()["Functions"]] == [fn.name]


@pytest.mark.docker
@pytest.mark.timeout(300)
def test_image_builds_that_lambda_could_not_run_are_refused(
    moto: None, own_cache: Path, tmp_path: Path, tiny_base: str
) -> None:
    fn = make_function(tmp_path, name="img-probe", yaml_text=NO_MODELS_YAML)  # arm64
    options = PromoteOptions(
        create_role=True, package="image", registry="127.0.0.1:9", base_image=tiny_base,
        dry_run=True,
    )  # fmt: skip
    # the base is amd64, the function arm64: the plan is blocked, and says why
    out = Console(record=True, width=200)
    assert run_promote(fn.name, options, functions_dir=tmp_path, console=out) == 1
    assert "blocked: the image was built for linux/amd64, the function runs on arm64" in (
        out.export_text()
    )
    # a base image that is not here cannot be pulled: the message says what to do
    missing = dataclasses.replace(options, base_image="lambda-sandbox-test-absent:1")
    with pytest.raises(PromoteError, match=r"cannot be pulled: `docker pull` or `docker load`"):
        promote(fn, missing)
    # the folder's own Dockerfile wins over the generated one
    (fn.folder / "Dockerfile").write_text(
        'FROM scratch\nCOPY src/ /var/task/\nCMD ["app.handler"]\n'
    )
    plan = promote(fn, options).plan
    assert plan.build is not None and plan.build.dockerfile == "function folder"
    assert plan.build.architecture == "arm64" and not plan.blockers
    assert snapshot()["functions"] == []


# docker's unix-socket adapter leaks its socket when the connect fails (docker/transport/
# unixconn.py: the socket is made, connect raises, nothing closes it)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_image_package_without_a_docker_engine_says_so(
    moto: None, own_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_function(tmp_path, name="img-probe", yaml_text=IMAGE_YAML)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    out = Console(record=True, width=200)
    options = PromoteOptions(create_role=True, package="image")
    assert run_promote("img-probe", options, functions_dir=tmp_path, yes=True, console=out) == 1
    text = " ".join(out.export_text().split())
    assert "connecting to the Docker engine failed: no Docker engine" in text
    assert "start it, or set DOCKER_HOST" in text
    assert snapshot()["functions"] == []


@pytest.mark.slow
@pytest.mark.timeout(1800)  # first run: downloads the aarch64 wheels, builds the model
def test_image_classifier_for_arm64_carries_aarch64_manylinux_wheels(aws_env: None) -> None:
    fn = load_function(ROOT / "functions" / "image-classifier")
    assert fn.architectures == ("x86_64",)  # the host's: promote builds for the target
    with mock_aws(config=MOTO_CONFIG):
        result = promote(fn, PromoteOptions(create_role=True, architecture="arm64"))
        cfg = boto3.client("lambda", region_name=REGION).get_function(
            FunctionName="image-classifier"
        )["Configuration"]
    assert cfg["Architectures"] == ["arm64"]
    package = result.plan.package
    assert package is not None and package.architecture == "arm64"
    with zipfile.ZipFile(package.path) as zf:
        names = zf.namelist()
        wheel_tags = {
            name: [ln for ln in zf.read(name).decode().splitlines() if ln.startswith("Tag: ")]
            for name in names
            if name.endswith(".dist-info/WHEEL")
        }
        numpy_tags = next(tags for name, tags in wheel_tags.items() if name.startswith("numpy-"))
        assert numpy_tags and all(
            "cp312-cp312-manylinux" in t and t.endswith("_aarch64") for t in numpy_tags
        )
        for tags in wheel_tags.values():
            assert not any("x86_64" in t for t in tags)
        shared = [n for n in names if n.endswith(".so") or ".so." in n]
        assert any(n.startswith("onnxruntime/") for n in shared)
        for name in shared:
            header = zf.open(name).read(20)
            assert header[:4] == b"\x7fELF"
            assert int.from_bytes(header[18:20], "little") == 183, name  # EM_AARCH64
    sizes = f"{package.zipped_bytes / MIB:.1f} MB zipped, {package.unzipped_bytes / MIB:.1f} MB"
    print(f"image-classifier arm64: {sizes} unzipped")


# ------------------------------------------------------------------------------ LocalStack
LOCALSTACK_PINS = tuple(
    line
    for line in (ROOT / "docker" / "localstack" / "requirements.txt").read_text().splitlines()
    if line and not line.startswith("#")
)
# LocalStack's Lambda prepares every function version by pulling the runtime's image and
# downloading its init binary: with no Docker and no registry here, functions would end in
# State Failed. This executor, selected with LAMBDA_RUNTIME_EXECUTOR, only unpacks the code;
# everything else (the Lambda API, states, versions, aliases, URLs, S3, IAM) is LocalStack's
# own. Invoking needs a real executor, so the smoke invoke is skipped against LocalStack.
EXECUTOR_PLUGIN = """\
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)


class CodeOnlyExecutor(RuntimeExecutor):
    def start(self, env_vars):
        raise LambdaRuntimeException("lambda-sandbox tests: this LocalStack runs no functions")

    def stop(self):
        pass

    def get_address(self):
        return "127.0.0.1"

    def get_endpoint_from_executor(self):
        return "127.0.0.1"

    def get_runtime_endpoint(self):
        return ""

    def invoke(self, payload):
        raise LambdaRuntimeException("lambda-sandbox tests: this LocalStack runs no functions")

    def get_logs(self):
        return ""

    @classmethod
    def prepare_version(cls, function_version):
        if function_version.config.code:
            function_version.config.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version):
        pass


class CodeOnlyExecutorPlugin(RuntimeExecutorPlugin):
    name = "sandbox-code-only"

    def load(self, *args, **kwargs):
        return CodeOnlyExecutor
"""


def _python_for_localstack() -> str | None:
    """An interpreter LocalStack 4.14 runs on: 3.13+ (it imports warnings.deprecated).
    $SANDBOX_LOCALSTACK_PYTHON, else python3.13/3.14 on PATH, else pyenv's."""
    candidates = [os.environ.get("SANDBOX_LOCALSTACK_PYTHON")]
    candidates += [shutil.which(name) for name in ("python3.13", "python3.14")]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[3-9]*/bin/python3")))
    for candidate in candidates:
        if not candidate:
            continue
        check = "import sys; assert sys.version_info >= (3, 13)"
        if subprocess.run([candidate, "-c", check], capture_output=True).returncode == 0:
            return candidate
    return None


def localstack_venv() -> Path:
    """$SANDBOX_LOCALSTACK_VENV, else <sandbox cache>/venvs/localstack-<hash of the pins>,
    made with pip on first use (about 1.5 minutes) and reused afterwards."""
    key = hashlib.sha256("\n".join(LOCALSTACK_PINS).encode()).hexdigest()[:12]
    default = cache_root() / "venvs" / f"localstack-{key}"
    venv = Path(os.environ.get("SANDBOX_LOCALSTACK_VENV") or default)
    python = venv / "bin" / "python"
    if not (venv / ".complete").exists():
        base = _python_for_localstack()
        if base is None:
            pytest.skip("LocalStack 4.14 needs Python 3.13+: set SANDBOX_LOCALSTACK_PYTHON")
        shutil.rmtree(venv, ignore_errors=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        for cmd in ([base, "-m", "venv", str(venv)], [*pip, *LOCALSTACK_PINS]):
            proc = subprocess.run(cmd, capture_output=True, text=True)
            assert proc.returncode == 0, f"{cmd[:5]} failed:\n{proc.stderr[-3000:]}"
        (venv / ".complete").touch()
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    (Path(site) / "sandbox_localstack_executor.py").write_text(EXECUTOR_PLUGIN)
    info = Path(site) / "sandbox_localstack_executor-1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: sandbox-localstack-executor\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(
        "[localstack.lambda.runtime_executor]\n"
        "sandbox-code-only = sandbox_localstack_executor:CodeOnlyExecutorPlugin\n"
    )
    return venv


@pytest.fixture(scope="session")
def localstack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A LocalStack (S3, Lambda, IAM, STS) on 127.0.0.1, from its own venv; its endpoint."""
    venv = localstack_venv()
    work = tmp_path_factory.mktemp("localstack")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON"))}
    env.update(
        GATEWAY_LISTEN=f"127.0.0.1:{port}",
        GATEWAY_SERVER="hypercorn",  # the default (twisted) listens on every address
        SERVICES="s3,lambda,iam,sts",
        LAMBDA_RUNTIME_EXECUTOR="sandbox-code-only",
        DNS_ADDRESS="0",  # no DNS server on port 53
        SKIP_SSL_CERT_DOWNLOAD="1",
        DISABLE_EVENTS="1",
        LOCALSTACK_VOLUME_DIR=str(work / "volume"),
        TMPDIR=str(work),
    )
    log = open(work / "localstack.log", "wb")  # noqa: SIM115 (closed at teardown)
    proc = subprocess.Popen(
        [str(venv / "bin" / "python"), "-m", "localstack.runtime.main"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (work / "localstack.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{url}/_localstack/health", timeout=2) as resp:
                    services = json.load(resp)["services"]
                if services.get("lambda") in ("available", "running"):
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "LocalStack did not start in 120 s"
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture
def localstack_env(localstack: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    return localstack


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(900)  # the first run makes LocalStack's venv
def test_localstack_create_update_in_place_and_dry_run(
    localstack_env: str, own_cache: Path, tmp_path: Path
) -> None:
    endpoint = localstack_env
    fn = make_function(tmp_path, name="ls-probe")
    options = PromoteOptions(endpoint_url=endpoint, create_role=True, smoke_test=False)

    # dry run first: the plan, and nothing on LocalStack
    before = snapshot(endpoint)
    dry = promote(fn, dataclasses.replace(options, dry_run=True))
    assert "function ls-probe: absent -> create" in dry.plan.text()
    assert snapshot(endpoint) == before

    # LocalStack runs no function code here (no Docker): the smoke invoke fails, and says so
    smoke_on = dataclasses.replace(options, smoke_test=True)
    first = promote(fn, smoke_on, aws=AwsTarget(endpoint_url=endpoint))
    assert first.applied and first.smoke is not None and not first.smoke.ok
    assert "invoking ls-probe (smoke test) failed: ServiceException" in str(
        first.smoke.function_error
    )
    c = clients(endpoint)
    assert_same_configuration(fn, first, c["lambda"])
    cfg = c["lambda"].get_function(FunctionName=fn.name)["Configuration"]
    assert (cfg["State"], cfg["LastUpdateStatus"]) == ("Active", "Successful")
    assert c["lambda"].get_alias(FunctionName=fn.name, Name="live")["FunctionVersion"] == "1"
    url = c["lambda"].get_function_url_config(FunctionName=fn.name, Qualifier="live")
    assert url["AuthType"] == "NONE" and first.endpoint == url["FunctionUrl"]
    head = c["s3"].head_object(Bucket="promote-test-models", Key="probe/weights.bin")
    (model_dir,) = list((cache_root() / "models" / fn.name).iterdir())
    assert head["ETag"].strip('"') == s3_etag(model_dir / "weights.bin")

    # a second promote with another memory size and code: updated in place, one function
    (fn.code_dir / "app.py").write_text(APP + "\nVERSION = 2\n")
    changed = fn.with_updates(memory_mb=768)
    reporter = ListReporter()
    second = promote(changed, options, reporter=reporter)
    assert second.plan.exists
    functions = [f["FunctionName"] for f in c["lambda"].list_functions()["Functions"]]
    assert functions.count(fn.name) == 1
    cfg = c["lambda"].get_function(FunctionName=fn.name)["Configuration"]
    assert cfg["FunctionArn"] == first.function_arn
    assert cfg["MemorySize"] == 768
    assert second.plan.package is not None
    assert cfg["CodeSha256"] == second.plan.package.sha256
    assert (cfg["State"], cfg["LastUpdateStatus"]) == ("Active", "Successful")
    assert c["lambda"].get_alias(FunctionName=fn.name, Name="live")["FunctionVersion"] == "2"
    assert not reporter.transferred  # the models' ETags matched: not uploaded again

    # a dry run of a third change leaves LocalStack as it is
    deployed = snapshot(endpoint)
    third = promote(fn.with_updates(timeout_s=60.0), dataclasses.replace(options, dry_run=True))
    assert [c.field for c in third.plan.changes] == ["MemorySize", "Timeout"]
    assert snapshot(endpoint) == deployed
    assert third.plan.up_to_date is False


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_localstack_cli_refuses_an_oversize_package(
    localstack_env: str, own_cache: Path, tmp_path: Path
) -> None:
    fn = make_function(tmp_path, name="ls-big", yaml_text=NO_MODELS_YAML)
    with open(fn.code_dir / "weights.bin", "wb") as f:
        f.truncate(300 * MIB)
    before = snapshot(localstack_env)
    out = Console(record=True, width=200)
    status = run_promote(
        "ls-big",
        PromoteOptions(endpoint_url=localstack_env, create_role=True),
        functions_dir=tmp_path,
        yes=True,
        console=out,
    )
    assert status == 1
    assert "Use an image package (--package image" in out.export_text()
    assert snapshot(localstack_env) == before


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
