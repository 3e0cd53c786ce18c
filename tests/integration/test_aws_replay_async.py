"""Asynchronous invocation against AWS's own recorded answers: event invoke configurations
(LocalStack's snapshot tests TestLambdaEventInvokeConfig, test_lambda_api.snapshot.json) and
what the destinations receive (TestLambdaDestinationSqs, test_lambda_destinations.snapshot.json;
test_reserved_concurrency, test_lambda.snapshot.json), each replayed call by call
(tests/integration/aws_replay.py)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from lambda_sandbox.pytest_plugin import make_lambda_client
from lambda_sandbox.runner import SandboxOptions, SandboxThread
from tests.integration.aws_replay import Replay, archive, client, create, done, error

__all__ = ["client"]  # the module's sandbox (a fixture)

pytestmark = [pytest.mark.integration, pytest.mark.root]

# What the recorded function did (LocalStack's functions/lambda_integration.py): print, log,
# raise on request, else answer its event and context. The recorded stack trace names the
# raise's line, 55: blank lines keep it there.
HEAD = """import logging

LOGGER = logging.getLogger()
LOGGER.setLevel(logging.INFO)


def handler(event, context):
    print("Lambda log message - print function", flush=True)
    LOGGER.info("Lambda log message - logging module")
"""
BODY = """    if "raise_error" in event:
        raise Exception("Test exception (this is intentional)")
    return {
        "event": event,
        "context": {
            "invoked_function_arn": context.invoked_function_arn,
            "function_version": context.function_version,
            "function_name": context.function_name,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "client_context": context.client_context,
        },
    }
"""


# LocalStack's functions/lambda_echofail.py: the raise on line 7, as its trace says
ECHO_FAIL = """import json


def handler(event, context):
    # print the event, then fail
    print(json.dumps({"event": event, "aws_request_id": context.aws_request_id}))
    raise Exception("intentional failure")
"""


def wrapped(response: dict[str, Any]) -> dict[str, Any]:
    """LocalStack's create fixture answers CreateFunction's response inside this wrapper."""
    return {"CreateEventSourceMappingResponse": None, "CreateFunctionResponse": response}


def introspect_archive() -> bytes:
    """handler.handler answers its event and context; a `raise_error` event raises on line 55
    of handler.py."""
    source = HEAD + "\n" * (53 - HEAD.count("\n")) + BODY
    assert source.splitlines()[54].strip().startswith("raise Exception"), "line 55 moved"
    return archive(source, "handler.py")


def function(client: Any, name: str, **params: Any) -> dict[str, Any]:
    """What LocalStack's create_lambda_function fixture makes."""
    params = {"Handler": "handler.handler", "Timeout": 30, "Environment": {"Variables": {}},
              "Code": {"ZipFile": archive(name="handler.py")}, **params}  # fmt: skip
    return create(client, name, **params)


