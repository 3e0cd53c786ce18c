"""The sandbox's Lambda API against AWS's own recorded answers.

Each test makes the calls one of LocalStack's snapshot tests makes against AWS (same order,
same parameters: the test is named after it) and compares every answer with the recording
(tests/aws_recordings/lambda_api.json): keys, status codes, error codes and messages equal,
modulo ids, names and dates (tests/integration/aws_replay.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lambda_sandbox.pytest_plugin import make_lambda_client
from tests.integration.aws_replay import ROLE, Replay, archive, client, create, done, error

__all__ = ["client"]  # the module's sandbox (a fixture)

pytestmark = [pytest.mark.integration, pytest.mark.root]


def updated(client: Any, name: str) -> None:
    client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1})


def test_version_lifecycle(client: Any) -> None:
    name = "fn-version-lifecycle"
    r = Replay("test_version_lifecycle", {name: "<function-name:1>"})
    r.match("create_response", create(client, name, Description="No version :("))
    r.match("get_function_result", client.get_function(FunctionName=name))
    r.match("list_versions_result", client.list_versions_by_function(FunctionName=name))
    r.match(
        "first_update_response",
        client.update_function_configuration(FunctionName=name, Description="First version :)"),
    )
    updated(client, name)
    r.match("first_update_get_function", client.get_function(FunctionName=name))
    first = client.publish_version(FunctionName=name, Description="First version description :)")
    r.match("first_publish_response", first)
    r.match(
        "first_publish_get_function",
        client.get_function(FunctionName=name, Qualifier=first["Version"]),
    )
    r.match(
        "first_publish_get_function_config",
        client.get_function_configuration(FunctionName=name, Qualifier=first["Version"]),
    )
    r.match(
        "second_update_response",
        client.update_function_configuration(FunctionName=name, Description="Second version :))"),
    )
    updated(client, name)
    r.match(
        "first_publish_get_function_after_update",
        client.get_function(FunctionName=name, Qualifier=first["Version"]),
    )
    r.match("second_publish_response", client.publish_version(FunctionName=name))
    r.match(
        "third_publish_response",
        client.publish_version(FunctionName=name, Description="Third version description :)))"),
    )
    r.match(
        "list_versions_result_after_third_publish",
        client.list_versions_by_function(FunctionName=name),
    )
    client.delete_function(FunctionName=name, Qualifier=first["Version"])
    r.match(
        "list_versions_result_after_deletion_of_first_version",
        client.list_versions_by_function(FunctionName=name),
    )
    done(r)


def test_alias_lifecycle(client: Any) -> None:
    name = "alias-fn-lifecycle"
    r = Replay("test_alias_lifecycle", {name: "<function-name:1>"})
    r.match(
        "create_response", create(client, name, Environment={"Variables": {"testenv": "staging"}})
    )
    r.match("publish_v1", client.publish_version(FunctionName=name))
    client.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"testenv": "prod"}}
    )
    updated(client, name)
    r.match("publish_v2", client.publish_version(FunctionName=name))
    a11 = client.create_alias(
        FunctionName=name,
        Name="aliasname1_1",
        FunctionVersion="1",
        Description="custom-alias",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.2}},
    )
    r.match("create_alias_1_1", a11)
    r.match("get_alias_1_1", client.get_alias(FunctionName=name, Name="aliasname1_1"))
    r.match(
        "get_function_alias_1_1", client.get_function(FunctionName=name, Qualifier="aliasname1_1")
    )
    r.match("get_function_byarn_alias_1_1", client.get_function(FunctionName=a11["AliasArn"]))
    r.match(
        "get_function_alias_notfound_exc",
        error(lambda: client.get_function(FunctionName=name, Qualifier="aliasdoesnotexist")),
    )
    r.match(
        "get_function_alias_byarn_notfound_exc",
        error(
            lambda: client.get_function(
                FunctionName=a11["AliasArn"].replace("aliasname1_1", "aliasdoesnotexist")
            )
        ),
    )
    r.match(
        "create_alias_1_2",
        client.create_alias(
            FunctionName=name, Name="aliasname1_2", FunctionVersion="1", Description="custom-alias"
        ),
    )
    r.match("get_alias_1_2", client.get_alias(FunctionName=name, Name="aliasname1_2"))
    r.match(
        "create_alias_1_3",
        client.create_alias(FunctionName=name, Name="aliasname1_3", FunctionVersion="1"),
    )
    r.match("get_alias_1_3", client.get_alias(FunctionName=name, Name="aliasname1_3"))
    r.match(
        "create_alias_2",
        client.create_alias(
            FunctionName=name, Name="aliasname2", FunctionVersion="2", Description="custom-alias"
        ),
    )
    r.match("get_alias_2", client.get_alias(FunctionName=name, Name="aliasname2"))
    pages = (
        client.get_paginator("list_aliases")
        .paginate(FunctionName=name, PaginationConfig={"PageSize": 1})
        .build_full_result()
    )
    r.match("list_aliases_for_fnname", pages)
    r.match(
        "update_alias_1_1",
        client.update_alias(
            FunctionName=name, Name="aliasname1_1", RoutingConfig={"AdditionalVersionWeights": {}}
        ),
    )
    r.match("get_alias_1_1_after_update", client.get_alias(FunctionName=name, Name="aliasname1_1"))
    r.match("list_aliases_for_fnname_after_update", client.list_aliases(FunctionName=name))
    r.match("update_alias_1_2", client.update_alias(FunctionName=name, Name="aliasname1_2"))
    r.match("get_alias_1_2_after_update", client.get_alias(FunctionName=name, Name="aliasname1_2"))
    r.match("list_aliases_for_fnname_after_update_2", client.list_aliases(FunctionName=name))
    r.match("list_aliases_for_version", client.list_aliases(FunctionName=name, FunctionVersion="1"))
    r.match("delete_alias_response", client.delete_alias(FunctionName=name, Name="aliasname1_1"))
    r.match("list_aliases_for_fnname_afterdelete", client.list_aliases(FunctionName=name))
    done(r)


def test_notfound_and_invalid_routingconfigs(client: Any) -> None:
    name = "alias-fn-routing"
    r = Replay("test_notfound_and_invalid_routingconfigs", {name: "<function-name:1>"})
    r.match(
        "create_response",
        create(client, name, Publish=True, Environment={"Variables": {"testenv": "staging"}}),
    )
    r.match("publish_v1", client.publish_version(FunctionName=name))
    client.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"testenv": "prod"}}
    )
    updated(client, name)
    r.match("publish_v2", client.publish_version(FunctionName=name))

    def alias(
        version: str, weights: dict[str, float], alias_name: str = "custom", fn: str = name
    ) -> Callable[[], Any]:
        return lambda: client.create_alias(
            FunctionName=fn,
            Name=alias_name,
            FunctionVersion=version,
            RoutingConfig={"AdditionalVersionWeights": weights},
        )

    unchecked = make_lambda_client(client.meta.endpoint_url, validate=False)
    r.match("routing_config_exc_toomany", error(alias("1", {"1": 0.8, "2": 0.2})))
    r.match(
        "routing_config_exc_toohigh",
        error(
            lambda: unchecked.create_alias(
                FunctionName=name,
                Name="custom",
                FunctionVersion="1",
                RoutingConfig={"AdditionalVersionWeights": {"2": 2}},
            )
        ),
    )
    r.match(
        "routing_config_exc_subzero",
        error(
            lambda: unchecked.create_alias(
                FunctionName=name,
                Name="custom",
                FunctionVersion="1",
                RoutingConfig={"AdditionalVersionWeights": {"2": -1}},
            )
        ),
    )
    r.match("routing_config_exc_sameversion", error(alias("1", {"1": 0.5})))
    r.match("target_version_doesnotexist", error(alias("10", {"2": 0.5})))
    r.match("routing_config_exc_version_doesnotexist", error(alias("1", {"10": 0.5})))
    r.match("target_version_exc_version_latest", error(alias("$LATEST", {"1": 0.5})))
    r.match("routing_config_exc_version_latest", error(alias("1", {"$LATEST": 0.5})))
    r.match(
        "create-alias-latest",
        client.create_alias(FunctionName=name, Name="custom-latest", FunctionVersion="$LATEST"),
    )
    r.match(
        "routing_config_exc_fn_doesnotexist", error(alias("1", {"2": 0.5}, fn=f"{name}-unknown"))
    )
    r.match("create_alias_empty_routingconfig", alias("1", {}, "custom-empty-routingconfig")())
    r.match("create_alias_response", alias("1", {"2": 0.5})())
    r.match("routing_config_exc_already_exist", error(alias("1", {"2": 0.5})))
    r.match(
        "alias_does_not_exist_esc",
        error(lambda: client.get_alias(FunctionName=name, Name="non-existent")),
    )
    done(r)


def test_function_revisions_basic(client: Any) -> None:
    name = "fn-revisions-basic"
    r = Replay("test_function_revisions_basic", {name: "<function-name:1>"})
    r.skipped.add("create_function_response_rev1")  # LocalStack's fixture's own wrapper
    code = archive()
    create(client, name, Code={"ZipFile": code}, Environment={"Variables": {}}, Timeout=30)
    rev2 = client.get_function(FunctionName=name)
    r.match("get_function_response_rev2", rev2)
    r.match(
        "update_function_revision_exception",
        error(
            lambda: client.update_function_code(FunctionName=name, ZipFile=code, RevisionId="wrong")
        ),
    )
    rev3 = client.update_function_code(
        FunctionName=name, ZipFile=code, RevisionId=rev2["Configuration"]["RevisionId"]
    )
    r.match("update_function_code_response_rev3", rev3)
    updated(client, name)
    rev4 = client.get_function(FunctionName=name)
    r.match("get_function_response_rev4", rev4)
    r.match(
        "update_function_configuration_revision_exception",
        error(
            lambda: client.update_function_configuration(
                FunctionName=name, Runtime="python3.8", RevisionId="wrong"
            )
        ),
    )
    r.match(
        "update_function_configuration_response_rev5",
        client.update_function_configuration(
            FunctionName=name, Runtime="python3.8", RevisionId=rev4["Configuration"]["RevisionId"]
        ),
    )
    updated(client, name)
    r.match("get_function_response_rev6", client.get_function(FunctionName=name))
    done(r)


def test_function_revisions_version_and_alias(client: Any) -> None:
    name = "fn-revisions-alias"
    r = Replay("test_function_revisions_version_and_alias", {name: "<function-name:1>"})
    r.skipped.add("create_function_response_rev1")  # LocalStack's fixture's own wrapper
    # what LocalStack's fixture passes: its handler file, a 30 s timeout, no variables
    create(
        client,
        name,
        Environment={"Variables": {}},
        Timeout=30,
        Handler="handler.handler",
        Code={"ZipFile": archive(name="handler.py")},
    )
    rev2 = client.get_function(FunctionName=name)
    r.match("get_function_active_rev2", rev2)
    r.match(
        "publish_version_revision_exception",
        error(lambda: client.publish_version(FunctionName=name, RevisionId="wrong")),
    )
    v1 = client.publish_version(FunctionName=name, RevisionId=rev2["Configuration"]["RevisionId"])
    r.match("publish_version_response_rev_v1", v1)
    client.get_waiter("published_version_active").wait(FunctionName=name)
    r.match(
        "get_function_published_version_rev_v2",
        client.get_function(FunctionName=name, Qualifier=v1["Version"]),
    )
    r.match("get_function_latest_rev3", client.get_function(FunctionName=name))
    a1 = client.create_alias(
        FunctionName=name, Name="revision_alias", FunctionVersion=v1["Version"]
    )
    r.match("create_alias_response_rev_a1", a1)
    r.match("get_function_latest_rev4", client.get_function(FunctionName=name))
    r.match(
        "get_function_published_version_rev_v3",
        client.get_function(FunctionName=name, Qualifier=v1["Version"]),
    )
    r.match(
        "update_alias_revision_exception",
        error(
            lambda: client.update_alias(
                FunctionName=name,
                Name="revision_alias",
                Description="something",
                RevisionId="wrong",
            )
        ),
    )
    r.match(
        "update_alias_response_rev_a2",
        client.update_alias(
            FunctionName=name,
            Name="revision_alias",
            Description="something changed",
            RevisionId=a1["RevisionId"],
        ),
    )
    done(r)


@pytest.mark.parametrize("check", ["revisionid", "sha256"])
def test_publish_with_wrong_revisionid_or_sha256(client: Any, check: str) -> None:
    name = f"fn-publish-wrong-{check}"
    r = Replay(f"test_publish_with_wrong_{check}", {name: "<function-name:1>"})
    created = create(client, name)
    got = client.get_function(FunctionName=name)
    if check == "sha256":
        r.match("create_response", created)
        r.match("get_fn_response", got)
    else:  # recorded in 2022, before AWS added LoggingConfig, SnapStart, RuntimeVersionConfig
        r.skipped |= {"create_response", "get_fn_response", "publish_result"}
    if check == "revisionid":
        r.match(
            "publish_wrong_revisionid_exc",
            error(lambda: client.publish_version(FunctionName=name, RevisionId="abcdef")),
        )
        right = {"RevisionId": got["Configuration"]["RevisionId"]}
    else:
        r.match(
            "publish_wrong_sha256_exc",
            error(
                lambda: client.publish_version(
                    FunctionName=name, CodeSha256="somenonexistentsha256"
                )
            ),
        )
        right = {"CodeSha256": got["Configuration"]["CodeSha256"]}
    published = client.publish_version(FunctionName=name, **right)
    if check == "sha256":
        r.match("publish_result", published)
    assert published["Version"] == "1"
    done(r)


def test_publish_version_on_create(client: Any) -> None:
    name = "fn-publish-on-create"
    r = Replay("test_publish_version_on_create", {name: "<function-name:1>"})
    r.match("create_response", create(client, name, Publish=True))
    r.match("get_function_result", client.get_function(FunctionName=name))
    r.match("get_function_version_result", client.get_function(FunctionName=name, Qualifier="1"))
    r.match(
        "get_function_latest_result", client.get_function(FunctionName=name, Qualifier="$LATEST")
    )
    r.match("list_versions_result", client.list_versions_by_function(FunctionName=name))
    r.match("repeated_publish_response", client.publish_version(FunctionName=name))
    r.match(
        "list_versions_result_after_publish", client.list_versions_by_function(FunctionName=name)
    )
    done(r)


@pytest.mark.parametrize(
    "operation", ["get_function", "get_function_configuration", "get_function_event_invoke_config"]
)
def test_ops_on_nonexisting_version(client: Any, operation: str) -> None:
    name = f"i-exist-{operation.replace('_', '-')}"
    r = Replay(f"test_ops_on_nonexisting_version[{operation}]", {name: "<fn-name>"})
    create(client, name, Description="Initial description")
    method = getattr(client, operation)
    r.match(
        "version_not_found_exception", error(lambda: method(FunctionName=name, Qualifier="1221"))
    )
    done(r)


def test_delete_on_nonexisting_version(client: Any) -> None:
    name = "i-exist-delete"
    r = Replay("test_delete_on_nonexisting_version", {name: "<fn-name>"})
    create(client, name, Description="Initial description")
    client.delete_function(FunctionName=name, Qualifier="1233")  # idempotent
    client.delete_function(FunctionName=name, Qualifier="1233")
    client.delete_function(FunctionName=name)
    r.match(
        "delete_function_response_non_existent",
        error(lambda: client.delete_function(FunctionName=name)),
    )
    r.match(
        "delete_function_response_non_existent_with_qualifier",
        error(lambda: client.delete_function(FunctionName=name, Qualifier="1233")),
    )
    done(r)


@pytest.mark.parametrize(
    "operation",
    [
        "delete_function",
        "get_function",
        "get_function_configuration",
        "get_function_concurrency",
        "get_function_url_config",
        "get_function_event_invoke_config",
    ],
)
def test_ops_on_nonexisting_fn(client: Any, operation: str) -> None:
    name = "i-dont-exist-anywhere"
    r = Replay(f"test_ops_on_nonexisting_fn[{operation}]", {name: "<nonexisting-fn-name>"})
    method = getattr(client, operation)
    r.match("not_found_exception", error(lambda: method(FunctionName=name)))
    done(r)


@pytest.mark.parametrize(
    "operation",
    [
        "get_function",
        "get_function_configuration",
        "get_function_concurrency",
        "get_function_url_config",
        "get_function_event_invoke_config",
        "delete_function",
        "invoke",
    ],
)
def test_get_function_wrong_region(client: Any, operation: str) -> None:
    name = f"i-exist-region-{operation.replace('_', '-')}"
    r = Replay(
        f"test_get_function_wrong_region[{operation}]",
        {name: "<fn-name>", "eu-central-1": "<wrong-region>"},
    )
    create(client, name, Description="Initial description")
    arn = f"arn:aws:lambda:eu-central-1:000000000000:function:{name}"
    method = getattr(client, operation)
    r.match("wrong_region_exception", error(lambda: method(FunctionName=arn)))
    done(r)


@pytest.mark.parametrize(
    "operation", ["delete_function", "get_function", "get_function_configuration"]
)
def test_ops_with_arn_qualifier_mismatch(client: Any, operation: str) -> None:
    r = Replay(f"test_ops_with_arn_qualifier_mismatch[{operation}]", {})
    arn = "arn:aws:lambda:us-east-1:000000000000:function:some-function"
    method = getattr(client, operation)
    r.match(
        "not_match_exception", error(lambda: method(FunctionName=f"{arn}:1", Qualifier="$LATEST"))
    )
    r.match(
        "match_exception", error(lambda: method(FunctionName=f"{arn}:$LATEST", Qualifier="$LATEST"))
    )
    done(r)


def test_large_environment_variables_fails(client: Any) -> None:
    name = "fn-large-environment"
    r = Replay("test_large_environment_variables_fails", {name: "<function-name:1>"})
    r.match(
        "failed_create_fn_result",
        error(
            lambda: client.create_function(
                FunctionName=name,
                Handler="index.handler",
                Runtime="python3.12",
                Role=ROLE,
                Code={"ZipFile": archive()},
                Environment={"Variables": {"LARGE_VAR": "x" * (4096 - 6 - len("LARGE_VAR"))}},
            )
        ),
    )
    done(r)


NODE = "exports.handler = async (event) => event;\n"


def url_function(client: Any, name: str) -> None:
    """What LocalStack's create fixture makes for its URL tests: a Node.js function (listed
    and configured here like any other; the sandbox runs Python and provided runtimes)."""
    create(
        client,
        name,
        Runtime="nodejs20.x",
        Handler="lambda_handler.handler",
        Timeout=30,
        Environment={"Variables": {}},
        Code={"ZipFile": archive(NODE, "lambda_handler.js")},
    )


def test_url_config_lifecycle(client: Any) -> None:
    name = "test-function-url-lifecycle"
    r = Replay("test_url_config_lifecycle", {name: "<resource:1>"})
    url_function(client, name)
    r.match("url_creation", client.create_function_url_config(FunctionName=name, AuthType="NONE"))
    r.match(
        "failed_duplication",
        error(lambda: client.create_function_url_config(FunctionName=name, AuthType="NONE")),
    )
    r.match("get_url_config", client.get_function_url_config(FunctionName=name))
    r.match(
        "updated_url_config",
        client.update_function_url_config(FunctionName=name, AuthType="AWS_IAM"),
    )
    client.delete_function_url_config(FunctionName=name)
    r.match("failed_getter", error(lambda: client.get_function_url_config(FunctionName=name)))
    done(r)


def test_url_config_list_paging(client: Any) -> None:
    name = "test-function-url-paging"
    r = Replay("test_url_config_list_paging", {name: "<function-name:1>"})
    url_function(client, name)
    version = client.publish_version(FunctionName=name)
    r.match("fn_version_result", version)
    r.match(
        "create_alias_result",
        client.create_alias(FunctionName=name, Name="urlalias", FunctionVersion=version["Version"]),
    )
    r.match(
        "list_function_notfound",
        error(lambda: client.list_function_url_configs(FunctionName="doesnotexist")),
    )
    r.match("list_all_empty", client.list_function_url_configs(FunctionName=name))
    own = client.create_function_url_config(FunctionName=name, AuthType="NONE")
    r.match("url_config_fn", own)
    aliased = client.create_function_url_config(
        FunctionName=f"{name}:urlalias", Qualifier="urlalias", AuthType="NONE"
    )
    r.match("url_config_alias", aliased)
    listed = client.list_function_url_configs(FunctionName=name)
    listed["FunctionUrlConfigs"].sort(key=lambda c: c["FunctionArn"])
    r.match("list_all", listed)
    one = client.list_function_url_configs(FunctionName=name, MaxItems=1)
    assert len(one["FunctionUrlConfigs"]) == 1 and one["NextMarker"]
    rest = client.list_function_url_configs(FunctionName=name, Marker=one["NextMarker"])
    urls = {c["FunctionUrl"] for c in one["FunctionUrlConfigs"] + rest["FunctionUrlConfigs"]}
    assert urls == {own["FunctionUrl"], aliased["FunctionUrl"]}
    done(r)


def test_url_config_exceptions(client: Any) -> None:
    name = "test-function-url-errors"
    r = Replay("test_url_config_exceptions", {name: "<function-name:1>"})
    url_function(client, name)
    arn = client.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    version = client.publish_version(FunctionName=name)
    r.match("fn_version_result", version)
    r.match(
        "create_alias_result",
        client.create_alias(FunctionName=name, Name="urlalias", FunctionVersion=version["Version"]),
    )
    cases = {
        "name_doesnotexist": {"FunctionName": "doesnotexist"},
        "arn_doesnotexist": {"FunctionName": arn.replace(name, "doesnotexist")},
        "name_doesnotexist_qualifier": {"FunctionName": "doesnotexist", "Qualifier": "1"},
        "qualifier_version": {"FunctionName": name, "Qualifier": "1"},
        "qualifier_version_doesnotexist": {"FunctionName": name, "Qualifier": "2"},
        "qualifier_alias_doesnotexist": {"FunctionName": name, "Qualifier": "v1"},
        "qualifier_alias_doesnotmatch_arn": {
            "FunctionName": f"{name}:urlalias-doesnotmatch",
            "Qualifier": "urlalias",
        },
        "qualifier_latest": {"FunctionName": name, "Qualifier": "$LATEST"},
    }
    missing = {"config_doesnotexist": {"FunctionName": name}}
    operations = [
        ("create_function_url_config", cases, {"AuthType": "NONE"}),
        ("get_function_url_config", {**cases, **missing}, {}),
        ("delete_function_url_config", {**cases, **missing}, {}),
        ("update_function_url_config", {**cases, **missing}, {"AuthType": "AWS_IAM"}),
    ]
    # AWS answered this one with an internal failure (LocalStack replaced it): not compared
    r.skipped.add("delete_function_url_config_qualifier_alias_doesnotmatch_arn")
    for operation, tests, extra in operations:
        method = getattr(client, operation)
        for case, args in tests.items():
            key = f"{operation}_{case}"
            answer = error(lambda m=method, a=args, e=extra: m(**a, **e))
            if key not in r.skipped:
                r.match(key, answer)
    done(r)


BUCKET = "arn:aws:s3:::test-bucket"


def test_permission_exceptions(client: Any) -> None:
    name = "lambda_func-permission-errors"
    r = Replay("test_permission_exceptions", {name: "<function-name>"})
    create(client, name, Handler="handler.handler", Code={"ZipFile": archive(name="handler.py")})

    def add(**args: Any) -> Callable[[], Any]:
        params = {
            "FunctionName": name,
            "Action": "lambda:InvokeFunction",
            "StatementId": "s3",
            "Principal": "s3.amazonaws.com",
            "SourceArn": BUCKET,
            **args,
        }
        return lambda: client.add_permission(**params)

    r.match("add_permission_invalid_statement_id", error(add(StatementId="example.com")))
    r.match(
        "add_permission_fn_qualifier_mismatch",
        error(add(FunctionName=f"{name}:alias-not-42", Qualifier="42")),
    )
    r.match(
        "add_permission_fn_qualifier_latest",
        error(add(FunctionName=f"{name}:$LATEST", Qualifier="$LATEST")),
    )
    r.match(
        "add_permission_principal_invalid",
        error(add(StatementId="lambda", Principal="invalid.nonaws.com")),
    )
    r.match(
        "get_policy_fn_doesnotexist", error(lambda: client.get_policy(FunctionName="doesnotexist"))
    )
    r.match(
        "get_policy_fn_version_doesnotexist",
        error(lambda: client.get_policy(FunctionName=name, Qualifier="77")),
    )
    r.match("add_permission_fn_doesnotexist", error(add(FunctionName="doesnotexist")))
    r.match(
        "remove_permission_policy_doesnotexist",
        error(lambda: client.remove_permission(FunctionName=name, StatementId="s3")),
    )
    r.match(
        "add_permission_fn_alias_doesnotexist",
        error(add(FunctionName=f"{name}:alias-doesnotexist")),
    )
    r.match("add_permission_fn_version_doesnotexist", error(add(Qualifier="42")))
    r.match(
        "add_permission_fn_qualifier_invalid", error(add(Qualifier="invalid-qualifier-with-?-char"))
    )
    r.match(
        "add_permission_fn_qualifier_valid_doesnotexist",
        error(add(Qualifier="valid-with-$-but-doesnotexist")),
    )
    add()()
    r.match("add_permission_conflicting_statement_id", error(add()))
    r.match(
        "remove_permission_fn_doesnotexist",
        error(lambda: client.remove_permission(FunctionName="doesnotexist", StatementId="s3")),
    )
    r.match(
        "remove_permission_fn_alias_doesnotexist",
        error(
            lambda: client.remove_permission(
                FunctionName=name, StatementId="s3", Qualifier="alias-doesnotexist"
            )
        ),
    )
    done(r)


def test_add_lambda_permission_aws(client: Any) -> None:
    name = "lambda_func-add-permission"
    r = Replay(
        "test_add_lambda_permission_aws", {name: "<function-name:1>", "test-bucket": "<resource:3>"}
    )
    r.skipped.add("create_lambda")  # LocalStack's fixture's own wrapper
    create(client, name, Handler="handler.handler", Code={"ZipFile": archive(name="handler.py")})
    r.match(
        "add_permission",
        client.add_permission(
            FunctionName=name,
            Action="lambda:InvokeFunction",
            StatementId="s3",
            Principal="s3.amazonaws.com",
            SourceArn=BUCKET,
        ),
    )
    r.match("get_policy", client.get_policy(FunctionName=name))
    done(r)


def test_remove_multi_permissions(client: Any) -> None:
    name = "lambda_func-remove-permissions"
    r = Replay(
        "test_remove_multi_permissions", {name: "<resource:1>", "test-bucket": "<resource:2>"}
    )
    create(client, name)
    act = "lambda:InvokeFunction"
    r.match(
        "add_permission_1",
        client.add_permission(
            FunctionName=name, Action=act, StatementId="s3", Principal="s3.amazonaws.com"
        ),
    )
    r.match(
        "add_permission_2",
        client.add_permission(
            FunctionName=name,
            Action=act,
            StatementId="sqs",
            Principal="sqs.amazonaws.com",
            SourceArn=BUCKET,
        ),
    )
    r.match("policy_after_2_add", client.get_policy(FunctionName=name))
    r.match(
        "remove_permission_exception_nonexisting_sid",
        error(lambda: client.remove_permission(FunctionName=name, StatementId="non-existent")),
    )
    client.remove_permission(FunctionName=name, StatementId="sqs")
    r.match("policy_after_removal", client.get_policy(FunctionName=name))
    r.match("policy_after_removal_attempt", client.get_policy(FunctionName=name))
    client.remove_permission(FunctionName=name, StatementId="s3")
    r.match("get_policy_exception_removed_all", error(lambda: client.get_policy(FunctionName=name)))
    done(r)


def test_create_multiple_lambda_permissions(client: Any) -> None:
    name = "test-function-multiple-permissions"
    r = Replay("test_create_multiple_lambda_permissions", {name: "<resource:1>"})
    create(client, name)
    act = "lambda:InvokeFunction"
    r.match(
        "add_permission_response_1",
        client.add_permission(
            FunctionName=name, Action=act, StatementId="logs", Principal="logs.amazonaws.com"
        ),
    )
    r.match(
        "add_permission_response_2",
        client.add_permission(
            FunctionName=name, Action=act, StatementId="kinesis", Principal="kinesis.amazonaws.com"
        ),
    )
    r.match("policy_after_2_add", client.get_policy(FunctionName=name))
    done(r)
