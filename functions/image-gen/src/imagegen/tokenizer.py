"""A word-level hashing tokenizer shaped like CLIP's: lower-case words and punctuation, each
mapped to a stable id, between a begin and an end token, padded with the end token to a fixed
length (77 for Stable Diffusion).

CLIP's real tokenizer is a byte-level BPE with a 49,408-entry vocabulary learned from data; the
tiny random-weight text encoder here has nothing learned to match, so a hash of each word into
its small vocabulary gives the same shapes and the same cost (one id per word) without shipping
a vocabulary. The build (build_model.py) uses this module too, so both sides agree by
construction.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

_WORDS = re.compile(r"[a-z0-9]+|[^\sa-z0-9]", re.IGNORECASE)


@dataclass(frozen=True)
class HashTokenizer:
    vocab_size: int
    max_length: int = 77
    bos_id: int = 0
    pad_id: int = 1
    eos_id: int = 2
    first_word_id: int = 3

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> HashTokenizer:
        return cls(**{key: int(config[key]) for key in cls.__dataclass_fields__ if key in config})

    def as_config(self) -> dict[str, int]:
        return {key: getattr(self, key) for key in self.__dataclass_fields__}

    def words(self, text: str) -> list[str]:
        return _WORDS.findall(" ".join(text.lower().split()))

    def word_id(self, word: str) -> int:
        span = self.vocab_size - self.first_word_id
        return self.first_word_id + zlib.crc32(word.encode("utf-8")) % span

    def encode(self, text: str) -> np.ndarray:
        """Token ids, int64 of shape (1, max_length); words past the window are dropped, as
        CLIP truncates."""
        ids = [self.word_id(w) for w in self.words(text)][: self.max_length - 2]
        ids = [self.bos_id, *ids, self.eos_id]
        ids += [self.eos_id] * (self.max_length - len(ids))  # CLIP pads with the end token
        return np.asarray([ids], dtype=np.int64)
