"""The first process of a process-backend environment (standard library only: it is run as a
script, `python -S -I launcher.py '<plan as JSON>'`, before anything of the function exists).

In order, as the plan says: join the environment's cgroups, set its open-files limit, enter a
mount namespace of its own and build Lambda's filesystem there (bind mounts, tmpfs, the loop
-mounted /tmp, /proc, a minimal /dev), chroot into it, drop to the function's user, change to
/var/task and exec the runtime, with the environment the sandbox passed. One process and direct
system calls instead of a chain of unshare, sh, mount, chroot and setpriv: a cold start pays
for one interpreter start-up, not for thirty-odd fork/execs (and the launcher imports only
what that start-up needs: urllib.request alone would add 60 ms; and nothing can be imported
after the chroot, where the sandbox's standard library is not).

When the runtime cannot be started (a `bootstrap` or exec wrapper that is missing or not
executable), the launcher reports it to the Runtime API as Lambda does, as an init error of
type Runtime.InvalidEntrypoint, and exits.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import socket
import sys
from typing import Any

__all__ = ["main"]

ENTRYPOINT_ERROR = "Runtime.InvalidEntrypoint"
CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18

MNT_DETACH = 2
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(os.uname().machine, 155)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    enc = [s.encode() if s is not None else None for s in (source, target, fstype)]
    result = _libc.mount(enc[0], enc[1], enc[2], flags, data.encode() or None)
    _check(result, f"mount {source or ''} {target}")


def _enter_root(root: str) -> None:
    """Make `root` the mount namespace's own root (pivot_root, then the old root detached),
    not a chroot: a chrooted process may not create a user namespace, which a restored
    SnapStart environment needs for a /tmp of its own (snapshot_template.py). chroot only
    where the root is not a mount point of its own."""
    os.chdir(root)
    if _libc.syscall(_SYS_PIVOT_ROOT, b".", b".") == 0:  # the old root is stacked on "."
        _check(_libc.umount2(b".", MNT_DETACH), "umount2")
        os.chdir("/")
        return
    os.chroot(root)


def _mkdir(path: str) -> None:
    os.makedirs(path, mode=0o755, exist_ok=True)


def _apply(op: list[Any]) -> None:
    kind = op[0]
    if kind == "mkdir":
        _mkdir(op[1])
    elif kind == "symlink":
        os.symlink(op[1], op[2])
    elif kind == "tmpfs":  # target, options
        _mkdir(op[1])
        _mount("tmpfs", op[1], "tmpfs", MS_NOSUID | MS_NODEV, op[2])
    elif kind == "bind":  # source, target, read_only
        source, target, read_only = op[1], op[2], op[3]
        if os.path.isdir(source):
            _mkdir(target)
        else:
            _mkdir(os.path.dirname(target))
            open(target, "a").close()
        _mount(source, target, None, MS_BIND | MS_REC)
        if read_only:
            flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV
            _mount(None, target, None, flags)
    elif kind == "overlay":  # lower folders (first on top), target: a read-only union
        _mkdir(op[2])
        _mount("overlay", op[2], "overlay", MS_RDONLY | MS_NODEV, "lowerdir=" + ":".join(op[1]))
    elif kind == "loop":  # image, target: mount(8) sets up the loop device
        _mkdir(op[2])
        args = ["mount", "-o", "loop,nosuid,nodev", op[1], op[2]]
        _, status = os.waitpid(os.posix_spawnp("mount", args, os.environ), 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise OSError(f"{' '.join(args)} failed")
        os.unlink(op[1])  # the mount holds it; nothing else can reach it now
    elif kind == "proc":  # target[, options: hidepid=2 shows only the user's own processes]
        _mkdir(op[1])
        _mount("proc", op[1], "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, op[2] if op[2:] else "")
    elif kind == "readonly":  # remount a folder's own mount read-only
        _mount(None, op[1], None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID)
    else:
        raise ValueError(f"unknown step {kind!r}")


def _report_entrypoint_error(path: str, exc: OSError, missing_message: str | None) -> None:
    """Lambda's answer for a runtime that cannot be started. (Inside the root, the sandbox's
    own standard library is gone: only what was imported before the chroot can be used, so
    the HTTP request is written by hand on a socket.)"""
    missing = isinstance(exc, FileNotFoundError)
    reason = "no such file or directory" if missing else "permission denied"
    message = f"fork/exec {path}: {reason}"
    if missing and missing_message:
        message = missing_message
    print(f"Error: {message}", file=sys.stderr, flush=True)
    api = os.environ.get("AWS_LAMBDA_RUNTIME_API")
    if not api:
        return
    host, _, port = api.rpartition(":")
    body = json.dumps({"errorType": ENTRYPOINT_ERROR, "errorMessage": message}).encode()
    head = (
        f"POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {api}\r\n"
        f"Lambda-Runtime-Function-Error-Type: {ENTRYPOINT_ERROR}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    # socket.create_connection would look the host up with the idna codec: not importable
    with contextlib.suppress(Exception), socket.socket(socket.AF_INET) as conn:
        conn.settimeout(5)
        conn.connect((host, int(port)))
        conn.sendall(head.encode() + body)
        conn.recv(1024)


def main(argv: list[str]) -> int:
    plan = json.loads(argv[1])
    for procs in plan.get("cgroup_procs", []):
        with open(procs, "w") as f:
            f.write(str(os.getpid()))
    nofile = plan.get("nofile")
    if nofile:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    for name, (soft, hard) in (plan.get("rlimits") or {}).items():
        with contextlib.suppress(ValueError, OSError, AttributeError):
            resource.setrlimit(getattr(resource, f"RLIMIT_{name}"), (soft, hard))
    if plan.get("mounts"):
        _check(_libc.unshare(CLONE_NEWNS), "unshare")
        _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing of this leaks to the host
        for op in plan["mounts"]:
            _apply(op)
    if plan.get("root"):
        _enter_root(plan["root"])
    os.chdir(plan["cwd"])
    user = plan.get("user")
    if user:
        os.setgroups([])
        os.setgid(user[1])
        os.setuid(user[0])
    command = plan["argv"]
    environment = dict(os.environ)
    environment["PWD"] = plan["cwd"]  # as a shell would set it (Lambda's environment has it)
    try:
        os.execvpe(command[0], command, environment)
    except OSError as exc:
        _report_entrypoint_error(command[0], exc, plan.get("missing_entrypoint"))
        return 127
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv))
