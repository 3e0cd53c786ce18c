import json
import os
import sys

import six  # installed by the Dockerfile's RUN pip install


def lambda_handler(event, context):
    return {
        "statusCode": 200,
        "body": json.dumps(
            {
                "message": os.environ.get("GREETING"),
                "six": six.__version__,
                "python": list(sys.version_info[:2]),
                "cwd": os.getcwd(),
            }
        ),
    }
