"""Hybrid retrieval latency at 10k / 100k / 1M chunks, through the Retriever's own code path.

Sizes this large cannot be embedded for real on 2 cores, so the chunks are synthetic:

- vectors: 384-d unit vectors with a low intrinsic dimension (a 32-d Gaussian mapped linearly, plus noise),
  like sentence embeddings; i.i.d. random vectors would be HNSW's worst case, not a realistic one;
- keyword tokens: drawn by a Zipf law from a vocabulary holding the seed report's words (so the seed questions
  hit real posting lists) and synthetic policy terms.

The query path is the product's: ``bot.retrieve.hybrid.Retriever.run`` (real query embedding, glossary expansion,
``bot.ingest.keyword.KeywordIndex`` over bm25s, reciprocal rank fusion). The vector side is Chroma (PersistentClient,
``VectorStore``) at 10k; at 100k and 1M it is the HNSW library Chroma's core wraps (hnswlib, Chroma's default
M=16, ef_construction=100, ef_search=100), because Chroma's ingestion of synthetic vectors runs at a few hundred
to a few thousand per second here (1M would take hours); Chroma's extra per-query cost is measured at 10k.
"""

from __future__ import annotations

import gc
import shutil
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import psutil

from bot.bench.parts import pct, say
from bot.ingest.chunking import Chunk
from bot.ingest.keyword import KeywordIndex
from bot.lang.words import tokenize
from bot.settings import Settings

DIM = 384


class LazyChunks(Mapping[str, Chunk]):
    """``index.chunks`` for ids ``c0..c{n-1}`` without holding n Chunk objects in memory."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __getitem__(self, cid: str) -> Chunk:
        i = int(cid[1:]) if cid.startswith("c") and cid[1:].isdigit() else -1
        if not 0 <= i < self.n:
            raise KeyError(cid)
        return Chunk(id=cid, doc_id=f"doc{i // 50}", title="synthetic", path="synthetic.txt", paragraph=i % 50,
                     start=0, end=0, text=f"synthetic chunk {i}", content_hash=cid, lang="en", tokens=0)

    def __iter__(self) -> Iterator[str]:
        return (f"c{i}" for i in range(self.n))

    def __len__(self) -> int:
        return self.n


def synthetic_vectors(n: int, seed: int = 0, batch: int = 100_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((32, DIM), dtype=np.float32)
    out = np.empty((n, DIM), dtype=np.float32)
    for s in range(0, n, batch):
        m = min(batch, n - s)
        v = rng.standard_normal((m, 32), dtype=np.float32) @ mix + 0.3 * rng.standard_normal((m, DIM), dtype=np.float32)
        out[s : s + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def synthetic_tokens(n: int, vocab: list[str], per_chunk: int = 60, seed: int = 1) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, len(vocab) + 1, dtype=np.float64)
    p = 1.0 / ranks
    p /= p.sum()
    vocab_arr = np.asarray(vocab, dtype=object)
    out: list[list[str]] = []
    for s in range(0, n, 50_000):
        m = min(50_000, n - s)
        draws = rng.choice(len(vocab), size=(m, per_chunk), p=p)
        out.extend(vocab_arr[row].tolist() for row in draws)
    return out


class HnswStore:
    """The ``VectorStore.search`` contract over hnswlib (cosine), for sizes Chroma cannot be filled to here."""

    def __init__(self, vectors: np.ndarray, threads: int) -> None:
        import hnswlib

        self.index = hnswlib.Index(space="cosine", dim=DIM)
        self.index.init_index(max_elements=len(vectors), ef_construction=100, M=16)
        self.index.set_num_threads(threads)
        self.index.add_items(vectors, np.arange(len(vectors)))
        self.index.set_ef(100)
        self.index.set_num_threads(1)

    def count(self) -> int:
        return int(self.index.get_current_count())

    def search(self, vector: list[float], k: int, where: dict[str, Any] | None = None) -> list[tuple[str, float]]:
        labels, distances = self.index.knn_query(np.asarray(vector, dtype=np.float32), k=k)
        return [(f"c{int(i)}", 1.0 - float(d)) for i, d in zip(labels[0], distances[0], strict=True)]


def chroma_store(settings: Settings, vectors: np.ndarray, folder: Path, embeddings: Any) -> Any:
    from bot.ingest.store import VectorStore

    store = VectorStore(settings.with_overrides(chroma_mode="persistent"), embeddings, "bench", folder)
    for s in range(0, len(vectors), 5000):
        part = vectors[s : s + 5000]
        ids = [f"c{i}" for i in range(s, s + len(part))]
        store.chroma._collection.add(ids=ids, embeddings=part, documents=[f"synthetic chunk {i}" for i in ids],
                                     metadatas=[{"doc_id": f"doc{int(i[1:]) // 50}"} for i in ids])
    return store


def _rss_mb() -> float:
    return psutil.Process().memory_info().rss / 1e6


def measure_size(n: int, settings: Settings, embeddings: Any, glossary: Any, queries: list[str], vocab: list[str],
                 work: Path, use_chroma: bool, threads: int, rounds: int = 3) -> dict[str, Any]:
    """Build an index of ``n`` synthetic chunks and time ``Retriever.run`` on the queries (``rounds`` times)."""
    from bot.retrieve.hybrid import Retriever

    gc.collect()
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    vectors = synthetic_vectors(n)
    engine = "chroma"
    folder = work / f"chroma-{n}"
    if use_chroma:
        store: Any = chroma_store(settings, vectors, folder, embeddings)
    else:
        store, engine = HnswStore(vectors, threads), "hnswlib"
    del vectors
    keywords = KeywordIndex.build([f"c{i}" for i in range(n)], synthetic_tokens(n, vocab))
    gc.collect()
    build_s = time.perf_counter() - t0
    rss = _rss_mb() - rss0
    index = SimpleNamespace(chunks=LazyChunks(n), vectors=store, keywords=keywords)
    retriever = Retriever(index, embeddings, settings, glossary)  # type: ignore[arg-type]
    for q in queries[:3]:
        retriever.run(q)
    times, vec_times, kw_times = [], [], []
    for _ in range(rounds):
        for q in queries:
            t = time.perf_counter()
            found = retriever.run(q)
            times.append(time.perf_counter() - t)
            v = found.query_vector.tolist()
            t = time.perf_counter()
            store.search(v, settings.candidate_k)
            vec_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            keywords.search(found.expanded_query, settings.candidate_k)
            kw_times.append(time.perf_counter() - t)
    say(f"retrieval at {n:,} chunks ({engine}): p50 {pct(times, 0.5, 1000)} ms, p95 {pct(times, 0.95, 1000)} ms; "
        f"built in {build_s:.0f} s, +{rss:.0f} MB")
    del retriever, index, store, keywords
    shutil.rmtree(folder, ignore_errors=True)
    gc.collect()
    return {"chunks": n, "vector_engine": engine, "queries": len(times), "build_s": round(build_s, 1),
            "index_rss_mb": round(rss, 1), "p50_ms": pct(times, 0.5, 1000), "p95_ms": pct(times, 0.95, 1000),
            "vector_p95_ms": pct(vec_times, 0.95, 1000), "bm25_p95_ms": pct(kw_times, 0.95, 1000)}


def seed_vocabulary(seed_text: str, size: int = 30_000) -> list[str]:
    """The seed report's words and synthetic terms, ``size`` in all, in a fixed shuffled (Zipf rank) order."""
    words = list(dict.fromkeys(tokenize(seed_text)))
    words += [f"term{i}" for i in range(max(0, size - len(words)))]
    np.random.default_rng(2).shuffle(words)
    return words[:size]
