import os
import subprocess

import shared_util
import which


def handler(event, context):
    greet = subprocess.run(["greet", "layers"], capture_output=True, text=True, check=True)
    return {
        "shout": shared_util.shout(event.get("text", "hi")),
        "module": shared_util.__file__,
        "which": which.LAYER,
        "greet": greet.stdout.strip(),
        "marker": open("/opt/lib/MARKER").read().strip(),
        "opt": sorted(os.listdir("/opt")),
        "ld_library_path": os.environ["LD_LIBRARY_PATH"],
    }
