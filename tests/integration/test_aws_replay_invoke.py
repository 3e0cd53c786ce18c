"""Invoke, concurrency, listing, account settings and name validation against AWS's own
recorded answers (LocalStack's snapshot tests in test_lambda_api.snapshot.json and
test_lambda.snapshot.json), replayed call by call (tests/integration/aws_replay.py)."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest

from lambda_sandbox.pytest_plugin import make_lambda_client
from tests.integration.aws_replay import ROLE, Replay, archive, client, create, done, error
from tests.integration.test_aws_replay_async import function, introspect_archive, wrapped

__all__ = ["client"]  # the module's sandbox (a fixture)

pytestmark = [pytest.mark.integration, pytest.mark.root]

NONE = "import json\n\n\ndef handler(event, context):\n    print(json.dumps(event))\n"
SLEEP = (
    "import time\n\n\ndef handler(event, context):\n    print('starting wait')\n"
    "    time.sleep(event['wait'])\n    print('done waiting')\n"
)


def read(answer: dict[str, Any]) -> dict[str, Any]:
    """An Invoke answer with its payload read: JSON where it parses (as LocalStack's
    snapshots store it), else the text."""
    out = dict(answer)
    data = out["Payload"].read().decode()
    try:
        out["Payload"] = json.loads(data) if data != "null" else data
    except ValueError:
        out["Payload"] = data
    return out


# concurrency, account, listing ------------------------------------------------------------


def test_function_concurrency(client: Any) -> None:
    name = "fn-concurrency"
    r = Replay("test_function_concurrency", {name: "<function-name:1>"})
    function(client, name)
    put = client.put_function_concurrency
    r.match("put_function_concurrency_with_reserved_0", put(FunctionName=name,
            ReservedConcurrentExecutions=0))  # fmt: skip
    r.match("put_function_concurrency_with_reserved_1", put(FunctionName=name,
            ReservedConcurrentExecutions=1))  # fmt: skip
    r.match("get_function_concurrency", client.get_function_concurrency(FunctionName=name))
    r.match("delete_response", client.delete_function_concurrency(FunctionName=name))
    r.match(
        "get_function_concurrency_after_delete",
        client.get_function_concurrency(FunctionName=name),
    )
    unreserved = client.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    most = unreserved - 100  # Lambda keeps 100 unreserved
    assert (
        put(FunctionName=name, ReservedConcurrentExecutions=most)["ReservedConcurrentExecutions"]
        == most
    )
    client.delete_function_concurrency(FunctionName=name)
    done(r)


def test_function_concurrency_exceptions(client: Any) -> None:
    name = "fn-concurrency-exc"
    r = Replay("test_function_concurrency_exceptions", {name: "<function-name:1>"})
    put = client.put_function_concurrency
    r.match(
        "put_function_concurrency_with_function_name_doesnotexist",
        error(lambda: put(FunctionName="doesnotexist", ReservedConcurrentExecutions=1)),
    )
    r.match(
        "put_function_concurrency_with_function_name_doesnotexist_and_invalid_concurrency",
        error(lambda: put(FunctionName="doesnotexist", ReservedConcurrentExecutions=0)),
    )
    function(client, name)
    arn = client.get_function_configuration(FunctionName=name, Qualifier="$LATEST")
    r.match(
        "put_function_concurrency_with_qualified_arn",
        error(lambda: put(FunctionName=arn["FunctionArn"], ReservedConcurrentExecutions=0)),
    )
    done(r)


def test_account_settings(client: Any) -> None:
    r = Replay("test_account_settings", {})
    settings = client.get_account_settings()
    settings["AccountLimit"] = sorted(settings["AccountLimit"])
    settings["AccountUsage"] = sorted(settings["AccountUsage"])
    r.match("acc_settings_modded", settings)
    done(r)


def test_list_functions(client: Any) -> None:
    one, two = "list-fn-1", "list-fn-2"
    r = Replay("test_list_functions", {one: "<function-name:1>", two: "<function-name:2>"})
    r.match("create_response_1", wrapped(function(client, one, Publish=True)))
    # the recorded two had different code (two CodeSha256 placeholders)
    r.match("create_response_2", wrapped(function(client, two, Code={"ZipFile": archive(NONE)})))
    r.match(
        "list_functions_invalid_functionversion",
        error(lambda: client.list_functions(FunctionVersion="invalid")),
    )
    pages = client.get_paginator("list_functions")

    def listed(**params: Any) -> dict[str, Any]:
        full = pages.paginate(PaginationConfig={"PageSize": 1}, **params).build_full_result()
        mine = [f for f in full["Functions"] if f["FunctionName"] in (one, two)]
        return {"Functions": sorted(mine, key=lambda f: f["FunctionArn"])}

    r.match("list_all", listed(FunctionVersion="ALL"))
    r.match("list_default", listed())
    done(r)


# names -----------------------------------------------------------------------------------

ACCOUNT, REGION = "000000000000", "us-east-1"
LONG = "a" * 170
NAME_CASES: dict[str, dict[str, str]] = {
    "invalid_characters_in_function_name": {"FunctionName": "my-function!"},
    "function_name_is_single_invalid": {"FunctionName": "*"},
    "invalid_characters_in_qualifier": {"FunctionName": "my-function", "Qualifier": "invalid!"},
    "qualifier_too_long": {"FunctionName": "my-function", "Qualifier": "a" * 129},
    "invalid_account_id_in_partial_arn": {"FunctionName": "invalid-account:function:my-function"},
    "invalid_region_in_arn": {
        "FunctionName": f"arn:aws:lambda:invalid-region:{ACCOUNT}:function:my-function"
    },
    "non_lambda_arn": {
        "FunctionName": f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance:i-1234567890abcdef0"
    },
    "function_name_too_long": {"FunctionName": "a" * 65},
    "function_name_too_long_and_invalid_region": {
        "FunctionName": f"arn:aws:lambda:invalid-region:{ACCOUNT}:function:my-function{LONG}"
    },
    "full_arn_and_qualifier_too_long_and_invalid_region": {
        "FunctionName": f"arn:aws:lambda:invalid-region:{ACCOUNT}:function:my-function-{LONG}",
        "Qualifier": "a" * 129,
    },
    "full_arn_with_multiple_qualifiers": {
        "FunctionName": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:my-function:1:2"
    },
    "incomplete_arn": {"FunctionName": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function"},
    "partial_arn_with_extra_qualifier": {"FunctionName": "function:my-function:$LATEST:extra"},
    "latest_version_with_additional_qualifier": {
        "FunctionName": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:my-function:$LATEST",
        "Qualifier": "1",
    },
    "lowercase_latest_qualifier": {
        "FunctionName": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:my-function",
        "Qualifier": "$latest",
    },
    "missing_region_in_arn": {"FunctionName": f"arn:aws:lambda::{ACCOUNT}:function:my-function"},
    "missing_account_id_in_arn": {"FunctionName": f"arn:aws:lambda:{REGION}::function:my-function"},
    "misspelled_latest_in_arn": {
        "FunctionName": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:my-function:$LATES"
    },
}
# the one AWS accepts (its recording is empty): a function named "function" is created
ACCEPTED = {"incomplete_arn-create_function"}


def summary(response: dict[str, Any]) -> dict[str, Any]:
    """What LocalStack's test keeps of an error: its code and its constraint failures,
    sorted (AWS lists them in no fixed order), or its message."""
    message, code = response["Error"]["Message"], response["Error"]["Code"]
    found = re.findall(r"(Value '.*?' at '.*?' failed to satisfy constraint: .+?(?=;|$))", message)
    if found:
        return {"Code": code, "Errors": sorted(found), "Count": len(found)}
    return {"Code": code, "Message": message}


@pytest.mark.parametrize("operation", ["get_function", "delete_function", "invoke",
                                       "create_function"])  # fmt: skip
@pytest.mark.parametrize("case", sorted(NAME_CASES))
def test_function_name_and_qualifier_validation(client: Any, case: str, operation: str) -> None:
    test = f"test_function_name_and_qualifier_validation[{case}-{operation}]"
    r = Replay(test, {})
    params = dict(NAME_CASES[case])
    raw = make_lambda_client(client.meta.endpoint_url, validate=False)
    if operation == "create_function":
        name = params["FunctionName"]
        if params.get("Qualifier"):
            name = f"{name}:{params['Qualifier']}"

        def call() -> Any:
            return raw.create_function(
                FunctionName=name, Handler="index.handler", Code={"ZipFile": archive()},
                PackageType="Zip", Role=ROLE, Runtime="python3.12",
            )  # fmt: skip
    else:

        def call() -> Any:
            return getattr(raw, operation)(**params)

    if f"{case}-{operation}" in ACCEPTED:
        call()
        if operation == "create_function":
            client.delete_function(FunctionName="function")
        assert r.recorded == {}
        return
    r.match(f"{operation}_exception", summary(error(call)))
    done(r)


def test_invalid_invoke(client: Any) -> None:
    r = Replay("test_invalid_invoke", {})
    arn = f"arn:aws:lambda:{REGION}:123400000000@function:myfn"
    r.match(
        "invoke_function_name_pattern_exc",
        error(lambda: client.invoke(FunctionName=arn, Payload=b"{}")),
    )
    done(r)


# invoke ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def echo(client: Any) -> str:
    """LocalStack's invocation_echo_lambda: answers its event."""
    create(client, "invocation-echo")
    return "invocation-echo"


