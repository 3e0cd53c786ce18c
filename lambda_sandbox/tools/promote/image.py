"""Image packages: build the function's image, push it to ECR, and name it by its digest.

The image is the function folder's own `Dockerfile` when it has one (built with the folder as
its context), else a generated one over the same bundle a zip would hold:

    ARG BASE
    FROM ${BASE}
    COPY task/ /var/task/
    CMD ["<Handler>"]

with BASE (`--base-image`) defaulting to AWS's base image for the runtime,
public.ecr.aws/lambda/python:<version>; the requirements are installed on the host for
Lambda's platform (as for a zip), so the build needs no network. Building is local and read
only on AWS, so a dry run builds too: the plan then knows the image's size (checked against
Lambda's 10 GB) and, when this image was pushed before, its digest.

Pushing: the ECR repository (the function's name) is created when missing, the credentials
come from ecr:GetAuthorizationToken and go to the Docker engine only (never printed), and the
function's ImageUri is `<registry>/<repository>@<digest>`. The registry is ECR's, unless
`--registry HOST[:PORT]` (or $SANDBOX_PROMOTE_REGISTRY) names another one that stands in for
it: a local registry in tests, LocalStack's ECR. Docker's errors leave here as PromoteError.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from lambda_sandbox.build.function_image import (
    PLATFORM,
    build_arguments,
    context_tar,
    generated_dockerfile,
)
from lambda_sandbox.config import FunctionConfig
from lambda_sandbox.tools.promote.deploy import AwsTarget
from lambda_sandbox.tools.promote.errors import PromoteError, aws_step
from lambda_sandbox.tools.promote.package import MIB
from lambda_sandbox.tools.promote.progress import Reporter

__all__ = [
    "BuiltImage",
    "build_image",
    "default_base_image",
    "docker_client",
    "generated_dockerfile",
    "push_image",
]

ENGINE_ARCH = {"x86_64": "amd64", "arm64": "arm64"}
AFTER_PUSH = "@(digest after the push)"  # the plan's ImageUri before the first push


@dataclass(frozen=True)
class BuiltImage:
    image_id: str  # sha256:... of the local image
    size_bytes: int  # unpacked, as Lambda's 10 GB limit counts it
    architecture: str  # the engine's name: amd64, arm64
    dockerfile: str  # "function folder" or "generated"
    base: str | None  # BASE, for a generated Dockerfile
    registry: str  # where it goes
    repository: str
    pushed_digest: str | None  # sha256:... when this image is in registry/repository already

    @property
    def tag(self) -> str:
        return "sandbox-" + self.image_id.removeprefix("sha256:")[:12]

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    @property
    def uri(self) -> str:
        """The ImageUri for Lambda (a placeholder until the first push)."""
        return f"{self.name}@{self.pushed_digest}" if self.pushed_digest else self.name + AFTER_PUSH

    def describe(self) -> str:
        base = f" FROM {self.base}" if self.base else ""
        return (
            f"built {self.image_id[7:19]} ({self.size_bytes / MIB:.0f} MB unpacked, "
            f"linux/{self.architecture}; Dockerfile: {self.dockerfile}{base}) -> "
            f"{self.name}:{self.tag}"
        )


# ------------------------------------------------------------------------------ docker
@contextmanager
def docker_step(step: str) -> Iterator[None]:
    """Docker's errors as PromoteError("<step> failed: ... <what to do>")."""
    import docker.errors
    import requests.exceptions

    try:
        yield
    except PromoteError:
        raise
    except docker.errors.BuildError as exc:
        log = "".join(str(c.get("stream") or c.get("error") or "") for c in exc.build_log)
        raise PromoteError(f"{step} failed: {exc.msg}{_pull_hint(exc.msg)}\n{log[-2000:]}") from exc
    except docker.errors.APIError as exc:
        text = str(exc.explanation or exc)
        raise PromoteError(f"{step} failed: {text}{_pull_hint(text)}") from exc
    except (docker.errors.DockerException, requests.exceptions.ConnectionError) as exc:
        raise PromoteError(
            f"{step} failed: no Docker engine ({exc}). Image packages are built with Docker: "
            "start it, or set DOCKER_HOST"
        ) from exc


