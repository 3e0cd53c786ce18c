import os
import resource
import sys
import traceback


def handler(event, context):
    if event.get("fail"):
        raise RuntimeError("failing on purpose")
    import boto3

    try:
        with open("/var/task/written", "w"):
            task_writable = True
    except OSError:
        task_writable = False
    with open("/tmp/written", "w") as f:
        f.write("ok")
    return {
        "cwd": os.getcwd(),
        "version": list(sys.version_info[:2]),
        "executable": sys.executable,
        "boto3": boto3.__file__,
        "runtime_dir": os.environ["LAMBDA_RUNTIME_DIR"],
        "runtime_dir_holds": sorted(os.listdir(os.environ["LAMBDA_RUNTIME_DIR"])),
        "task_root": os.environ["LAMBDA_TASK_ROOT"],
        "path": os.environ["PATH"],
        "ld_library_path": os.environ["LD_LIBRARY_PATH"],
        "sys_path": sys.path,
        "python_on_path": [
            name
            for name in ("python", "python3")
            if any(os.path.exists(os.path.join(d, name)) for d in os.environ["PATH"].split(":"))
        ],
        "root": sorted(os.listdir("/")),
        "uid": os.getuid(),
        "task_writable": task_writable,
        "environment": dict(os.environ),
        "stack": traceback.format_stack()[-1],
        "ulimits": {
            name: list(resource.getrlimit(getattr(resource, f"RLIMIT_{name}")))
            for name in ("CORE", "MEMLOCK", "NOFILE")
        },
    }
