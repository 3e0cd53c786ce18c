"""Lambda handler: 4-class emotion classifier (happy, angry, sad, other), MiniLM-L6 INT8 ONNX.

INIT (module import) loads the model: from ``MODEL_PATH`` when set, else downloads
model.int8.onnx, tokenizer.json and labels.json from ``s3://MODEL_BUCKET/MODEL_KEY_PREFIX``
into /tmp/model/ (reused when already there). Only onnxruntime, tokenizers and numpy run here.
Environment:
  MODEL_PATH        local directory with the artifacts (skips S3)
  MODEL_BUCKET      S3 bucket with the artifacts; MODEL_KEY_PREFIX (default sentiment/)
  MODEL_CACHE_DIR   download directory for the S3 artifacts (default /tmp/model)
  SANDBOX_VCPUS     CPU share of the environment; onnxruntime threads = min(CPUs, ceil(value)),
                    default 1
  MAX_TEXT_CHARS    longest accepted text in characters (default 5000); texts are truncated
                    to 128 tokens for the model
  MAX_BATCH         most texts in one {"texts": [...]} request (default 32)
Events and responses: see emotion/events.py.
"""

from __future__ import annotations

import os
import time
from typing import Any

from emotion import events
from emotion.classifier import EmotionClassifier
from emotion.store import resolve_model_dir, thread_count

MAX_TEXT_CHARS = int(os.environ.get("MAX_TEXT_CHARS", events.DEFAULT_MAX_TEXT_CHARS))
MAX_BATCH = int(os.environ.get("MAX_BATCH", events.DEFAULT_MAX_BATCH))

_init_started = time.perf_counter()
MODEL_DIR = resolve_model_dir(os.environ)
THREADS = thread_count(os.environ)
CLASSIFIER = EmotionClassifier.from_dir(MODEL_DIR, threads=THREADS)
INIT_SECONDS = time.perf_counter() - _init_started
print(f"sentiment: model from {MODEL_DIR}, {THREADS} thread(s), loaded in {INIT_SECONDS:.3f} s")


def classify(payload: Any) -> dict[str, Any]:
    request = events.parse_payload(payload, MAX_TEXT_CHARS, MAX_BATCH)
    return events.result(request, CLASSIFIER.classify(request.texts))


def handler(event: Any, context: Any) -> dict[str, Any]:
    if isinstance(event, dict) and events.is_http_event(event):
        try:
            body = classify(events.http_body(event))
        except ValueError as exc:
            return events.http_response(400, {"message": str(exc)})
        return events.http_response(200, body)
    return classify(event)
