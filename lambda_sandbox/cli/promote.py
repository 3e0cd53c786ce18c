"""`sandbox promote`: deploy a function to AWS with the same configuration."""

from __future__ import annotations

import sys

import click

from lambda_sandbox.cli.common import Project, console, project_options

# ------------------------------------------------------------------------------- promote
__all__ = ["promote"]


@click.command(name="promote")
@click.argument("function")
@click.option("--to", "target", type=click.Choice(["aws"]), required=True)
@click.option("--region", default=None)
@click.option("--profile", default=None)
@click.option("--role-arn", default=None)
@click.option("--create-role", is_flag=True)
@click.option("--package", type=click.Choice(["zip", "image"]), default="zip", show_default=True)
@click.option("--image-uri", default=None, help="An image already pushed to ECR (--package image).")
@click.option(
    "--base-image",
    default=None,
    help="BASE of the generated Dockerfile (default public.ecr.aws/lambda/python:<version>).",
)
@click.option(
    "--registry",
    envvar="SANDBOX_PROMOTE_REGISTRY",
    default=None,
    help="HOST[:PORT] to push the image to instead of ECR's (tests, LocalStack).",
)
@click.option("--architecture", type=click.Choice(["x86_64", "arm64"]), default=None)
@click.option("--model-bucket", default=None)
@click.option("--code-bucket", default=None, help="For zips over the 50 MB direct-upload limit.")
@click.option("--duration-ms", type=float, default=None, help="Duration measured locally.")
@click.option("--endpoint-url", default=None, help="LocalStack or moto's server instead of AWS.")
@click.option("--no-smoke-test", is_flag=True)
@click.option("--dry-run", is_flag=True, help="Print the plan as a diff; change nothing.")
@click.option("--yes", is_flag=True, help="Apply without asking.")
@project_options
def promote(
    function: str,
    target: str,
    region: str | None,
    profile: str | None,
    role_arn: str | None,
    create_role: bool,
    package: str,
    image_uri: str | None,
    base_image: str | None,
    registry: str | None,
    architecture: str | None,
    model_bucket: str | None,
    code_bucket: str | None,
    duration_ms: float | None,
    endpoint_url: str | None,
    no_smoke_test: bool,
    dry_run: bool,
    yes: bool,
    project: Project,
) -> None:
    """Deploy FUNCTION to AWS Lambda with the same configuration (credentials from boto3's
    standard chain; never printed)."""
    from lambda_sandbox.tools.promote import PromoteOptions, run_promote

    options = PromoteOptions(
        region=region,
        profile=profile,
        endpoint_url=endpoint_url,
        role_arn=role_arn,
        create_role=create_role,
        package=package,
        image_uri=image_uri,
        base_image=base_image,
        registry=registry,
        architecture=architecture,
        model_bucket=model_bucket,
        code_bucket=code_bucket,
        duration_ms=duration_ms,
        smoke_test=not no_smoke_test,
        dry_run=dry_run,
    )
    sys.exit(
        run_promote(
            function,
            options,
            functions_dir=project.functions_dir,
            template=project.template,
            parameters=project.parameters() if project.template else None,
            layer_arns=project.layer_arns(),
            yes=yes,
            console=console,
        )
    )
