import json
import os

import requests  # the SAM CLI's hello-world ships it in requirements.txt


def lambda_handler(event, context):
    return {
        "statusCode": 200,
        "body": json.dumps(
            {
                "message": "hello world",
                "requests": requests.__version__,
                "table": os.environ["TABLE"],
                "region": os.environ["REGION"],
            }
        ),
    }
