"""Reads s3://bucket/key with boto3 (from the runtime, as on Lambda) at the AWS side the sandbox
gives it (AWS_ENDPOINT_URL), and answers its content."""

import os

import boto3

s3 = boto3.client("s3")


def handler(event, context):
    obj = s3.get_object(Bucket=event["bucket"], Key=event["key"])
    return {
        "content": obj["Body"].read().decode(),
        "endpoint": os.environ.get("AWS_ENDPOINT_URL"),
        "uid": os.getuid(),
    }
