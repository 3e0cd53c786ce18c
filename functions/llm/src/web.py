"""The same LLM as a web app, the shape of seed 004's chatbot: FastAPI behind the AWS Lambda
Web Adapter (run.sh is the handler), the GGUF fetched from S3 at INIT (importing app.py), the
tokens streamed as llama.cpp makes them (AWS_LWA_INVOKE_MODE=response_stream, a function URL
in RESPONSE_STREAM mode). With SnapStart on, the web app's process is the snapshot: INIT (the
S3 fetch and the model load) runs once, at publish.

    POST /chat   the payload app.handler takes ({"messages": [...]} or {"prompt": ...},
                 "max_tokens", ...): the tokens as text/plain, streamed; "stream": false for
                 the JSON answer
    GET /healthz the Web Adapter's readiness check
"""

from __future__ import annotations

import json
from typing import Any

import app as model  # INIT: the model from S3 into memory, opened by llama.cpp
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from smol import events

web = FastAPI()


@web.get("/healthz")
def healthz() -> dict[str, Any]:
    return {"ok": True, "model": model.MODEL_INFO["file"]}


@web.post("/chat")
async def chat(request: Request) -> Any:
    try:
        payload = await request.json()
        req = events.parse({"stream": True, **payload}, model.LIMITS, model.SYSTEM_PROMPT)
    except ValueError as exc:
        return JSONResponse({"message": str(exc)}, status_code=400)
    if not req.stream:
        return {**model.GENERATOR.answer(req), "model": model.MODEL_INFO}

    def pieces() -> Any:
        yield from model.GENERATOR.pieces(req)
        print("llm: streamed " + json.dumps(model.GENERATOR.last.to_json()))

    return StreamingResponse(pieces(), media_type="text/plain; charset=utf-8")
