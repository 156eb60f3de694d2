"""Fakes for fast tests: a scripted chat model (replayable drafts) and hashing embeddings."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings


class ScriptedModel:
    """A ChatModel that 'writes' the next scripted draft, in small pieces, and records the prompts it got."""

    model_id = "scripted"
    model_hash = "scripted"

    def __init__(self, *drafts: str) -> None:
        self.drafts = list(drafts)
        self.prompts: list[list[dict[str, str]]] = []
        self.last_usage: dict[str, Any] = {}

    def warm_up(self) -> None:
        return None

    def health(self) -> dict[str, Any]:
        return {"ok": True, "backend": "scripted", "model_id": self.model_id}

    def count_tokens(self, messages: list[dict[str, str]]) -> int:
        return sum(len(m["content"].split()) for m in messages)

    def stream_chat(self, messages: list[dict[str, str]], *, max_tokens: int, temperature: float = 0.0,
                    stop: list[str] | None = None) -> Iterator[str]:
        self.prompts.append(messages)
        draft = self.drafts.pop(0) if self.drafts else ""
        pieces = re.findall(r"\S+\s*", draft)
        self.last_usage = {"completion_tokens": len(pieces)}
        yield from pieces


class HashEmbeddings(Embeddings):
    """Deterministic bag-of-words vectors: similar words -> similar vectors. For fast tests only."""

    model_id = "hash-embeddings"
    dim = 384

    def _vec(self, text: str) -> list[float]:
        v = np.zeros(self.dim, dtype=np.float32)
        for word in re.findall(r"\w+", text.lower()):
            v[int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        norm = float(np.linalg.norm(v)) or 1.0
        return (v / norm).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vec(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vec(text)
