"""Lambda handler: tiny text-to-image latent diffusion (random weights) on ONNX Runtime + numpy.

INIT (module import) loads the pipeline once per environment into the global PIPELINE: from
``MODEL_PATH`` when set, else from ``s3://MODEL_BUCKET/MODEL_KEY_PREFIX`` into /tmp/model.
Events and clamping: see imagegen/events.py. Environment:
  MODEL_PATH / MODEL_BUCKET / MODEL_KEY_PREFIX / MODEL_CACHE_DIR   where the model comes from
  PIPELINE_STEPS    denoising steps when the request gives none (default 10)
  MAX_STEPS         largest steps a request may ask for (default 50)
  MAX_IMAGE_SIZE    largest width / height in pixels (default 512; multiples of 8)
  STORE             true: write the PNG to S3 and answer with its URLs (a request's "store"
                    overrides it)
  OUTPUT_BUCKET     bucket for stored PNGs; OUTPUT_PREFIX (default generated/) key prefix;
                    PRESIGN_EXPIRES_SECONDS (default 3600) lifetime of the presigned URL
  SANDBOX_VCPUS     vCPUs of the environment; ONNX Runtime threads = ceil(value), default 1
"""

from __future__ import annotations

import base64
import os
import time
import uuid
from typing import Any

from imagegen import events
from imagegen.pipeline import Pipeline, thread_count, to_png
from imagegen.store import OutputStore, resolve_model_dir

LIMITS = events.Limits.from_env(os.environ)

_init_started = time.perf_counter()
PIPELINE = Pipeline(resolve_model_dir(os.environ), threads=thread_count(os.environ))
INIT_SECONDS = time.perf_counter() - _init_started

OUTPUT = OutputStore(os.environ)


def generate(request: events.GenerateRequest, context: Any) -> tuple[bytes, dict[str, Any]]:
    """Run the pipeline; return the PNG and the answer's fields (URLs when stored)."""
    started = time.perf_counter()
    result = PIPELINE.generate(
        request.prompt, request.width, request.height, request.steps,
        request.guidance_scale, request.seed,
    )  # fmt: skip
    t_png = time.perf_counter()
    png = to_png(result.pixels)
    timings = {**result.timings_ms, "png": round((time.perf_counter() - t_png) * 1000, 2)}
    answer: dict[str, Any] = {**request.describe(), "content_type": "image/png",
                              "bytes": len(png)}  # fmt: skip
    if request.store:
        name = getattr(context, "aws_request_id", None) or uuid.uuid4().hex
        metadata = {"seed": str(request.seed), "steps": str(request.steps),
                    "size": f"{request.width}x{request.height}"}  # fmt: skip
        stored = OUTPUT.put_png(png, name, metadata)
        answer.update(image_url=stored.url, presigned_url=stored.presigned_url,
                      bucket=stored.bucket, key=stored.key)  # fmt: skip
        timings["s3_put"] = round((time.perf_counter() - t_png) * 1000 - timings["png"], 2)
    timings["total"] = round((time.perf_counter() - started) * 1000, 2)
    answer["timings_ms"] = timings
    return png, answer


def handler(event: Any, context: Any) -> dict[str, Any]:
    if isinstance(event, dict) and events.is_http_event(event):
        try:
            request = events.parse_http_event(event, LIMITS)
        except ValueError as exc:
            return events.json_response(400, {"message": str(exc)})
        png, answer = generate(request, context)
        if request.store:
            return events.json_response(200, answer)
        return events.png_response(png, request)
    request = events.parse_payload(event, LIMITS)
    png, answer = generate(request, context)
    if not request.store:
        answer["image_base64"] = base64.b64encode(png).decode("ascii")
    return answer