def _pull_hint(text: str) -> str:
    if any(
        m in text for m in ("pull access denied", "manifest unknown", "dial tcp", "no such host")
    ):
        return (
            " (the base image is not on this machine and cannot be pulled: `docker pull` or "
            "`docker load` it, or pass --base-image)"
        )
    return ""


def docker_client() -> Any:
    import docker

    with docker_step("connecting to the Docker engine"):
        client = docker.from_env()
        client.ping()
    return client


@contextmanager
def engine(client: Any | None = None) -> Iterator[Any]:
    """The given Docker client, or a new one that is closed afterwards."""
    if client is not None:
        yield client
        return
    own = docker_client()
    try:
        yield own
    finally:
        own.close()


# ------------------------------------------------------------------------------ build
def default_base_image(config: FunctionConfig) -> str:
    return f"public.ecr.aws/lambda/python:{config.runtime.removeprefix('python')}"


def build_image(
    config: FunctionConfig,
    architecture: str,
    *,
    registry: str,
    repository: str,
    base_image: str | None,
    reporter: Reporter,
    client: Any | None = None,
) -> BuiltImage:
    """Build the function's image for Lambda's platform; nothing leaves the machine."""
    platform = PLATFORM[architecture]
    own = config.folder / "Dockerfile"
    base = base_image or default_base_image(config)
    args = build_arguments(config, base, platform=platform)
    step = f"building {config.name}'s image for {platform}"
    reporter.step(step)
    with engine(client) as docker, docker_step(step):
        if own.is_file():
            build = docker.images.build
            image, _log = build(path=str(config.folder), dockerfile="Dockerfile", **args)
        else:
            context = context_tar(config, architecture, reporter.step)
            with open(context, "rb") as f:
                image, _log = docker.images.build(fileobj=f, custom_context=True, **args)
        image.reload()
    arch = str(image.attrs.get("Architecture", ""))
    name = f"{registry}/{repository}"
    digests = [d for d in image.attrs.get("RepoDigests") or [] if d.startswith(name + "@")]
    return BuiltImage(
        image_id=str(image.id),
        size_bytes=int(image.attrs.get("Size") or 0),
        architecture=arch,
        dockerfile="function folder" if own.is_file() else "generated",
        base=None if own.is_file() else base,
        registry=registry,
        repository=repository,
        pushed_digest=digests[0].split("@", 1)[1] if digests else None,
    )


# ------------------------------------------------------------------------------- push
def _ecr_login(aws: AwsTarget) -> tuple[dict[str, str], str]:
    """(auth config for the engine, ECR's registry host) from ecr:GetAuthorizationToken."""
    with aws_step("logging in to ECR (ecr get-authorization-token)"):
        data = aws.client("ecr").get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    host = str(data.get("proxyEndpoint", "")).removeprefix("https://").removeprefix("http://")
    return {"username": user, "password": password}, host


def push_image(aws: AwsTarget, built: BuiltImage, reporter: Reporter, client: Any = None) -> str:
    """Tag and push the image; returns the ImageUri with the pushed manifest's digest."""
    auth, _ecr_host = _ecr_login(aws)
    step = f"pushing {built.name}:{built.tag}"
    reporter.step(step)
    digest = None
    with engine(client) as docker, docker_step(step):
        docker.images.get(built.image_id).tag(built.name, built.tag)
        lines = docker.images.push(
            built.name, tag=built.tag, auth_config=auth, stream=True, decode=True
        )
        for line in lines:
            if "error" in line or "errorDetail" in line:
                detail = line.get("error") or line["errorDetail"].get("message", "")
                hint = ""
                if "denied" in detail or "authorization" in detail or "no basic auth" in detail:
                    hint = " (the credentials may not push to this repository: ecr:PutImage)"
                elif "connection refused" in detail or "no such host" in detail:
                    hint = " (the registry is not reachable: check --registry)"
                raise PromoteError(f"{step} failed: {detail}{hint}")
            if line.get("status") == "Pushed":
                reporter.step(f"  layer {line.get('id')} pushed")
            aux = line.get("aux") or {}
            if aux.get("Digest"):
                digest = str(aux["Digest"])
    if digest is None:
        raise PromoteError(f"{step}: the registry did not answer with the image's digest")
    return f"{built.name}@{digest}"
