"""Generation with llama-cpp-python: one JSON answer, or the tokens as they come.

Each request starts from an empty context (no prefix reuse between requests), so answers do not
depend on what was asked before and the prompt-eval rate is measured over the whole prompt.
Rates come from llama.cpp's own counters (llama_perf_context), as llama.cpp prints them and as
the AWS post's Table 1 reports them: prompt evaluation (tokens in batches) and generation
(single-token decodes), each in tokens per second. Token counts come from the sampler: a
logits processor sees the prompt once and is called once per generated token.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from smol.events import ChatRequest

__all__ = ["Generator", "Timings", "thread_counts"]


@dataclass
class Timings:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_eval_tokens: int = 0  # llama.cpp's counters: tokens decoded in batches ...
    prompt_eval_ms: float = 0.0
    eval_tokens: int = 0  # ... and single-token decodes (generation)
    eval_ms: float = 0.0
    first_token_ms: float | None = None  # from the request's start to the first piece of text
    total_ms: float = 0.0

    def to_json(self) -> dict[str, Any]:
        def rate(tokens: int, ms: float) -> float | None:
            return round(tokens * 1000 / ms, 2) if ms > 0 and tokens else None

        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "prompt_eval_tokens": self.prompt_eval_tokens,
            "prompt_eval_ms": round(self.prompt_eval_ms, 2),
            "eval_tokens": self.eval_tokens,
            "eval_ms": round(self.eval_ms, 2),
            "prompt_tokens_per_s": rate(self.prompt_eval_tokens, self.prompt_eval_ms),
            "tokens_per_s": rate(self.eval_tokens, self.eval_ms),
            "first_token_ms": None
            if self.first_token_ms is None
            else round(self.first_token_ms, 2),
            "total_ms": round(self.total_ms, 2),
        }


class Generator:
    """Wraps a llama_cpp.Llama; `pieces` yields text, `answer` returns the whole result."""

    def __init__(self, llama: Any) -> None:
        self.llama = llama
        self.last = Timings()

    def _perf(self) -> Any:
        import llama_cpp

        return llama_cpp.llama_perf_context(self.llama._ctx.ctx)

    def _reset(self) -> None:
        import llama_cpp

        self.llama.reset()  # no prefix reuse: the next eval starts at position 0
        llama_cpp.llama_perf_context_reset(self.llama._ctx.ctx)

    def _chunks(self, req: ChatRequest, counts: list[int]) -> Iterator[dict[str, Any]]:
        def count(input_ids: Any, scores: Any) -> Any:
            if not counts:
                counts.append(len(input_ids))  # the prompt, as the model sees it
            counts.append(1)
            return scores

        from llama_cpp import LogitsProcessorList

        common: dict[str, Any] = {
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
            "stream": True,
            "stop": req.stop or None,
            "logits_processor": LogitsProcessorList([count]),
        }
        if req.messages is not None:
            yield from self.llama.create_chat_completion(messages=req.messages, **common)
        else:
            yield from self.llama.create_completion(req.prompt, **common)

    def pieces(self, req: ChatRequest) -> Iterator[str]:
        """The answer's text, piece by piece (about a token each), as llama.cpp produces it.
        `finish_reason` and `last` (the timings) are set when the iterator ends."""
        self._reset()
        self.finish_reason: str | None = None
        timings = Timings()
        t0 = time.perf_counter()
        counts: list[int] = []
        for chunk in self._chunks(req, counts):
            choice = chunk["choices"][0]
            text = choice.get("text") if "text" in choice else choice["delta"].get("content")
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
            if text:
                if timings.first_token_ms is None:
                    timings.first_token_ms = (time.perf_counter() - t0) * 1000
                yield text
        timings.total_ms = (time.perf_counter() - t0) * 1000
        perf = self._perf()
        timings.prompt_eval_tokens = int(perf.n_p_eval)
        timings.prompt_eval_ms = float(perf.t_p_eval_ms)
        timings.eval_tokens, timings.eval_ms = int(perf.n_eval), float(perf.t_eval_ms)
        if counts:
            steps = len(counts) - 1
            # a "stop" that came from the end-of-text token: that step produced no text
            timings.completion_tokens = steps - 1 if self.finish_reason == "stop" else steps
            timings.prompt_tokens = counts[0]
        self.last = timings

    def answer(self, req: ChatRequest) -> dict[str, Any]:
        text = "".join(self.pieces(req))
        return {
            "text": text,
            "finish_reason": self.finish_reason,
            "usage": {
                "prompt_tokens": self.last.prompt_tokens,
                "completion_tokens": self.last.completion_tokens,
            },
            "timings": self.last.to_json(),
        }


def thread_counts(env: Mapping[str, str]) -> tuple[int, int]:
    """llama.cpp threads (generation, prompt batches) for the environment's CPU share.

    SANDBOX_VCPUS is the share (MemorySize / 1,769 MB on Lambda; default 1). Generation decodes
    one token at a time and its threads meet at a barrier per layer: a thread the CPU quota has
    paused stalls the others. So generation gets the share rounded to the nearest whole CPU
    (measured here with ceil instead: 2 threads at 2,048 MB, a 1.16 share, generated 19% slower
    than 1 thread at 1,769 MB; at 3,072 MB, a 1.74 share, 2 threads were 26% faster than one).
    Prompt batches are big enough to gain from ceil(share). LLAMA_THREADS / LLAMA_BATCH_THREADS
    override; both are capped at the CPUs this process may use.
    """
    available = len(os.sched_getaffinity(0))
    raw = env.get("SANDBOX_VCPUS", "").strip()
    try:
        vcpus = float(raw) if raw else 1.0
    except ValueError as exc:
        raise ValueError(f"SANDBOX_VCPUS must be a number, got {raw!r}") from exc
    generate = int(env.get("LLAMA_THREADS") or max(1, math.floor(vcpus + 0.5)))
    batch = int(env.get("LLAMA_BATCH_THREADS") or max(1, math.ceil(vcpus - 1e-6)))
    return min(generate, available), min(batch, available)
