"""A Docker engine, connected to the one way: the Docker SDK (imported lazily), $DOCKER_HOST.

A leaf beside the layers: the docker backend, the image builds and promote's image push all
connect here, and catch `engine_errors()` (what the SDK raises: its own errors, those of the
HTTP client under it, and the OS's) instead of every exception.
"""

from __future__ import annotations

from typing import Any

from lambda_sandbox.exceptions import SandboxError
from lambda_sandbox.extras import require

__all__ = ["connect", "engine_errors"]


def engine_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a Docker SDK call can raise."""
    import docker.errors
    import requests

    return (docker.errors.DockerException, requests.RequestException, OSError)


def connect(error: type[SandboxError], purpose: str) -> Any:
    """A pinged client of the engine at $DOCKER_HOST (or the local socket); `error` names
    `purpose` and how to get an engine when there is none."""
    require("docker", purpose)
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except engine_errors() as exc:
        raise error(
            f"{purpose} needs a Docker engine ({exc}): start one (as root: `dockerd &`), "
            "or set DOCKER_HOST"
        ) from exc
    return client
