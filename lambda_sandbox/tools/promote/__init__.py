"""Promote a sandbox function to real AWS Lambda with the same configuration.

package.py     the zip, built for Lambda's platform (manylinux wheels for the function's
               architecture and runtime), checked against Lambda's package limits
artifacts.py   S3 uploads (models; zips over the direct-upload limit), skipped when the
               object's ETag already matches the file's
plan.py        pure: desired state from FunctionConfig, current state from Lambda's
               answers, the diff between them
deploy.py      boto3: the session and clients, reading AWS, and each step of applying
http_api.py    the HTTP API (API Gateway v2) of the function's HttpApi events: routes, the
               Lambda proxy integration, the $default stage, the invoke permission
promotion.py   plan_promotion: the Plan, read only
apply.py       apply_plan: make AWS match the plan
run.py         promote: plan -> apply -> smoke invoke + cost
command.py     the `sandbox promote` command's body
errors.py      PromoteError and the translation of boto3's errors
progress.py    progress reporting (rich, or nothing)
"""

from __future__ import annotations

from lambda_sandbox.tools.promote.apply import apply_plan
from lambda_sandbox.tools.promote.artifacts import s3_etag
from lambda_sandbox.tools.promote.command import find_function, run_promote
from lambda_sandbox.tools.promote.deploy import AwsTarget, Smoke
from lambda_sandbox.tools.promote.errors import PromoteError
from lambda_sandbox.tools.promote.package import ZipPackage, build_zip, wheel_platforms
from lambda_sandbox.tools.promote.plan import (
    Change,
    FunctionState,
    current_state,
    desired_state,
    diff,
)
from lambda_sandbox.tools.promote.progress import ListReporter, NullReporter, Reporter, RichReporter
from lambda_sandbox.tools.promote.promotion import (
    CostEstimate,
    Plan,
    PromoteOptions,
    PromoteResult,
    plan_promotion,
)
from lambda_sandbox.tools.promote.run import complete, promote

__all__ = [
    "AwsTarget",
    "Change",
    "CostEstimate",
    "FunctionState",
    "ListReporter",
    "NullReporter",
    "Plan",
    "PromoteError",
    "PromoteOptions",
    "PromoteResult",
    "Reporter",
    "RichReporter",
    "Smoke",
    "ZipPackage",
    "apply_plan",
    "build_zip",
    "complete",
    "current_state",
    "desired_state",
    "diff",
    "find_function",
    "plan_promotion",
    "promote",
    "run_promote",
    "s3_etag",
    "wheel_platforms",
]