def test_lambda_eventinvokeconfig_lifecycle(client: Any) -> None:
    name = "fn-eventinvoke-lifecycle"
    r = Replay("test_lambda_eventinvokeconfig_lifecycle", {name: "<function-name:1>"})
    function(client, name)
    r.match(
        "put_invokeconfig_retries_0",
        client.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0),
    )
    r.match(
        "put_invokeconfig_eventage_60",
        client.put_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=60),
    )
    r.match(
        "update_invokeconfig_eventage_nochange",
        client.update_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=60),
    )
    r.match(
        "update_invokeconfig_retries",
        client.update_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1),
    )
    r.match("get_invokeconfig", client.get_function_event_invoke_config(FunctionName=name))
    r.match(
        "get_invokeconfig_latest",
        client.get_function_event_invoke_config(FunctionName=name, Qualifier="$LATEST"),
    )
    r.match(
        "list_single_invokeconfig", client.list_function_event_invoke_configs(FunctionName=name)
    )
    published = client.publish_version(FunctionName=name)
    r.match("publish_version_result", published)
    version = v = published["Version"]
    r.match(
        "get_invokeconfig_postpublish",
        error(lambda: client.get_function_event_invoke_config(FunctionName=name, Qualifier=v)),
    )
    r.match(
        "put_published_invokeconfig",
        client.put_function_event_invoke_config(
            FunctionName=name, Qualifier=version, MaximumEventAgeInSeconds=120
        ),
    )
    r.match(
        "get_published_invokeconfig",
        client.get_function_event_invoke_config(FunctionName=name, Qualifier=version),
    )
    single = client.list_function_event_invoke_configs(FunctionName=name, MaxItems=1)
    everything = client.list_function_event_invoke_configs(FunctionName=name)
    rest = client.list_function_event_invoke_configs(
        FunctionName=name, Marker=single["NextMarker"], MaxItems=1
    )
    assert len(everything["FunctionEventInvokeConfigs"]) == 2
    pages = single["FunctionEventInvokeConfigs"] + rest["FunctionEventInvokeConfigs"]
    assert {c["FunctionArn"] for c in pages} == {
        c["FunctionArn"] for c in everything["FunctionEventInvokeConfigs"]
    }
    client.delete_function_event_invoke_config(FunctionName=name)
    listed = client.list_function_event_invoke_configs(FunctionName=name)
    r.match("list_paging_nolimit_postdelete", listed)
    done(r)


