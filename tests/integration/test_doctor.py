"""`sandbox doctor`: the machine's checks, and the leftovers of a crashed sandbox found and
removed (a labelled process, a cgroup, a state folder, a uid lock of a session that is gone)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from lambda_sandbox.cli.main import main
from lambda_sandbox.environments.cgroups import detect_cgroup_driver
from lambda_sandbox.environments.identity import IdentityPool
from lambda_sandbox.sessions import SESSION_VARIABLE

pytestmark = [pytest.mark.root]

DEAD = "s999999-d0c70f"  # no process 999999: a session that crashed


def test_doctor_finds_and_removes_a_crashed_sessions_leftovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    (state / DEAD / "env1").mkdir(parents=True)
    (state / "sh-is-bash").mkdir()  # the backend's own folder beside the sessions': kept
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(state))
    orphan = subprocess.Popen(["sleep", "300"], env={**os.environ, SESSION_VARIABLE: DEAD})
    driver = detect_cgroup_driver()
    assert driver is not None
    driver.create(DEAD, "env1", 64 << 20, 10000, 100000, 64)
    lock = IdentityPool(DEAD).folder
    IdentityPool(DEAD).open(lambda s: True)
    uid = IdentityPool(DEAD).acquire()[0]
    try:
        runner = CliRunner()
        found = runner.invoke(main, ["doctor", "-o", "json"])
        assert found.exit_code == 1, found.output
        report = json.loads(found.output)
        left = report["leftovers"]
        assert [p for p in left["processes"] if str(orphan.pid) in p]
        assert [g for g in left["cgroups"] if g.endswith(DEAD)]
        assert left["state_folders"] == [str(state / DEAD)]
        assert str(lock / str(uid)) in left["uid_locks"]
        assert {c["name"] for c in report["checks"]} >= {"root", "cgroup", "docker engine"}
        assert report["holds"]["functions cannot read or signal each other"] is True

        fixed = runner.invoke(main, ["doctor", "--fix", "-o", "json"])
        assert fixed.exit_code == 0 and json.loads(fixed.output)["remaining"] == 0, fixed.output
        for _ in range(50):
            if orphan.poll() is not None:
                break
            time.sleep(0.05)
        assert orphan.poll() is not None, "the orphan was stopped"
        assert driver.stale_groups(lambda s: s != DEAD) == []
        assert not (state / DEAD).exists() and not (lock / str(uid)).exists()
        assert (state / "sh-is-bash").is_dir()
        text = runner.invoke(main, ["doctor"])
        assert "No leftovers of crashed sandboxes." in text.output, text.output
    finally:
        if orphan.poll() is None:
            orphan.kill()
        orphan.wait()


@pytest.mark.docker
def test_a_crashed_sessions_container_is_found_and_removed() -> None:
    import docker

    client = docker.from_env()
    images = [tag for image in client.images.list() for tag in image.tags]
    assert images, "the docker tests before this one built images"
    container = client.containers.create(
        images[0], command=["true"], labels={"lambda-sandbox.session": DEAD},
        name=f"lambda-sandbox-{DEAD}-test",
    )  # fmt: skip
    try:
        runner = CliRunner()
        found = json.loads(runner.invoke(main, ["doctor", "-o", "json"]).output)
        assert container.name in found["leftovers"]["containers"]
        fixed = runner.invoke(main, ["doctor", "--fix", "-o", "json"])
        assert fixed.exit_code == 0, fixed.output
        left = client.containers.list(all=True, filters={"label": f"lambda-sandbox.session={DEAD}"})
        assert left == []
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)
        client.close()
