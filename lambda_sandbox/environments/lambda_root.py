"""Lambda's filesystem for a process environment: what the launcher mounts, and where.

    /var/task      the bundle (read-only)         /opt          the layers, merged (read-only)
    /var/runtime   runtime client + boto3 (ro)    /var/lang     the Runtime's Python (ro)
    /tmp           the environment's own ext4 image of EphemeralStorage size (read-write)
    /usr /etc ...  the host's system files (read-only: the OS Lambda's images carry)
    /dev           null, zero, full, random, urandom, fd; /proc (own processes only)

Nothing else of the host is there: not its home folders, not its /tmp, not the sandbox's own
files, and nothing is writable but /tmp (Lambda's rule). The root is a tmpfs in the
environment's own mount namespace (environments/launcher.py builds it, chroots into it and
drops to the function's user); the mounts vanish with the namespace when the environment's
last process ends.

Without root there is no mount namespace: the function then sees the host's folders, and its
environment names them instead of Lambda's paths (`host_paths`); the backend says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lambda_sandbox.types import LAMBDA_PATHS, EnvironmentSpec, Filesystem

__all__ = [
    "HOST_SYSTEM",
    "NO_BOOTSTRAP",
    "PYTHON_NAMES",
    "host_paths",
    "lacks_python_names",
    "mount_plan",
    "runtime_command",
    "sh_is_not_bash",
]

# the host's system folders the root shows, read-only (merged-/usr hosts have links instead)
HOST_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
DEVICES = ("null", "zero", "full", "random", "urandom")
PYTHON_NAMES = ("python", "python3")


def runtime_command(spec: EnvironmentSpec, fs: Filesystem, lambda_paths: bool) -> list[str]:
    """The runtime's command line: Lambda's Python bootstrap, or the function's own
    `bootstrap` for a provided runtime; behind AWS_LAMBDA_EXEC_WRAPPER when it names one."""
    where = _where(fs, lambda_paths)
    if fs.python_version is None:  # the bundle's bootstrap, else a layer's (Lambda's order)
        in_opt = fs.opt is not None and (fs.opt / "bootstrap").is_file()
        from_task = (fs.task / "bootstrap").is_file() or not in_opt
        command = [f"{where['task'] if from_task else where['opt']}/bootstrap"]
    else:
        command = [f"{where['lang']}/bin/python{fs.python_version}", "-S",
                   f"{where['runtime']}/bootstrap.py", spec.handler]  # fmt: skip
    wrapper = spec.environment.get("AWS_LAMBDA_EXEC_WRAPPER")
    if wrapper:  # Lambda runs the wrapper with the runtime's command line as its arguments
        command.insert(0, host_paths({"w": wrapper}, fs)["w"] if not lambda_paths else wrapper)
    return command


NO_BOOTSTRAP = "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]"


def _where(fs: Filesystem, lambda_paths: bool) -> dict[str, str]:
    if lambda_paths:
        return dict(LAMBDA_PATHS)
    return {
        "task": str(fs.task),
        "opt": str(fs.opt) if fs.opt is not None else LAMBDA_PATHS["opt"],
        "runtime": str(fs.runtime) if fs.runtime is not None else LAMBDA_PATHS["runtime"],
        "lang": str(fs.lang) if fs.lang is not None else LAMBDA_PATHS["lang"],
    }


def host_paths(environment: dict[str, str], fs: Filesystem) -> dict[str, str]:
    """The environment with Lambda's paths (/var/task, /opt, ...) replaced by the host folders
    that stand for them, element by element in colon-separated lists: for a backend that cannot
    show the function Lambda's filesystem."""
    where = _where(fs, lambda_paths=False)
    prefixes = sorted(((LAMBDA_PATHS[k], v) for k, v in where.items()), key=lambda p: -len(p[0]))

    def one(element: str) -> str:
        for lambda_path, host in prefixes:
            if element == lambda_path or element.startswith(lambda_path + "/"):
                return host + element[len(lambda_path) :]
        return element

    return {k: ":".join(one(e) for e in v.split(":")) for k, v in environment.items()}


def mount_plan(
    fs: Filesystem,
    root: Path,
    tmp_image: Path | None,
    tmp_folder: Path,
    python_links: Path | None,
    sh_links: Path | None = None,
) -> list[list[Any]]:
    """The launcher's steps that build the root at `root` (in a mount namespace of its own).
    /tmp is the loop-mounted `tmp_image`, or `tmp_folder` bound when there is no image.
    `python_links` is a folder with bin/python and bin/python3 for a Python installation that
    lacks them: laid over /var/lang. `sh_links` holds `sh -> bash`, laid over /usr/bin when
    the host's /bin/sh is another shell (Amazon Linux's is bash: AWS's own custom-runtime
    tutorial starts `#!/bin/sh` then `set -euo pipefail`, which dash refuses)."""
    r = str(root)
    plan: list[list[Any]] = [["tmpfs", r, "mode=755,size=1m"]]
    for folder in HOST_SYSTEM:
        host = Path(folder)
        if host.is_symlink():
            plan.append(["symlink", str(host.readlink()), r + folder])
        elif host.is_dir():
            plan.append(["bind", folder, r + folder, True])
    if sh_links is not None:
        plan.append(["overlay", [str(sh_links), "/usr/bin"], r + "/usr/bin"])
    plan.append(["bind", str(fs.task), r + LAMBDA_PATHS["task"], True])
    if fs.runtime is not None:
        plan.append(["bind", str(fs.runtime), r + LAMBDA_PATHS["runtime"], True])
    if fs.lang is not None:
        lang = r + LAMBDA_PATHS["lang"]
        if python_links is not None:
            plan.append(["overlay", [str(python_links), str(fs.lang)], lang])
        else:
            plan.append(["bind", str(fs.lang), lang, True])
    if fs.opt is not None:
        plan.append(["bind", str(fs.opt), r + LAMBDA_PATHS["opt"], True])
    else:
        plan.append(["mkdir", r + LAMBDA_PATHS["opt"]])
    if tmp_image is not None:
        plan.append(["loop", str(tmp_image), r + "/tmp"])
    else:
        plan.append(["bind", str(tmp_folder), r + "/tmp", False])
    # /proc shows the environment's own processes only (each environment has a uid of its
    # own: environments/identity.py), so no other's environ, root or pid can be reached
    plan += [["proc", r + "/proc", "hidepid=2"], ["tmpfs", r + "/dev", "mode=755,size=64k"]]
    plan += [["bind", f"/dev/{device}", f"{r}/dev/{device}", False] for device in DEVICES]
    plan.append(["symlink", "/proc/self/fd", r + "/dev/fd"])
    plan += [["symlink", f"/proc/self/fd/{i}", f"{r}/dev/{name}"]
             for i, name in enumerate(("stdin", "stdout", "stderr"))]  # fmt: skip
    plan.append(["readonly", r])  # the root itself: nothing new can be made in it
    return plan


def sh_is_not_bash() -> bool:
    """Is the host's /bin/sh another shell than bash (dash, on Debian), with bash there?"""
    sh = Path("/bin/sh").resolve()
    return sh.name != "bash" and Path("/usr/bin/bash").is_file()


def lacks_python_names(prefix: Path) -> bool:
    """Does a Python installation lack `python` or `python3` in its bin/ (Lambda has both)?"""
    return not all((prefix / "bin" / name).exists() for name in PYTHON_NAMES)