def test_lambda_eventinvokeconfig_exceptions(client: Any) -> None:
    name, other = "fn-eventinvoke-exc", "fn-eventinvoke-2-exc"
    r = Replay(
        "test_lambda_eventinvokeconfig_exceptions",
        {name: "<function-name:1>", other: "<resource:5>"},
    )
    raw = make_lambda_client(client.meta.endpoint_url, validate=False)
    function(client, name)
    fn_arn = client.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    function(client, other)
    fn_arn_2 = client.get_function(FunctionName=other)["Configuration"]["FunctionArn"]
    version = client.publish_version(FunctionName=name)
    r.match("fn_version_result", version)
    alias = client.create_alias(
        FunctionName=name, Name="eventinvokealias", FunctionVersion=version["Version"]
    )
    r.match("fn_alias_result", alias)
    fake_arn = fn_arn.replace(name, "doesnotexist")
    put = raw.put_function_event_invoke_config
    update = raw.update_function_event_invoke_config

    def match(key: str, **params: Any) -> None:
        r.match(key, error(lambda: put(**params)))

    match("put_functionname_name_notfound", FunctionName="doesnotexist", MaximumRetryAttempts=1)
    match("put_functionname_arn_notfound", FunctionName=fake_arn, MaximumRetryAttempts=1)
    match("put_functionname_nootherargs", FunctionName="doesnotexist")
    match(
        "put_destination_lambda_doesntexist",
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": fake_arn}},
    )  # fmt: skip
    match(
        "put_destination_recursive",
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": fn_arn}},
    )  # fmt: skip
    r.match(
        "put_destination_other_lambda",
        put(FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": fn_arn_2}}),
    )
    iam = fn_arn.replace(":lambda:", ":iam:")
    match(
        "put_destination_invalid_service_arn",
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": iam}},
    )  # fmt: skip
    r.match(
        "put_destination_success_no_destination_arn",
        put(FunctionName=name, DestinationConfig={"OnSuccess": {}}),
    )
    r.match(
        "put_destination_failure_no_destination_arn",
        put(FunctionName=name, DestinationConfig={"OnFailure": {}}),
    )
    bad = fn_arn.replace(":lambda:", ":_-/!lambda:")
    match(
        "put_destination_invalid_arn_pattern",
        FunctionName=name, DestinationConfig={"OnFailure": {"Destination": bad}},
    )  # fmt: skip
    v, a = version["Version"], alias["Name"]
    ok = {
        "put_destination_latest": {"FunctionName": name},
        "put_destination_latest_explicit_qualifier": {"FunctionName": name, "Qualifier": "$LATEST"},
        "put_destination_version": {"FunctionName": name, "Qualifier": v},
        "put_alias_functionname_qualifier": {"FunctionName": name, "Qualifier": a},
    }
    for key, params in ok.items():
        r.match(key, put(MaximumRetryAttempts=1, **params))
    match("put_alias_doesnotexist", FunctionName=name, Qualifier=f"{a}doesnotexist",
          MaximumRetryAttempts=1)  # fmt: skip
    r.match("put_alias_qualifiedarn", put(FunctionName=alias["AliasArn"], MaximumRetryAttempts=1))
    r.match(
        "put_alias_qualifiedarn_qualifier",
        put(FunctionName=alias["AliasArn"], Qualifier=a, MaximumRetryAttempts=1),
    )
    match("put_alias_qualifiedarn_qualifierconflict", FunctionName=alias["AliasArn"],
          Qualifier=f"{a}doesnotexist", MaximumRetryAttempts=1)  # fmt: skip
    r.match("put_alias_shorthand", put(FunctionName=f"{name}:{a}", MaximumRetryAttempts=1))
    r.match(
        "put_alias_shorthand_qualifier",
        put(FunctionName=f"{name}:{a}", Qualifier=a, MaximumRetryAttempts=1),
    )
    match("put_alias_shorthand_qualifierconflict", FunctionName=f"{name}:{a}",
          Qualifier=f"{a}doesnotexist", MaximumRetryAttempts=1)  # fmt: skip
    r.match("put_version_shorthand", put(FunctionName=f"{name}:{v}", MaximumRetryAttempts=1))
    r.match(
        "put_shorthand_qualifier_match",
        put(FunctionName=f"{name}:$LATEST", Qualifier="$LATEST", MaximumRetryAttempts=1),
    )
    for key, (named, qualifier) in {
        "put_shorthand_qualifier_mismatch_1": (v, "$LATEST"),
        "put_shorthand_qualifier_mismatch_2": ("$LATEST", v),
        "put_shorthand_qualifier_mismatch_3": (v, a),
    }.items():
        match(key, FunctionName=f"{name}:{named}", Qualifier=qualifier, MaximumRetryAttempts=1)
    r.match(
        "put_maxevent_maxvalue_result",
        put(FunctionName=name, MaximumRetryAttempts=2, MaximumEventAgeInSeconds=21600),
    )
    r.match(
        "put_pre_overwrite",
        put(FunctionName=name, MaximumRetryAttempts=2, MaximumEventAgeInSeconds=60),
    )
    r.match("put_post_overwrite", put(FunctionName=name, MaximumRetryAttempts=0))
    r.match("second_overwrite_existing_response", put(FunctionName=name, MaximumRetryAttempts=0))
    got = raw.get_function_event_invoke_config(FunctionName=name)
    r.match("get_post_overwrite", got)
    assert got["MaximumRetryAttempts"] == 0 and "MaximumEventAgeInSeconds" not in got
    r.match(
        "pre_update_response",
        put(FunctionName=name, MaximumRetryAttempts=2, MaximumEventAgeInSeconds=60),
    )
    r.match("update_response", update(FunctionName=name, MaximumRetryAttempts=0))
    r.match("update_response_existing", update(FunctionName=name, MaximumRetryAttempts=0))
    got = raw.get_function_event_invoke_config(FunctionName=name)
    assert (got["MaximumRetryAttempts"], got["MaximumEventAgeInSeconds"]) == (0, 60)
    r.match("list_configs", raw.list_function_event_invoke_configs(FunctionName=name))
    paged = raw.list_function_event_invoke_configs(FunctionName=name, MaxItems=2)
    assert len(paged["FunctionEventInvokeConfigs"]) == 2 and paged["NextMarker"]
    delete = raw.delete_function_event_invoke_config
    r.match("delete_latest", delete(FunctionName=name, Qualifier="$LATEST"))
    r.match("delete_version", delete(FunctionName=name, Qualifier=v))
    r.match("delete_alias", delete(FunctionName=name, Qualifier=a))
    r.match("list_configs_postdelete", raw.list_function_event_invoke_configs(FunctionName=name))
    r.match("delete_function_not_found", error(lambda: delete(FunctionName=name)))
    r.match("delete_function_doesnotexist", error(lambda: delete(FunctionName="doesnotexist")))
    r.match(
        "list_function_doesnotexist",
        error(lambda: raw.list_function_event_invoke_configs(FunctionName="doesnotexist")),
    )
    get = raw.get_function_event_invoke_config
    r.match("get_function_doesnotexist", error(lambda: get(FunctionName="doesnotexist")))
    r.match(
        "get_qualifier_doesnotexist",
        error(lambda: get(FunctionName=name, Qualifier="doesnotexist")),
    )
    r.match(
        "update_eventinvokeconfig_function_doesnotexist",
        error(lambda: update(FunctionName="doesnotexist", MaximumRetryAttempts=0)),
    )
    r.match(
        "get_eventinvokeconfig_doesnotexist", error(lambda: get(FunctionName=alias["AliasArn"]))
    )
    r.match(
        "update_eventinvokeconfig_config_doesnotexist_with_qualifier",
        error(lambda: update(FunctionName=alias["AliasArn"], MaximumRetryAttempts=0)),
    )
    r.match(
        "update_eventinvokeconfig_config_doesnotexist_without_qualifier",
        error(lambda: update(FunctionName=fn_arn, MaximumRetryAttempts=0)),
    )
    done(r)


# destinations: a sandbox with its embedded AWS side, where the queues are ------------------


@pytest.fixture(scope="module")
def with_aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, Any]]:
    opts = SandboxOptions(configs=[], port=0, project_dir=tmp_path_factory.mktemp("destinations"))
    thread = SandboxThread(opts).start(timeout_s=300)
    try:
        endpoint = thread.sandbox.aws.endpoint_url
        sqs = boto3.client(
            "sqs", endpoint_url=endpoint, region_name="us-east-1",
            aws_access_key_id="test", aws_secret_access_key="test",
        )  # fmt: skip
        yield make_lambda_client(thread.url), sqs, thread.sandbox
    finally:
        thread.stop()


