"""Functions managed with boto3 alone, as code that deploys its own functions does: create from
a zip, wait as boto3's waiters wait, invoke, update the code, publish versions, move an alias,
delete; and what a restart of the sandbox keeps."""

from __future__ import annotations

import io
import json
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambda_sandbox.pytest_plugin import make_lambda_client
from lambda_sandbox.runner import SandboxOptions, SandboxThread

pytestmark = [pytest.mark.integration, pytest.mark.root]
ROLE = "arn:aws:iam::000000000000:role/lambda-role"
HANDLER = """\
import os

def handler(event, context):
    return {"answer": %r, "version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"],
            "arn": context.invoked_function_arn}
"""


def code(answer: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as package:
        package.writestr("app.py", HANDLER % answer)
    return out.getvalue()


def serve(project: Path) -> SandboxThread:
    opts = SandboxOptions(configs=[], port=0, embedded_aws=False, project_dir=project)
    return SandboxThread(opts).start(timeout_s=300)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[SandboxThread, Any]]:
    thread = serve(tmp_path)
    try:
        yield thread, make_lambda_client(thread.url)
    finally:
        thread.stop()


def call(client: Any, qualifier: str | None = None) -> dict[str, Any]:
    extra = {"Qualifier": qualifier} if qualifier else {}
    resp = client.invoke(FunctionName="made", Payload=b"{}", **extra)
    assert "FunctionError" not in resp
    body: dict[str, Any] = json.load(resp["Payload"])
    body["executed"] = resp["ExecutedVersion"]
    return body


