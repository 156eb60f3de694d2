"""What `policybot bench --embeddings` asks and searches: the sampled dev cases, the sub-corpus of a benchmark
and the rule for a chunk holding a gold answer (see ``bot.bench.embeddings``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

NEAR_MISSES = {"policyqa": 1, "ncp_policy_qa": 1}  # long documents: fewer; others 3
LONG_ANSWER = 80


def _sha(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def dev_cases(path: Path, max_cases: int) -> list[dict[str, Any]]:
    """Answerable dev cases with gold answers, the first ``max_cases`` by SHA-1 of the id."""
    cases = [c for c in read_jsonl(path) if c.get("split", "dev") == "dev" and c.get("answerable", True)
             and c.get("answers")]
    return sorted(cases, key=lambda c: _sha(c["id"]))[:max_cases]


def chunk_holds(text: str, answers: Sequence[Sequence[str]]) -> bool:
    """Does a chunk hold a gold answer (any alternative of any group; a long one by either half)?"""
    from bot.evaluate.answer_metrics import contains, normalize

    for group in answers:
        for alt in group:
            if contains(text, alt):
                return True
            norm = normalize(alt)
            if len(norm) >= LONG_ANSWER:
                half = len(norm) // 2
                cut = norm.rfind(" ", 0, half) if " " in norm else half
                cut = cut if cut > 0 else half
                if contains(text, norm[:cut]) or contains(text, norm[cut:]):
                    return True
    return False


def sub_corpus(name: str, folder: Path, cases: list[dict[str, Any]], extra: list[dict[str, Any]],
               max_chunks: int) -> tuple[str, ...]:
    """Gold documents, BM25 near misses and fixed filler up to ``max_chunks`` estimated chunks."""
    from bot.evaluate.gate import bm25_near_misses, estimated_chunks

    corpus = {p.stem: p.read_text(encoding="utf-8") for p in sorted((folder / "corpus").glob("*.txt"))}
    docs: dict[str, None] = dict.fromkeys(d for c in [*cases, *extra] for d in c.get("gold_docs", []) if d in corpus)
    for ranked in bm25_near_misses(corpus, [c["question"] for c in cases], NEAR_MISSES.get(name, 3)):
        docs.update(dict.fromkeys(ranked))
    size = sum(estimated_chunks(corpus[d]) for d in docs)
    for doc_id in sorted(corpus, key=_sha):
        if size >= max_chunks:
            break
        if doc_id not in docs:
            docs[doc_id] = None
            size += estimated_chunks(corpus[doc_id])
    return tuple(sorted(docs))