@pytest.fixture
def quick_retries(with_aws: tuple[Any, Any, Any]) -> Iterator[None]:
    """Lambda's retry delays (1 and 2 min) shortened for the test: what the destination
    receives is the same."""
    events = with_aws[2].service.events
    saved, events.retry_delays_s = events.retry_delays_s, (0.2, 0.2)
    try:
        yield
    finally:
        events.retry_delays_s = saved


def queue(sqs: Any, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return url, arn["QueueArn"]


def received(sqs: Any, url: str, **params: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, **params)
        if answer.get("Messages"):
            return dict(answer)
    raise AssertionError(f"nothing arrived on {url} in 60 s")


@pytest.mark.parametrize(
    ("case", "payload"), [("Success-payload0", {}), ("payload1", {"raise_error": 1})]
)
def test_assess_lambda_destination_invocation(
    with_aws: tuple[Any, Any, Any], case: str, payload: dict[str, Any]
) -> None:
    lam, sqs, _ = with_aws
    name = f"destination-{case.lower()}"
    r = Replay(f"test_assess_lambda_destination_invocation[{case}]", {name: "<resource:2>"})
    url, arn = queue(sqs, f"destination-queue-{case.lower()}")
    function(lam, name, Code={"ZipFile": introspect_archive()})
    put = lam.put_function_event_invoke_config(
        FunctionName=name,
        **({} if case.startswith("Success") else {"MaximumRetryAttempts": 0}),
        DestinationConfig={"OnSuccess": {"Destination": arn}, "OnFailure": {"Destination": arn}},
    )
    r.match("put_function_event_invoke_config", put)
    lam.invoke(FunctionName=name, Payload=json.dumps(payload), InvocationType="Event")
    r.match("receive_message_result", received(sqs, url, MessageAttributeNames=["All"]))
    done(r)


def test_reserved_concurrency(with_aws: tuple[Any, Any, Any]) -> None:
    """Reserved concurrency 0: a synchronous invoke is throttled; an event fails at once, and
    its on-failure destination says ZeroReservedConcurrency."""
    lam, sqs, _ = with_aws
    name = "reserved-zero"
    r = Replay("test_reserved_concurrency", {name: "<function-name:1>"})
    create(lam, name, Handler="handler.handler", Timeout=20, Environment={"Variables": {}},
           Code={"ZipFile": introspect_archive()})  # fmt: skip
    fn = lam.get_function_configuration(FunctionName=name, Qualifier="$LATEST")
    r.match("fn", fn)
    r.match(
        "put_reserved",
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0),
    )
    r.match(
        "exc_no_cap_requestresponse",
        error(lambda: lam.invoke(FunctionName=fn["FunctionArn"], InvocationType="RequestResponse")),
    )
    url, arn = queue(sqs, "reserved-zero-queue")
    r.match(
        "put_event_invoke_conf",
        lam.put_function_event_invoke_config(
            FunctionName=name,
            MaximumRetryAttempts=0,
            DestinationConfig={"OnFailure": {"Destination": arn}},
        ),
    )
    answer = lam.invoke(FunctionName=fn["FunctionArn"], InvocationType="Event")
    answer["Payload"] = answer["Payload"].read().decode()
    r.match("invoke_result", answer)
    message = received(sqs, url, AttributeNames=["All"])["Messages"][0]
    r.match("msg", message)
    done(r)


