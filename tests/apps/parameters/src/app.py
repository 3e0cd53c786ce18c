import os


def handler(event, context):
    keys = (
        "STAGE",
        "MODEL",
        "OWNER",
        "LOG_LEVEL",
        "PROD",
        "ARN_PREFIX",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    )
    return {key: os.environ[key] for key in keys}