@pytest.mark.parametrize("kind", ["request_response", "event", "dry_run"])
def test_invocation_type(client: Any, echo: str, kind: str) -> None:
    r = Replay(f"test_invocation_type_{kind}[python3.10]", {echo: "<function-name:1>"})
    invocation = {"request_response": "RequestResponse", "event": "Event", "dry_run": "DryRun"}
    answer = client.invoke(FunctionName=echo, Payload=b"{}", InvocationType=invocation[kind])
    r.match("invoke-result", read(answer))
    done(r)


ECHO_PRINTING = NONE + "    return event\n"


def test_invocation_with_logs(client: Any) -> None:
    """A cold invoke's tail: START, the output, END, REPORT with Init Duration (INIT_START
    is in the log stream, not in the tail)."""
    echo = "invocation-echo-logs"
    create(client, echo, Code={"ZipFile": archive(ECHO_PRINTING)})
    r = Replay("test_invocation_with_logs[python3.10]", {echo: "<function-name:1>"})
    answer = read(client.invoke(FunctionName=echo, Payload=b"{}", LogType="Tail"))
    r.match("invoke", answer)
    logs = base64.b64decode(answer["LogResult"]).decode()
    request_id = answer["ResponseMetadata"]["RequestId"]
    r.name(request_id, "<request-id>")
    r.match("logs", {"logs": logs.splitlines(keepends=True)})
    done(r)