def test_dead_letter_queue(with_aws: tuple[Any, Any, Any], quick_retries: None) -> None:
    """A failed event's payload goes to the function's DeadLetterConfig queue, with the
    RequestID, ErrorCode and ErrorMessage attributes (Lambda's retry delays shortened)."""
    lam, sqs, _ = with_aws
    name = "dead-letter"
    r = Replay("test_dead_letter_queue", {name: "<function-name:1>"})
    url, arn = queue(sqs, "dead-letter-queue")
    created = function(
        lam, name, DeadLetterConfig={"TargetArn": arn}, Code={"ZipFile": introspect_archive()}
    )
    r.match("create_lambda_with_dlq", wrapped(created))
    payload = json.dumps({"raise_error": 1})
    lam.invoke(FunctionName=name, Payload=payload, InvocationType="Event")
    answer = received(sqs, url, MessageAttributeNames=["All"])
    r.name(answer["Messages"][0]["MessageAttributes"]["RequestID"]["StringValue"], "<request-id:1>")
    r.match("receive_result", answer)
    r.match("delete_dlq", lam.update_function_configuration(FunctionName=name, DeadLetterConfig={}))
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1})
    result = lam.invoke(FunctionName=name, Payload=payload, LogType="Tail")
    result["Payload"] = json.loads(result["Payload"].read())
    r.match("invoke_result", result)
    lines = base64.b64decode(result["LogResult"]).decode().splitlines()
    r.match("log_result", {"result": [line for line in lines if not line.startswith("REPORT")]})
    done(r)


def test_retries(with_aws: tuple[Any, Any, Any], quick_retries: None) -> None:
    """Two retries, then the on-failure destination: approximateInvokeCount 3."""
    lam, sqs, _ = with_aws
    name = "retry-fn"
    r = Replay("test_retries", {name: "<resource:1>", "retry-msg-1": "<test-msg-id>"})
    url, arn = queue(sqs, "retry-destination-queue")
    function(lam, name, Code={"ZipFile": archive(ECHO_FAIL, "handler.py")})
    lam.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=2,
        DestinationConfig={"OnFailure": {"Destination": arn}},
    )  # fmt: skip
    payload = json.dumps({"message": "retry-msg-1"})
    assert (
        lam.invoke(FunctionName=name, Payload=payload, InvocationType="Event")["StatusCode"] == 202
    )
    # LocalStack's test polled the queue while the retries ran: it saw the message twice
    received(sqs, url, VisibilityTimeout=0)
    r.match("queue_destination_payload", received(sqs, url, AttributeNames=["All"]))
    done(r)
