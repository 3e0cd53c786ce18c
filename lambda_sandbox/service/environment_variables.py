"""The environment variables Lambda sets in an execution environment, built for one function.

Reserved variables as the Lambda docs list them (AWS_LAMBDA_*, _HANDLER, AWS_REGION, ...), the
function's own Environment.Variables, credentials and the AWS side's endpoint (AWS_ENDPOINT_URL,
which boto3 honours), plus SANDBOX_VCPUS: the CPU share of the tier, for thread-pool sizing.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from lambda_sandbox.config import FunctionConfig

__all__ = ["AwsSide", "lambda_environment", "log_stream_name"]


@dataclass(frozen=True)
class AwsSide:
    """Where functions' AWS SDK calls go, and the credentials they carry."""

    endpoint_url: str | None = None
    region: str = "us-east-1"
    account_id: str = "000000000000"
    access_key_id: str = "test"
    secret_access_key: str = "test"
    session_token: str = "test"


def log_stream_name(env_id: str, version: str = "$LATEST") -> str:
    return time.strftime("%Y/%m/%d/", time.gmtime()) + f"[{version}]{env_id}"


def new_env_id() -> str:
    return uuid.uuid4().hex


# Lambda's values (a python3.12 function's environment, LocalStack's snapshot
# test_introspection_invoke, recorded against AWS)
PATH = "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin"
LD_LIBRARY_PATH = (
    "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib"
)
XRAY_DAEMON = ("169.254.79.129", "2000")


def lambda_environment(
    config: FunctionConfig,
    aws: AwsSide,
    vcpus: float,
    version: str = "$LATEST",
    lambda_endpoint_url: str | None = None,
) -> dict[str, str]:
    """Every variable except the per-environment ones (runtime API, log stream), with
    Lambda's paths: a backend that cannot show the function those paths maps them.
    `lambda_endpoint_url` is the sandbox's Lambda API, as AWS_ENDPOINT_URL_LAMBDA (boto3's
    per-service endpoint): function-to-function calls reach the sandbox, not the AWS side."""
    runtime = config.runtime
    env = {
        "PATH": PATH,
        "LD_LIBRARY_PATH": LD_LIBRARY_PATH,
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "_HANDLER": config.handler,
        "AWS_LAMBDA_FUNCTION_NAME": config.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": version,
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.name}",
        "AWS_REGION": aws.region,
        "AWS_DEFAULT_REGION": aws.region,
        "AWS_ACCESS_KEY_ID": aws.access_key_id,
        "AWS_SECRET_ACCESS_KEY": aws.secret_access_key,
        "AWS_SESSION_TOKEN": aws.session_token,
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": ":".join(XRAY_DAEMON),
        "_AWS_XRAY_DAEMON_ADDRESS": XRAY_DAEMON[0],
        "_AWS_XRAY_DAEMON_PORT": XRAY_DAEMON[1],
        "SANDBOX_VCPUS": f"{vcpus:.3f}",  # the sandbox's: the tier's CPU share, for pools
        "SHLVL": "0",  # Lambda's runtimes start from a shell bootstrap
    }
    if runtime.startswith("python"):
        env["AWS_EXECUTION_ENV"] = f"AWS_Lambda_{runtime}"
        env["PYTHONPATH"] = "/var/runtime"
        if runtime in ("python3.8", "python3.9", "python3.10", "python3.11"):
            env["LC_CTYPE"] = "C.UTF-8"
    if aws.endpoint_url:
        env["AWS_ENDPOINT_URL"] = aws.endpoint_url
    if lambda_endpoint_url:
        env["AWS_ENDPOINT_URL_LAMBDA"] = lambda_endpoint_url
    url = config.function_url or {}
    if str(url.get("InvokeMode", "")).upper() == "RESPONSE_STREAM":
        # the bundle carries the streaming runtime; Lambda's exec-wrapper hook switches it on
        env["AWS_LAMBDA_EXEC_WRAPPER"] = "/var/task/lambda-stream-wrapper"
    env.update(config.environment)
    return env