@pytest.mark.parametrize("invocation", ["RequestResponse", "Event"])
def test_invocation_type_no_return_payload(client: Any, invocation: str) -> None:
    name = f"fn-none-{invocation.lower()}"
    r = Replay(f"test_invocation_type_no_return_payload[python-{invocation}]", {})
    create(client, name, Code={"ZipFile": archive(NONE)})
    answer = client.invoke(FunctionName=name, Payload=b"{}", InvocationType=invocation)
    answer["Payload"] = answer["Payload"].read().decode()
    r.match("invoke-result", answer)
    done(r)


def test_invocation_with_qualifier(client: Any) -> None:
    name = "test-lambda-qualifier"
    r = Replay("test_invocation_with_qualifier", {name: "<function-name:1>"})
    created = create(
        client, name, Publish=True, Handler="handler.handler", Timeout=10,
        Code={"ZipFile": introspect_archive()},
    )  # fmt: skip
    r.match("creation-response", created)
    answer = read(
        client.invoke(
            FunctionName=name,
            Payload=b'{"foo": "bar with \'quotes\\""}',
            Qualifier=created["Version"],
            LogType="Tail",
        )
    )
    logs = base64.b64decode(answer["LogResult"]).decode().splitlines()
    kept = [line for line in logs if not line.startswith(("REPORT", "INIT_START"))]
    r.match("log_result", {"log_result": kept})
    r.match("invocation-response", answer)
    done(r)


def test_lambda_invoke_with_timeout(client: Any) -> None:
    name = "test-lambda-timeout"
    r = Replay("test_lambda_invoke_with_timeout", {name: "<function-name:1>"})
    created = function(client, name, Timeout=1, Code={"ZipFile": archive(SLEEP, "handler.py")})
    r.match("create-result", wrapped(created))
    answer = read(client.invoke(FunctionName=name, Payload=json.dumps({"wait": 2})))
    r.name(answer["ResponseMetadata"]["RequestId"], "<timeout_error_msg>")
    r.match("invoke-result", answer)
    done(r)


def test_invoke_with_response_stream_shape(client: Any, echo: str) -> None:
    """No recording of InvokeWithResponseStream exists in LocalStack's snapshots: its answer
    is checked against botocore's model of the operation instead (the members AWS sends for a
    function that returns: StatusCode 200, ExecutedVersion, the event stream's content type,
    payload chunks, then InvokeComplete)."""
    model = client.meta.service_model.operation_model("InvokeWithResponseStream")
    answer = client.invoke_with_response_stream(FunctionName=echo, Payload=b'{"a": 1}')
    sent = set(answer) - {"ResponseMetadata"}
    assert sent == {"StatusCode", "ExecutedVersion", "ResponseStreamContentType", "EventStream"}
    assert sent <= set(model.output_shape.members)
    assert (answer["StatusCode"], answer["ExecutedVersion"]) == (200, "$LATEST")
    assert answer["ResponseStreamContentType"] == "application/vnd.amazon.eventstream"
    events = list(answer["EventStream"])
    stream_shape = model.output_shape.members["EventStream"]
    for event in events:
        (kind,) = event
        assert kind in stream_shape.members
        assert set(event[kind]) <= set(stream_shape.members[kind].members)
    assert "InvokeComplete" in events[-1]
    body = b"".join(e["PayloadChunk"]["Payload"] for e in events if "PayloadChunk" in e)
    assert json.loads(body) == {"a": 1}
