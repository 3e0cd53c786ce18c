"""Lambda handler: MobileNetV2 ImageNet classifier on ONNX Runtime (static INT8 QDQ by default).

INIT (module import) loads the model: from ``MODEL_PATH`` when set, else from
``s3://MODEL_BUCKET/MODEL_KEY_PREFIX`` into /tmp/model/. Events: see imgcls/events.py.
Environment:
  MODEL_PATH        local directory with MODEL_FILE and labels.json (skips S3)
  MODEL_BUCKET      S3 bucket with the artifacts; MODEL_KEY_PREFIX (default image-classifier/)
  MODEL_CACHE_DIR   download directory for S3 artifacts (default /tmp/model); files there are reused
  MODEL_FILE        default model.int8.onnx (model.fp32.onnx for the float model)
  SANDBOX_VCPUS     vCPUs of the environment; ONNX Runtime threads = ceil(value), default 1
  MAX_IMAGE_PIXELS  largest accepted image in pixels (default 25,000,000)
  MAX_IMAGE_BYTES   largest accepted encoded image in bytes (default 20 MiB)
"""

from __future__ import annotations

import os
import time
from typing import Any

from imgcls import events
from imgcls.model_store import Classifier, resolve_model_dir, thread_count
from imgcls.preprocess import DEFAULT_MAX_PIXELS, preprocess_bytes

MAX_IMAGE_PIXELS = int(os.environ.get("MAX_IMAGE_PIXELS", DEFAULT_MAX_PIXELS))
MAX_IMAGE_BYTES = int(os.environ.get("MAX_IMAGE_BYTES", events.DEFAULT_MAX_IMAGE_BYTES))

_init_started = time.perf_counter()
_model_dir, _model_file = resolve_model_dir(os.environ)
CLASSIFIER = Classifier.from_dir(_model_dir, _model_file, threads=thread_count(os.environ))
INIT_SECONDS = time.perf_counter() - _init_started

_s3_client: Any = None


def _s3() -> Any:
    global _s3_client
    if _s3_client is None:
        import boto3  # provided by the Lambda runtime

        _s3_client = boto3.client("s3")
    return _s3_client


def fetch_s3_image(bucket: str, key: str, max_bytes: int) -> bytes:
    """Read s3://bucket/key; a missing object or bucket is the caller's error (ValueError)."""
    from botocore.exceptions import ClientError

    try:
        obj = _s3().get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "NoSuchBucket", "404", "NotFound"):
            raise ValueError(f"s3://{bucket}/{key} not found ({code})") from exc
        raise
    length = obj.get("ContentLength")
    if isinstance(length, int) and length > max_bytes:
        obj["Body"].close()
        raise ValueError(
            f"s3://{bucket}/{key} is {length} bytes, over the limit of {max_bytes} bytes"
        )
    return obj["Body"].read()


def predict(batch: Any, top_k: int) -> dict[str, Any]:
    predictions = CLASSIFIER.top_k(batch, top_k)[0]
    return events.result_body([p.as_dict() for p in predictions], top_k, CLASSIFIER.model_name)


def handler(event: Any, context: Any) -> dict[str, Any]:
    if isinstance(event, dict) and events.is_http_event(event):
        try:
            request = events.parse_http_event(event, fetch_s3_image, MAX_IMAGE_BYTES)
            batch = preprocess_bytes(request.image, MAX_IMAGE_PIXELS)
        except ValueError as exc:
            return events.http_response(400, {"message": str(exc)})
        return events.http_response(200, predict(batch, request.top_k))
    request = events.parse_payload(event, fetch_s3_image, MAX_IMAGE_BYTES)
    return predict(preprocess_bytes(request.image, MAX_IMAGE_PIXELS), request.top_k)
