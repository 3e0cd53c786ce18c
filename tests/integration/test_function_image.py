"""A function's image runs like AWS's images do: `docker run` it (here through testcontainers,
as a user's own tests would), POST to the RIE on :8080, and the handler answers, as Lambda's
sandbox user, killed past its memory limit. The image is the one the docker backend runs and
`promote --package image` pushes.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from lambda_sandbox.build.function_image import build_function_image
from lambda_sandbox.build.offline_images import build_images, lambda_base_image
from lambda_sandbox.build.rie_binary import host_architecture
from lambda_sandbox.config import discover_functions

# the first run on a machine builds the offline base images (debootstrap): minutes
pytestmark = [
    pytest.mark.integration,
    pytest.mark.docker,
    pytest.mark.root,
    pytest.mark.timeout(900),
]

FUNCTIONS = Path(__file__).resolve().parents[1] / "functions"


def post(url: str, event: dict[str, object]) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_the_function_image_runs_under_testcontainers_with_the_rie() -> None:
    from testcontainers.core.container import DockerContainer

    import docker

    config = next(c for c in discover_functions(FUNCTIONS) if c.name == "probe")
    build_images(["lambda"], python_versions=[config.runtime.removeprefix("python")])
    engine = docker.from_env()
    try:
        image = build_function_image(
            engine, config, host_architecture(), lambda_base_image(config.runtime), print
        )
    finally:
        engine.close()
    container = (
        DockerContainer(image)
        .with_exposed_ports(8080)
        .with_env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .with_tmpfs_mount("/tmp", "size=64m")
        .with_kwargs(
            mem_limit="256m",
            memswap_limit="256m",
            user="993:990",
            read_only=True,
        )
    )
    with container:
        host, port = container.get_container_host_ip(), container.get_exposed_port(8080)
        url = f"http://{host}:{port}/2015-03-31/functions/function/invocations"
        deadline = time.monotonic() + 30
        while True:
            try:
                status, body = post(url, {"action": "echo", "n": 2})
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "the RIE did not answer in 30 s"
                time.sleep(0.2)
        assert status == 200 and body["event"] == {"action": "echo", "n": 2}
        assert body["uid"] == 993
        status, body = post(url, {"action": "alloc", "mb": 300})
        assert status == 502 and body["errorType"] == "Runtime.ExitError", body
        status, body = post(url, {"action": "echo"})
        assert status == 200, "the RIE starts the runtime again after the kill"
