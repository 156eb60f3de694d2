"""Keyword index beside Chroma: BM25 (``bm25s``) over jieba tokens for Chinese and word tokens for English.

It is rebuilt from the chunk table on every ingest that changes something (bm25s indexes are immutable and
rebuild in seconds), and persisted with the index generation.
"""

from __future__ import annotations

import json
from pathlib import Path

import bm25s
import numpy as np

from bot.lang.words import tokenize

_EMPTY = "\u0000"  # stands in for a chunk with no tokens, so ids stay aligned


class KeywordIndex:
    def __init__(self, ids: list[str], model: bm25s.BM25 | None) -> None:
        self.ids = ids
        self.model = model
        self._pos = {cid: i for i, cid in enumerate(ids)}

    @classmethod
    def build(cls, ids: list[str], token_lists: list[list[str]]) -> KeywordIndex:
        if not ids:
            return cls([], None)
        model = bm25s.BM25(k1=1.2, b=0.75)
        model.index([tokens or [_EMPTY] for tokens in token_lists], show_progress=False)
        return cls(list(ids), model)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "ids.json").write_text(json.dumps(self.ids), encoding="utf-8")
        if self.model is not None:
            self.model.save(str(folder / "bm25"))

    @classmethod
    def load(cls, folder: Path) -> KeywordIndex:
        ids = json.loads((folder / "ids.json").read_text(encoding="utf-8"))
        model = bm25s.BM25.load(str(folder / "bm25")) if ids else None
        return cls(ids, model)

    def __len__(self) -> int:
        return len(self.ids)

    def knows(self, word: str) -> bool:
        """Does some chunk hold every token of ``word``?"""
        tokens = tokenize(word)
        return self.model is not None and bool(tokens) and all(t in self.model.vocab_dict for t in tokens)

    def search(self, query: str, k: int, allowed: set[str] | None = None) -> list[tuple[str, float]]:
        """Ids and BM25 scores of the k best chunks (score > 0), best first; ``allowed`` restricts the ids."""
        tokens = tokenize(query)
        if self.model is None or not tokens or k <= 0:
            return []
        vocab = self.model.vocab_dict
        known = [t for t in tokens if t in vocab]
        if not known:
            return []
        scores = np.asarray(self.model.get_scores(known), dtype=np.float32)
        if allowed is not None:
            mask = np.zeros(len(self.ids), dtype=bool)
            for cid in allowed:
                pos = self._pos.get(cid)
                if pos is not None:
                    mask[pos] = True
            scores = np.where(mask, scores, 0.0)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]
