"""`policybot bench [--json] [--quick]`: speed and scale figures of this machine, in one run.

Answers (warm model, seed corpus), raw llama.cpp speed (1 and N threads) beside the pipeline's, ingest
throughput and hit@5 of our embedding route (int8 ONNX) against plain sentence-transformers, hybrid retrieval
latency at 10k/100k/1M chunks (``bot.bench.scale``), and the server (``bot.bench.server``). Figures are
medians or percentiles over repeated runs; anything not measured is null, never estimated under its key.
Writes ``<out>/latest.json`` and ``<out>/latest.md``; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.bench import parts
from bot.bench.parts import say
from bot.settings import Settings

if TYPE_CHECKING:  # imported where used: the bench loads models part by part
    from langchain_core.embeddings import Embeddings

    from bot.ingest.embeddings_onnx import OnnxMiniLMEmbeddings
    from bot.reader.pipeline import Pipeline

LOAD_WARN = 1.5
TARGETS: dict[str, tuple[str, float]] = {  # key -> (comparison, target) from issue 7
    "ttft_p50_s": ("<=", 1.0), "answer_p50_s": ("<=", 3.0), "decode_ratio": (">=", 0.95),
    "ingest_speedup": (">=", 2.0), "hit5_delta": (">=", -0.01), "retrieval_p95_ms_100k": ("<=", 50.0),
    "retrieval_p95_ms_1m": ("<=", 250.0), "cold_start_s": ("<=", 10.0), "rss_mb_at_100k_est": ("<=", 1500.0),
}


def machine(settings: Settings, model_path: Path | None, threads: int) -> dict[str, Any]:
    import psutil

    cpu = ""
    with contextlib.suppress(OSError):
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), "")
    info: dict[str, Any] = {
        "cpu": cpu, "logical_cores": os.cpu_count(), "physical_cores": psutil.cpu_count(logical=False),
        "ram_gb": round(psutil.virtual_memory().total / 1e9, 1), "python": platform.python_version(),
        "load_average_start": [round(x, 2) for x in os.getloadavg()], "llm_threads": threads,
        "embedding_backend": settings.embedding_backend, "llm_url": settings.llm_url or None,
    }
    if model_path is not None:
        from bot.llm.gguf import file_sha256

        info.update(model_file=model_path.name, model_mb=round(model_path.stat().st_size / 1e6, 1),
                    model_sha256=file_sha256(model_path)[:16])
    return info


def run(settings: Settings, quick: bool, work: Path) -> dict[str, Any]:
    """Every part in order; the figures of each go into one dict (``work`` holds the temporary indexes)."""
    from bot.ingest.embeddings import build_embeddings
    from bot.ingest.embeddings_onnx import OnnxMiniLMEmbeddings
    from bot.llm.build import served_model_path
    from bot.llm.gguf import physical_cores

    model_path = None if settings.llm_url else served_model_path(settings)
    threads = settings.n_threads or physical_cores()
    out: dict[str, Any] = {"quick": quick, "machine": machine(settings, model_path, threads)}
    load = out["machine"]["load_average_start"][0]
    if load > LOAD_WARN:
        print(f"warning: load average is {load} (> {LOAD_WARN}) on {os.cpu_count()} cores: other work is running, "
              "so the figures below are unreliable.", file=sys.stderr)
    seed_text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(settings.docs_dir.glob("*.txt"))
                          if p.name != Path(settings.glossary_file).name)
    out.update(raw_llama_speed(settings, model_path, threads, seed_text))
    bench = settings.with_overrides(docs_dir=work / "docs", index_dir=work / "index", data_dir=work / "data",
                                    prompts_dir=settings.prompts_dir.resolve(), n_threads=threads)
    shutil.copytree(settings.docs_dir, bench.docs_dir)
    cases = parts.seed_cases()
    emb = build_embeddings(bench.embedding_batch, bench.embedding_backend)
    pipeline = seed_pipeline(bench, emb)
    out.update(answer_speed(pipeline, cases, quick, out["raw_decode_tok_s"]))
    # ours (int8 ONNX) and the default (fp32 ONNX) stay loaded to the end: later memory figures count them
    ours = OnnxMiniLMEmbeddings(bench.embedding_batch)
    exact = OnnxMiniLMEmbeddings(bench.embedding_batch, quantized=False)
    out.update(ingest_and_hit5(bench, work, cases, quick, ours, exact))
    out.update(retrieval_latency(bench, pipeline, seed_text, cases, work, threads, quick))
    del pipeline
    gc.collect()
    at_100k = next(r for r in out["retrieval"] if (r["chunks"], r["vector_engine"]) == (100_000, "hnswlib"))
    out.update(server_figures(bench, cases, threads, quick, at_100k["index_rss_mb"]))
    out["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return out


def raw_llama_speed(settings: Settings, model_path: Path | None, threads: int, seed_text: str) -> dict[str, Any]:
    """1. llama.cpp alone: prompt and decode speed at 1, ``threads`` and all physical cores (none over an HTTP
    model), and of the bundled file as shipped when it is served re-encoded."""
    from bot.llm.build import served_model_path
    from bot.llm.gguf import physical_cores

    out: dict[str, Any] = {"raw_llama": []}
    if model_path is not None:
        for n in sorted({1, threads, physical_cores()}):
            say(f"raw llama.cpp with {n} thread(s)")
            out["raw_llama"].append(parts.raw_llama(model_path, seed_text, n, reps=3))
        shipped = served_model_path(settings.with_overrides(bundled_model_recode="off"))
        if shipped != model_path:  # the bundled Q4_1 file, served re-encoded (bot/llm/recode.py): show what that buys
            say(f"raw llama.cpp with {threads} thread(s), the bundled file as shipped ({shipped.name})")
            out["raw_llama_as_shipped"] = {"model_file": shipped.name,
                                           **parts.raw_llama(shipped, seed_text, threads, reps=3)}
    chosen: dict[str, Any] = next((r for r in out["raw_llama"] if r["threads"] == threads), {})
    out["raw_decode_tok_s"] = chosen.get("raw_decode_tok_s")
    out["raw_prompt_tok_s"] = chosen.get("raw_prompt_tok_s")
    return out


def seed_pipeline(bench: Settings, emb: Embeddings) -> Pipeline:
    """The seed corpus (copied to ``bench.docs_dir``) indexed with ``emb``, and the pipeline over it."""
    say(f"indexing the seed corpus ({bench.embedding_backend} embeddings)")
    from bot.ingest.build import ingest
    from bot.reader.pipeline import build_pipeline

    ingest(bench, progress=False, embeddings=emb)
    return build_pipeline(bench, embeddings=emb)


def answer_speed(pipeline: Pipeline, cases: list[dict[str, Any]], quick: bool,
                 raw_decode_tok_s: float | None) -> dict[str, Any]:
    """2. Answers on the seed corpus, warm model: latency and decode speed, and decode against raw llama.cpp."""
    questions = [c["question"] for c in cases if c.get("lang") == "en"][: 10 if quick else 20]
    say(f"answering {len(questions)} seed questions x {2 if quick else 3} rounds")
    out: dict[str, Any] = parts.answer_latency(pipeline, questions, reps=2 if quick else 3)
    if out.get("decode_tok_s") and raw_decode_tok_s:
        out["decode_ratio"] = round(out["decode_tok_s"] / raw_decode_tok_s, 3)
    if out.get("decode_tok_s") and out.get("same_generations_llama_decode_tok_s"):
        # the same generations timed by llama.cpp's own counters: overhead without the run-to-run noise
        out["decode_ratio_same_generations"] = round(out["decode_tok_s"] / out["same_generations_llama_decode_tok_s"], 3)
    return out


def ingest_and_hit5(bench: Settings, work: Path, cases: list[dict[str, Any]], quick: bool,
                    ours: OnnxMiniLMEmbeddings, exact: OnnxMiniLMEmbeddings) -> dict[str, Any]:
    """3. Ingest throughput of ``ours`` (int8 ONNX) against sentence-transformers and ``exact`` (fp32 ONNX, the
    default, whose vectors are sentence-transformers' own); hit@5 of ours and of sentence-transformers."""
    from bot.ingest.embeddings import MiniLMEmbeddings

    base = MiniLMEmbeddings(bench.embedding_batch)
    t = time.perf_counter()
    ours.warm_up()
    out: dict[str, Any] = {"onnx_warm_up_s": round(time.perf_counter() - t, 2)}  # includes a one-time build
    base.warm_up()
    exact.warm_up()
    ours.embed_array(["warm up"] * 4), base.embed_array(["warm up"] * 4), exact.embed_array(["warm up"] * 4)
    corpus = work / "synthetic"
    docs = 80
    parts.write_synthetic_corpus(corpus, docs)
    runs: dict[str, list[dict[str, Any]]] = {"onnx": [], "st": [], "onnx-exact": []}
    for r in range(1 if quick else 2):
        for name, e in (("st", base), ("onnx", ours), ("onnx-exact", exact)):
            say(f"ingest of the synthetic corpus with {name} (run {r + 1})")
            runs[name].append(parts.ingest_speed(bench, corpus, work, e, name))
            say(f"  {runs[name][-1]}")
    for key, name in (("ingest", "onnx"), ("baseline_ingest", "st"), ("exact_ingest", "onnx-exact")):
        best = sorted(runs[name], key=lambda x: x["chunks_s"])[len(runs[name]) // 2]
        out[f"{key}_chunks_s"], out[f"{key}_docs_s"] = best["chunks_s"], best["docs_s"]
        out[f"{key}_runs"] = runs[name]
    out["ingest_corpus"] = {"documents": docs, "chunks": runs["onnx"][0]["chunks"], "generator": "bot.bench.parts"}
    out["ingest_speedup"] = round(out["ingest_chunks_s"] / out["baseline_ingest_chunks_s"], 2)
    say("hit@5 on the seed dev set, both embeddings")
    q_ours = parts.hit_at_5(bench, ours, work / "hit-onnx", cases)
    q_base = parts.hit_at_5(bench, base, work / "hit-st", cases)
    out.update(hit5=q_ours["hybrid"], baseline_hit5=q_base["hybrid"], hit5_vector=q_ours["vector"],
               baseline_hit5_vector=q_base["vector"], hit5_cases=len(cases))
    out["hit5_delta"] = round(out["hit5"] - out["baseline_hit5"], 4)
    del base
    gc.collect()
    return out


def retrieval_latency(bench: Settings, pipeline: Pipeline, seed_text: str, cases: list[dict[str, Any]], work: Path,
                      threads: int, quick: bool) -> dict[str, Any]:
    """4. Hybrid retrieval latency over synthetic indexes of 10k (Chroma, hnswlib), 100k and 1M (not quick) chunks."""
    from bot.bench import scale as bench_scale

    vocab = bench_scale.seed_vocabulary(seed_text)
    all_q = [c["question"] for c in cases]
    sizes: list[tuple[int, bool]] = [(10_000, True), (10_000, False), (100_000, False)]
    if not quick:
        sizes.append((1_000_000, False))
    out: dict[str, Any] = {"retrieval": []}
    for n, use_chroma in sizes:
        say(f"retrieval index of {n:,} synthetic chunks ({'chroma' if use_chroma else 'hnswlib'} + bm25s)")
        out["retrieval"].append(bench_scale.measure_size(n, bench, pipeline.embeddings, pipeline.glossary, all_q,
                                                         vocab, work, use_chroma, threads))
    by = {(r["chunks"], r["vector_engine"]): r for r in out["retrieval"]}
    out["retrieval_p95_ms_10k"] = by[(10_000, "chroma")]["p95_ms"]
    out["retrieval_p95_ms_10k_hnswlib"] = by[(10_000, "hnswlib")]["p95_ms"]
    out["retrieval_p95_ms_100k"] = by[(100_000, "hnswlib")]["p95_ms"]
    out["retrieval_p95_ms_1m"] = by[(1_000_000, "hnswlib")]["p95_ms"] if (1_000_000, "hnswlib") in by else None
    big = by.get((1_000_000, "hnswlib")) or by[(100_000, "hnswlib")]
    out["index_rss_mb_per_1m_chunks"] = round(big["index_rss_mb"] * 1_000_000 / big["chunks"], 0)
    return out


def server_figures(bench: Settings, cases: list[dict[str, Any]], threads: int, quick: bool,
                   index_rss_mb_100k: float) -> dict[str, Any]:
    """5. The server: cold start, memory and concurrent answers of `policybot serve` over the seed index."""
    from bot.bench import server as bench_server

    all_q = [c["question"] for c in cases]
    out: dict[str, Any] = {}
    say("server: cold start over the seed index")
    with bench_server.running_server(bench) as server:
        out["cold_start_s"] = server["cold_start_s"]
        out["concurrency"] = []
        if server["cold_start_s"] is not None:
            plan = [(1, 3)] if quick else [(1, 8), (4, 4), (16, 2)]
            for users, per_user in plan:
                out["concurrency"].append(bench_server.concurrency(server["port"], server["token"], all_q,
                                                                   users, per_user))
        out["rss_idle_mb"] = round(server["rss"].sample(), 1)
        out["rss_mb"] = server["rss"].stop()
    out["concurrency_mode"] = "HTTP clients -> policybot serve -> POST /webhook (generic route, inline answers)"
    if quick:
        out["concurrency_skipped"] = "--quick: one user, 3 questions (for RSS while answering)"
    one = next((c for c in out["concurrency"] if c["users"] == 1), None)
    if one:
        out["answers_per_s_1_user"] = one["answers_per_s"]
        out["answers_per_s_per_core"] = round(one["answers_per_s"] / max(1, threads), 3)
    if out["rss_mb"]:
        out["rss_mb_at_100k_est"] = round(out["rss_mb"] + index_rss_mb_100k, 1)
    return out


def markdown(result: dict[str, Any], command: str) -> str:
    m = result["machine"]
    lines = [f"Command: `{command}` ({time.strftime('%Y-%m-%d %H:%M')})", "",
             f"Machine: {m['cpu']}, {m['logical_cores']} logical / {m['physical_cores']} physical cores, "
             f"{m['ram_gb']} GB; model {m.get('model_file', m.get('llm_url'))}, {m['llm_threads']} llama.cpp threads; "
             f"load average {m['load_average_start'][0]} at start, {m['load_average_end'][0]} at end.", "",
             "| figure | value | target |", "|---|---|---|"]
    keys = ["ttft_p50_s", "ttft_p95_s", "answer_p50_s", "answer_p95_s", "prompt_tokens_p50", "decode_tok_s",
            "raw_decode_tok_s", "decode_ratio", "decode_ratio_same_generations", "raw_prompt_tok_s", "ingest_chunks_s", "baseline_ingest_chunks_s",
            "exact_ingest_chunks_s", "ingest_speedup", "ingest_docs_s", "hit5", "baseline_hit5", "hit5_vector", "baseline_hit5_vector",
            "retrieval_p95_ms_10k", "retrieval_p95_ms_10k_hnswlib", "retrieval_p95_ms_100k", "retrieval_p95_ms_1m",
            "index_rss_mb_per_1m_chunks", "cold_start_s", "rss_mb", "rss_mb_at_100k_est", "answers_per_s_per_core"]
    for key in keys:
        target = TARGETS.get(key)
        lines.append(f"| {key} | {result.get(key)} | {f'{target[0]} {target[1]:g}' if target else ''} |")
    for r in result.get("raw_llama", []):
        lines.append(f"| raw llama.cpp, {r['threads']} thread(s): prompt / decode tok/s | "
                     f"{r['raw_prompt_tok_s']} / {r['raw_decode_tok_s']} | |")
    if result.get("raw_llama_as_shipped"):
        r = result["raw_llama_as_shipped"]
        lines.append(f"| raw llama.cpp, {r['threads']} thread(s), {r['model_file']} as shipped: prompt / decode tok/s "
                     f"| {r['raw_prompt_tok_s']} / {r['raw_decode_tok_s']} | |")
    for c in result.get("concurrency", []):
        lines.append(f"| {c['users']} concurrent user(s): answers/s, p50 / p95 s | {c['answers_per_s']}, "
                     f"{c['latency_p50_s']} / {c['latency_p95_s']} | |")
    lines += ["", "Retrieval at 10k runs through Chroma; 100k and 1M through hnswlib (the HNSW library inside "
              "Chroma, same parameters) + bm25s, with the Retriever's code; vectors and keywords synthetic "
              "(see bot/bench/scale.py). `rss_mb_at_100k_est` = server peak RSS + the 100k index's RSS.", ""]
    return "\n".join(lines)


def bench_command(args: argparse.Namespace, settings: Settings) -> int:
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    command = "policybot bench" + (" --json" if args.json else "") + (" --quick" if args.quick else "")
    work = Path(tempfile.mkdtemp(prefix="policybot-bench-"))
    # a stopped run still removes its temporary indexes and stops the server it started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.perf_counter()
    try:
        result = run(settings, args.quick, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["command"] = command
    result["seconds"] = round(time.perf_counter() - started, 1)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "latest.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out_dir / "latest.md").write_text(markdown(result, command), encoding="utf-8")
    say(f"done in {result['seconds']} s; wrote {out_dir}/latest.json and latest.md")
    if args.json:
        sys.stdout.write(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    else:
        print(markdown(result, command))
    return 0
