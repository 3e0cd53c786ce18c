"""Provisioned concurrency against AWS's own recorded answers (LocalStack's snapshot tests
TestLambdaProvisionedConcurrency, test_lambda_api.snapshot.json), replayed call by call
(tests/integration/aws_replay.py)."""

from __future__ import annotations

import time
from typing import Any

import boto3
import botocore.config
import pytest

from tests.integration.aws_replay import Replay, archive, client, create, done, error

__all__ = ["client"]  # the module's sandbox (a fixture)

pytestmark = [pytest.mark.integration, pytest.mark.root]


def echo(client: Any, name: str) -> None:
    """LocalStack's create_lambda_function with its echo handler (handler.handler)."""
    create(client, name, Handler="handler.handler", Timeout=30,
           Environment={"Variables": {}}, Code={"ZipFile": archive(name="handler.py")})  # fmt: skip


def test_provisioned_concurrency_exceptions(client: Any) -> None:
    name = "fn-provisioned-exceptions"
    r = Replay("test_provisioned_concurrency_exceptions", {name: "<function-name:1>"})
    echo(client, name)
    # the recording's client skips parameter validation (so that 0 reaches the service)
    raw = boto3.client(
        "lambda", endpoint_url=client.meta.endpoint_url, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
        config=botocore.config.Config(parameter_validation=False, retries={"max_attempts": 0}),
    )  # fmt: skip
    r.match("publish_version_result", raw.publish_version(FunctionName=name))
    get = raw.get_provisioned_concurrency_config
    r.match(
        "get_provisioned_config_doesnotexist", error(lambda: get(FunctionName=name, Qualifier="1"))
    )
    r.match(
        "get_provisioned_functionname_doesnotexist",
        error(lambda: get(FunctionName="doesnotexist", Qualifier="noalias")),
    )
    r.match(
        "get_provisioned_qualifier_doesnotexist",
        error(lambda: get(FunctionName=name, Qualifier="noalias")),
    )
    r.match(
        "get_provisioned_version_doesnotexist",
        error(lambda: get(FunctionName=name, Qualifier="10")),
    )
    r.match("get_provisioned_latest", error(lambda: get(FunctionName=name, Qualifier="$LATEST")))
    r.match(
        "list_provisioned_noconfigs", raw.list_provisioned_concurrency_configs(FunctionName=name)
    )
    r.match(
        "list_provisioned_functionname_doesnotexist",
        error(lambda: raw.list_provisioned_concurrency_configs(FunctionName="doesnotexist")),
    )
    delete = raw.delete_provisioned_concurrency_config
    r.match(
        "delete_provisioned_functionname_doesnotexist",
        error(lambda: delete(FunctionName="doesnotexist", Qualifier="1")),
    )
    r.match(
        "delete_provisioned_qualifier_doesnotexist",
        error(lambda: delete(FunctionName=name, Qualifier="noalias")),
    )
    r.match(
        "delete_provisioned_version_doesnotexist",
        error(lambda: delete(FunctionName=name, Qualifier="10")),
    )
    r.match(
        "delete_provisioned_latest", error(lambda: delete(FunctionName=name, Qualifier="$LATEST"))
    )
    r.match("delete_provisioned_config_doesnotexist", delete(FunctionName=name, Qualifier="1"))
    put = raw.put_provisioned_concurrency_config
    r.match(
        "put_provisioned_invalid_param_0",
        error(lambda: put(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=0)),
    )
    r.match(
        "put_provisioned_functionname_doesnotexist_alias",
        error(
            lambda: put(
                FunctionName="doesnotexist", Qualifier="noalias", ProvisionedConcurrentExecutions=1
            )
        ),
    )
    r.match(
        "put_provisioned_functionname_doesnotexist_version",
        error(
            lambda: put(
                FunctionName="doesnotexist", Qualifier="1", ProvisionedConcurrentExecutions=1
            )
        ),
    )
    r.match(
        "put_provisioned_qualifier_doesnotexist",
        error(
            lambda: put(
                FunctionName=name, Qualifier="doesnotexist", ProvisionedConcurrentExecutions=1
            )
        ),
    )
    r.match(
        "put_provisioned_version_doesnotexist",
        error(lambda: put(FunctionName=name, Qualifier="10", ProvisionedConcurrentExecutions=1)),
    )
    r.match("put_provisioned_latest",
            error(lambda: put(FunctionName=name, Qualifier="$LATEST",
                              ProvisionedConcurrentExecutions=1)))  # fmt: skip
    done(r)


def test_lambda_provisioned_lifecycle(client: Any) -> None:
    name = "fn-provisioned-lifecycle"
    alias = "alias-provisioned"
    r = Replay(
        "test_lambda_provisioned_lifecycle", {name: "<function-name:1>", alias: "<alias-name>"}
    )
    echo(client, name)
    r.match("publish_version_result", client.publish_version(FunctionName=name))
    r.match(
        "create_alias_result",
        client.create_alias(FunctionName=name, Name=alias, FunctionVersion="1"),
    )
    put = client.put_provisioned_concurrency_config
    r.match(
        "put_provisioned_on_version",
        client.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1
        ),
    )
    r.match(
        "put_provisioned_on_alias_versionconflict",
        error(lambda: put(FunctionName=name, Qualifier=alias, ProvisionedConcurrentExecutions=1)),
    )
    deadline = time.monotonic() + 60
    while (
        client.get_provisioned_concurrency_config(FunctionName=name, Qualifier="1")["Status"]
        != "READY"
    ):
        assert time.monotonic() < deadline, "provisioned concurrency never became READY"
        time.sleep(0.2)
    r.match(
        "delete_provisioned_version",
        client.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="1"),
    )
    r.match(
        "get_provisioned_version_postdelete",
        error(lambda: client.get_provisioned_concurrency_config(FunctionName=name, Qualifier="1")),
    )
    r.match(
        "put_provisioned_on_alias",
        put(FunctionName=name, Qualifier=alias, ProvisionedConcurrentExecutions=1),
    )
    r.match(
        "put_provisioned_on_version_conflict",
        error(lambda: put(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1)),
    )
    r.match("delete_alias_result", client.delete_alias(FunctionName=name, Name=alias))
    r.match(
        "get_provisioned_alias_postaliasdelete",
        error(
            lambda: client.get_provisioned_concurrency_config(FunctionName=name, Qualifier=alias)
        ),
    )
    r.match(
        "list_response_postdeletes", client.list_provisioned_concurrency_configs(FunctionName=name)
    )
    done(r)  # fmt: skip
