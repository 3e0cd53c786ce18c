import os
import sys


def handler(event, context):
    return {
        "wrapped_by": os.environ.get("WRAPPED_BY"),
        "argc": os.environ.get("WRAPPED_ARGC"),
        "argv0": sys.argv[0],
    }
