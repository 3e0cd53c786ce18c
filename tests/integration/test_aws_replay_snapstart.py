"""SnapStart's API against AWS's own recorded answers (LocalStack's snapshot tests
TestLambdaSnapStart, test_lambda_api.snapshot.json, python3.12), replayed call by call
(tests/integration/aws_replay.py)."""

from __future__ import annotations

from typing import Any

import boto3
import botocore.config
import pytest

from tests.integration.aws_replay import ROLE, Replay, archive, client, done, error

__all__ = ["client"]  # the module's sandbox (a fixture)

pytestmark = [pytest.mark.integration, pytest.mark.root]


def echo(client: Any, name: str) -> dict[str, Any]:
    """LocalStack's multiruntime echo function, as test_snapstart_* create it."""
    response = client.create_function(
        FunctionName=name, Role=ROLE, Runtime="python3.12", Handler="handler.handler",
        Code={"ZipFile": archive(name="handler.py")}, MemorySize=1024, Timeout=5,
    )  # fmt: skip
    client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1})
    return dict(response)


def test_snapstart_lifecycle(client: Any) -> None:
    name = "fn-snapstart-lifecycle"
    r = Replay("test_snapstart_lifecycle[python3.12]", {name: "<function-name:1>"})
    r.match("create_function_response", echo(client, name))
    version = client.publish_version(FunctionName=name, Description="version1")["Version"]
    client.get_waiter("published_version_active").wait(
        FunctionName=name, Qualifier=version, WaiterConfig={"Delay": 1}
    )
    r.match("get_function_response_latest", client.get_function(FunctionName=name))
    r.match(
        "get_function_response_version_1", client.get_function(FunctionName=f"{name}:{version}")
    )
    done(r)


def test_snapstart_update_function_configuration(client: Any) -> None:
    name = "fn-snapstart-update"
    r = Replay(
        "test_snapstart_update_function_configuration[python3.12]", {name: "<function-name:1>"}
    )
    r.match("create_function_response", echo(client, name))
    r.match(
        "update_function_response",
        client.update_function_configuration(
            FunctionName=name, SnapStart={"ApplyOn": "PublishedVersions"}
        ),
    )
    done(r)


def test_snapstart_exceptions(client: Any) -> None:
    name = "invalid-function-snapstart"
    r = Replay("test_snapstart_exceptions", {name: "<function-name:1>"})
    raw = boto3.client(  # an invalid enum value: botocore's own validation would refuse it
        "lambda", endpoint_url=client.meta.endpoint_url, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
        config=botocore.config.Config(parameter_validation=False, retries={"max_attempts": 0}),
    )  # fmt: skip
    r.match(
        "create_function_invalid_snapstart_apply",
        error(
            lambda: raw.create_function(
                FunctionName=name,
                Handler="cloud.localstack.sample.LambdaHandlerWithLib",
                Code={"ZipFile": archive()},
                PackageType="Zip",
                Role=ROLE,
                Runtime="java21",
                SnapStart={"ApplyOn": "invalidOption"},
            )
        ),
    )
    done(r)
