"""Lambda handler: SmolLM2-135M-Instruct (GGUF, Q4_1) on llama-cpp-python, streaming tokens.

INIT (module import) fetches the model from s3://MODEL_BUCKET/MODEL_KEY_PREFIX + MODEL_FILE
straight into memory (memfd_create + parallel ranged GETs, opened as /proc/self/fd/N; /tmp is
the fallback where memfd is unavailable), then loads it with llama.cpp. MODEL_PATH (a local
file) skips S3.

The handler answers chat-style or completion requests (smol/events.py). A direct Invoke gets
one JSON answer: text, finish_reason, usage, timings (prompt eval and generation tokens/s), how
the model was loaded (memfd or /tmp) and what /tmp holds. With "stream": true, or through the
function URL (RESPONSE_STREAM), the handler returns a generator and the tokens are streamed as
llama.cpp produces them (InvokeWithResponseStream: PayloadChunk events; function URL: chunked
text/plain). A plain Invoke of a streamed answer gets the text buffered, as on AWS.

Environment:
  MODEL_BUCKET, MODEL_KEY_PREFIX (default llm/), MODEL_FILE   where the GGUF is on S3
  MODEL_PATH          a local GGUF instead of S3
  MODEL_LOADER        auto (memfd, else /tmp) | memfd | tmp; MODEL_PART_MB, MODEL_DOWNLOAD_THREADS
  N_CTX               context length (default 2048)
  SANDBOX_VCPUS       CPU share of the environment: llama.cpp's threads (see thread_counts)
  LLAMA_THREADS, LLAMA_BATCH_THREADS   override the generation / prompt-batch threads
  SYSTEM_PROMPT       the system message of chats that bring none ("" for the template's own)
  MAX_TOKENS_LIMIT, DEFAULT_MAX_TOKENS, MAX_PROMPT_CHARS   request limits
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping
from typing import Any

from smol import events
from smol.generate import Generator, thread_counts
from smol.loader import Loaded, fetch_model, tmp_usage

DEFAULT_FILE = "smollm2-135m-instruct.Q4_1.gguf"
# SmolLM2-135M at Q4_1, greedy, with its template's own default system prompt ("You are a
# helpful AI assistant named SmolLM...") answers "What is the capital of France?" in French
# gibberish; with this one it answers "The capital of France is Paris." (model card: measured)
DEFAULT_SYSTEM_PROMPT = "Answer the question in English."


def load_model(env: Mapping[str, str]) -> tuple[Any, Loaded]:
    """Fetch the GGUF (S3 -> memfd, or /tmp, or MODEL_PATH) and open it with llama.cpp."""
    if env.get("MODEL_PATH"):
        path = env["MODEL_PATH"]
        loaded = Loaded("local", path, os.path.getsize(path), 0, 0.0)
    else:
        bucket = env.get("MODEL_BUCKET")
        if not bucket:
            raise RuntimeError("set MODEL_PATH (a local GGUF) or MODEL_BUCKET (S3)")
        key = env.get("MODEL_KEY_PREFIX", "llm/") + env.get("MODEL_FILE", DEFAULT_FILE)
        import boto3  # the Lambda runtime provides it

        loaded = fetch_model(boto3.client("s3"), bucket, key, env=env)
    from llama_cpp import Llama

    threads, batch_threads = thread_counts(env)
    llama = Llama(
        model_path=loaded.path,
        n_ctx=int(env.get("N_CTX", "2048")),
        n_threads=threads,
        n_threads_batch=batch_threads,
        verbose=False,
    )
    return llama, loaded


_t0 = time.perf_counter()
LLAMA, LOADED = load_model(os.environ)
GENERATOR = Generator(LLAMA)
LIMITS = events.Limits.from_env(os.environ)
SYSTEM_PROMPT = os.environ.get("SYSTEM_PROMPT", DEFAULT_SYSTEM_PROMPT)
MODEL_INFO = {
    **LOADED.to_json(),
    "file": os.path.basename(
        os.environ.get("MODEL_PATH") or os.environ.get("MODEL_FILE", "") or DEFAULT_FILE
    ),
    "threads": thread_counts(os.environ)[0],
    "batch_threads": thread_counts(os.environ)[1],
    "init_ms": round((time.perf_counter() - _t0) * 1000, 2),
}
print("llm: model loaded " + json.dumps({**MODEL_INFO, "tmp": tmp_usage()}))


def _stream(req: events.ChatRequest) -> Iterator[Any]:
    if req.http:  # the function URL's status and headers come first (the HTTP prelude)
        yield {"statusCode": 200, "headers": {"content-type": "text/plain; charset=utf-8"}}
    yield from GENERATOR.pieces(req)
    print("llm: streamed " + json.dumps(GENERATOR.last.to_json()))


def handler(event: Any, context: Any) -> Any:
    try:
        req = events.parse(event, LIMITS, SYSTEM_PROMPT)
    except ValueError as exc:
        if isinstance(event, dict) and events.is_http_event(event):
            return events.http_response(400, {"message": str(exc)})
        raise
    if req.stream:
        return _stream(req)
    answer = {**GENERATOR.answer(req), "model": MODEL_INFO, "tmp": tmp_usage()}
    return events.http_response(200, answer) if req.http else answer
