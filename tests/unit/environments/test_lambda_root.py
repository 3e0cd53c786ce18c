"""Lambda's filesystem as the launcher builds it: the mount plan, and the host paths named
instead of Lambda's where there is no mount namespace."""

from __future__ import annotations

from pathlib import Path

from lambda_sandbox.environments.lambda_root import host_paths, mount_plan, runtime_command
from lambda_sandbox.types import EnvironmentSpec, Filesystem

FS = Filesystem(
    task=Path("/b/task"), opt=Path("/b/opt"), runtime=Path("/b/runtime"),
    lang=Path("/py/3.12"), python_version="3.12",
)  # fmt: skip


def spec(runtime: str = "python3.12", **env: str) -> EnvironmentSpec:
    return EnvironmentSpec(
        function_name="f", handler="app.handler", runtime=runtime, bundle_dir=Path("/b/task"),
        memory_mb=128, ephemeral_mb=512, vcpus=0.07, environment=env, pids_max=64, nofile=64,
    )  # fmt: skip


def test_the_python_runtime_runs_lambdas_bootstrap_on_the_runtimes_python() -> None:
    assert runtime_command(spec(), FS, lambda_paths=True) == [
        "/var/lang/bin/python3.12", "-S", "/var/runtime/bootstrap.py", "app.handler",
    ]  # fmt: skip


def test_a_provided_runtime_runs_the_bundles_bootstrap() -> None:
    provided = Filesystem(task=Path("/b/task"), runtime=Path("/b/runtime"))
    assert runtime_command(spec("provided.al2023"), provided, True) == ["/var/task/bootstrap"]


def test_the_exec_wrapper_gets_the_runtimes_command_line() -> None:
    wrapped = runtime_command(spec(AWS_LAMBDA_EXEC_WRAPPER="/opt/bootstrap"), FS, True)
    assert wrapped[0] == "/opt/bootstrap" and wrapped[1] == "/var/lang/bin/python3.12"
    on_host = runtime_command(spec(AWS_LAMBDA_EXEC_WRAPPER="/opt/bootstrap"), FS, False)
    assert on_host[:2] == ["/b/opt/bootstrap", "/py/3.12/bin/python3.12"]


def test_without_a_namespace_the_environment_names_the_host_folders() -> None:
    env = {
        "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "NOT_A_PATH": "/var/taskforce",  # only whole path elements are Lambda's paths
    }
    assert host_paths(env, FS) == {
        "PATH": "/py/3.12/bin:/usr/local/bin:/usr/bin/:/bin:/b/opt/bin",
        "LAMBDA_TASK_ROOT": "/b/task",
        "LAMBDA_RUNTIME_DIR": "/b/runtime",
        "NOT_A_PATH": "/var/taskforce",
    }


def test_the_root_holds_lambdas_folders_read_only_and_a_writable_tmp() -> None:
    plan = mount_plan(FS, Path("/r"), Path("/w/tmp.ext4"), Path("/w/tmp"), None)
    binds = {op[2]: (op[1], op[3]) for op in plan if op[0] == "bind"}
    assert binds["/r/var/task"] == ("/b/task", True)
    assert binds["/r/var/runtime"] == ("/b/runtime", True)
    assert binds["/r/var/lang"] == ("/py/3.12", True)
    assert binds["/r/opt"] == ("/b/opt", True)
    assert ["loop", "/w/tmp.ext4", "/r/tmp"] in plan
    assert binds["/r/dev/null"] == ("/dev/null", False)
    assert plan[0][0] == "tmpfs" and plan[-1] == ["readonly", "/r"]  # nothing else is writable
    # nothing of the host outside its system folders: no /home, /root, /work, host /tmp
    host_sources = {source for source, _ in binds.values()}
    assert not any(s.startswith(("/home", "/root", "/tmp", "/work")) for s in host_sources)


def test_a_python_without_python_and_python3_gets_them_laid_over_it() -> None:
    plan = mount_plan(FS, Path("/r"), None, Path("/w/tmp"), Path("/links"))
    assert ["overlay", ["/links", "/py/3.12"], "/r/var/lang"] in plan
    assert ["bind", "/w/tmp", "/r/tmp", False] in plan  # no image: the private folder