def test_create_wait_invoke_update_publish_and_move_an_alias(
    api: tuple[SandboxThread, Any],
) -> None:
    _, client = api
    created = client.create_function(
        FunctionName="made", Runtime="python3.12", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": code("one")},
    )  # fmt: skip
    # as AWS answers CreateFunction (LocalStack's snapshot test_version_lifecycle)
    assert created["State"] == "Pending" and created["StateReasonCode"] == "Creating"
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    client.get_waiter("function_active_v2").wait(FunctionName="made", WaiterConfig={"Delay": 1})
    assert call(client)["answer"] == "one"
    v1 = client.publish_version(FunctionName="made")
    updated = client.update_function_code(FunctionName="made", ZipFile=code("two"))
    assert updated["LastUpdateStatus"] == "InProgress"
    client.get_waiter("function_updated_v2").wait(FunctionName="made", WaiterConfig={"Delay": 1})
    v2 = client.publish_version(FunctionName="made")
    assert (v1["Version"], v2["Version"]) == ("1", "2")
    client.create_alias(FunctionName="made", Name="live", FunctionVersion="1")
    first = call(client, "live")
    assert first["answer"] == "one" and first["version"] == "1" and first["executed"] == "1"
    assert first["arn"].endswith(":function:made:live")  # as invoked
    client.update_alias(FunctionName="made", Name="live", FunctionVersion="2")
    second = call(client, "live")
    assert second["answer"] == "two" and second["executed"] == "2"
    assert call(client, "1")["answer"] == "one"
    assert call(client, "$LATEST")["arn"].endswith(":function:made:$LATEST")
    versions = client.list_versions_by_function(FunctionName="made")["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]
    # a published version keeps the code it was published with: GetFunction serves it
    location = client.get_function(FunctionName="made", Qualifier="1")["Code"]["Location"]
    with urllib.request.urlopen(location, timeout=30) as resp:
        data = resp.read()
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        assert "'one'" in package.read("app.py").decode()


def test_what_aws_answers_for_missing_and_conflicting_names(
    api: tuple[SandboxThread, Any],
) -> None:
    _, client = api
    client.create_function(FunctionName="made", Runtime="python3.12", Role=ROLE,
                           Handler="app.handler", Code={"ZipFile": code("one")})  # fmt: skip
    client.get_waiter("function_active_v2").wait(FunctionName="made", WaiterConfig={"Delay": 1})
    arn = "arn:aws:lambda:us-east-1:000000000000:function:made"
    cases = [
        (lambda: client.invoke(FunctionName="made", Qualifier="7"),
         "ResourceNotFoundException", f"Function not found: {arn}:7"),
        (lambda: client.get_function(FunctionName="made", Qualifier="1221"),
         "ResourceNotFoundException", f"Function not found: {arn}:1221"),
        (lambda: client.invoke(FunctionName="nothing"),
         "ResourceNotFoundException",
         "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nothing:$LATEST"),
        (lambda: client.get_function(FunctionName=arn.replace("us-east-1", "eu-west-1")),
         "ResourceNotFoundException",
         "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')"),
        (lambda: client.get_function(FunctionName=f"{arn}:1", Qualifier="2"),
         "InvalidParameterValueException",
         "The derived qualifier from the function name does not match the specified qualifier."),
        (lambda: client.delete_function(FunctionName="made", Qualifier="$LATEST"),
         "InvalidParameterValueException",
         "$LATEST version cannot be deleted without deleting the function."),
        (lambda: client.create_function(FunctionName="made", Runtime="python3.12", Role=ROLE,
                                         Handler="app.handler", Code={"ZipFile": code("x")}),
         "ResourceConflictException", "Function already exist: made"),
        (lambda: client.create_function(FunctionName="other", Runtime="python3.12", Role=ROLE,
                                         Handler="app.handler", Code={"ZipFile": b"not a zip"}),
         "InvalidParameterValueException",
         "Could not unzip uploaded file. Please check your file, then try to upload again."),
        (lambda: client.publish_version(FunctionName="made", RevisionId="stale"),
         "PreconditionFailedException",
         "The Revision Id provided does not match the latest Revision Id. Call the "
         "GetFunction/GetAlias API to retrieve the latest Revision Id"),
        (lambda: client.create_alias(FunctionName="made", Name="2024", FunctionVersion="$LATEST"),
         "ValidationException",
         "1 validation error detected: Value '2024' at 'name' failed to satisfy constraint: "
         "Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)"),
        (lambda: client.update_function_configuration(FunctionName="made", Timeout=901),
         "ValidationException",
         "1 validation error detected: Value '901' at 'timeout' failed to satisfy constraint: "
         "Member must have value less than or equal to 900"),
        (lambda: client.update_function_configuration(
            FunctionName="made", Environment={"Variables": {"AWS_REGION": "eu-west-1"}}),
         "InvalidParameterValueException",
         "Lambda was unable to configure your environment variables because the environment "
         "variables you have provided contains reserved keys that are currently not supported "
         "for modification. Reserved keys used in this request: AWS_REGION"),
    ]  # fmt: skip
    for operation, code_, message in cases:
        with pytest.raises(ClientError) as info:
            operation()
        error = info.value.response["Error"]
        assert (error["Code"], error["Message"]) == (code_, message)


def test_a_created_function_is_there_after_a_restart(tmp_path: Path) -> None:
    thread = serve(tmp_path)
    try:
        client = make_lambda_client(thread.url)
        client.create_function(FunctionName="made", Runtime="python3.12", Role=ROLE,
                               Handler="app.handler", Code={"ZipFile": code("kept")})  # fmt: skip
        client.get_waiter("function_active_v2").wait(FunctionName="made")
    finally:
        thread.stop()
    again = serve(tmp_path)
    try:
        assert call(make_lambda_client(again.url))["answer"] == "kept"
    finally:
        again.stop()


def test_auto_publish_alias_publishes_at_start_and_after_a_reload(tmp_path: Path) -> None:
    from lambda_sandbox.hot_reload import reload

    (tmp_path / "src").mkdir()
    app = tmp_path / "src" / "app.py"
    app.write_text(HANDLER % "first")
    (tmp_path / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Published:\n"
        "    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: src/\n"
        "      Handler: app.handler\n      Runtime: python3.12\n      AutoPublishAlias: live\n"
    )
    opts = SandboxOptions(template=tmp_path / "template.yaml", port=0, embedded_aws=False,
                          project_dir=tmp_path)  # fmt: skip
    with SandboxThread(opts).start(timeout_s=300) as thread:
        client = make_lambda_client(thread.url)
        first = json.load(client.invoke(FunctionName="Published", Qualifier="live")["Payload"])
        assert (first["answer"], first["version"]) == ("first", "1")
        app.write_text(HANDLER % "second")
        thread.call(lambda: reload(thread.sandbox, {app}, lambda _m: None))
        second = json.load(client.invoke(FunctionName="Published", Qualifier="live")["Payload"])
        assert (second["answer"], second["version"]) == ("second", "2")
        alias = client.get_alias(FunctionName="Published", Name="live")
        assert alias["FunctionVersion"] == "2"
        assert (
            json.load(client.invoke(FunctionName="Published", Qualifier="1")["Payload"])["answer"]
            == "first"
        )
