"""The measurements behind `policybot bench`: model speed, answer latency, ingest and retrieval quality.

Each function returns a flat dict of figures (None where something was not measured); ``bot.bench.run`` runs
them in order and writes the report. Progress goes to stderr through ``say``.
"""

from __future__ import annotations

import json
import random
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bot.evaluate.answer_metrics import contains
from bot.evaluate.metrics import percentile
from bot.settings import Settings

SEED_CASES = Path(__file__).resolve().parents[2] / "eval" / "seed.jsonl"


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def med(values: list[float]) -> float | None:
    return round(statistics.median(values), 4) if values else None


def pct(values: list[float], q: float, scale: float = 1.0) -> float | None:
    value = percentile(values, q)
    return round(value * scale, 4) if value is not None else None


def seed_cases(path: Path = SEED_CASES) -> list[dict[str, Any]]:
    """Answerable dev-split cases without history (retrieval and latency need standalone questions)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if r.get("answerable") and r.get("split") == "dev" and not r.get("history")]


def mixed_questions(n: int = 5, path: Path = SEED_CASES) -> list[str]:
    """``n`` questions of the seed set for load drivers: answerable ones, and one the documents cannot answer
    (so refusals are part of the mix). Read from the cases file, so no document's words live in code."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    asked = [r["question"] for r in rows if r.get("answerable") and not r.get("history")][: n - 1]
    refused = [r["question"] for r in rows if not r.get("answerable") and not r.get("history")][:1]
    return asked + refused


# --- raw llama.cpp ----------------------------------------------------------------------------------------


def raw_llama(model_path: Path, prompt_text: str, threads: int, reps: int, n_decode: int = 64) -> dict[str, Any]:
    """Prompt and decode speed of llama.cpp itself (``llama_cpp.Llama.eval`` timed), no pipeline around it."""
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(model_path), n_ctx=2048, n_threads=threads, n_threads_batch=threads,
                          verbose=False, seed=0)
    tokens = llm.tokenize(prompt_text.encode("utf-8"), add_bos=True)[:512]
    prompt_speeds, decode_speeds = [], []
    for _ in range(reps):
        llm.reset()
        t = time.perf_counter()
        llm.eval(tokens)
        prompt_speeds.append(len(tokens) / (time.perf_counter() - t))
        spent = 0.0
        for _ in range(n_decode):
            token = llm.sample(temp=0.0)
            t = time.perf_counter()
            llm.eval([token])  # one decode step: what every generated token costs
            spent += time.perf_counter() - t
        decode_speeds.append(n_decode / spent)
    del llm
    return {"threads": threads, "prompt_tokens": len(tokens), "decode_tokens": n_decode,
            "raw_prompt_tok_s": med(prompt_speeds), "raw_decode_tok_s": med(decode_speeds)}


# --- answers through the pipeline -----------------------------------------------------------------------


def answer_latency(pipeline: Any, questions: list[str], reps: int) -> dict[str, Any]:
    """Warm model; each question asked ``reps`` times (round-robin, so no answer reuses its own prompt)."""
    from bot.answer import Final, Token

    pipeline.warm_up()  # as the server does at start: model loaded,
    pipeline.prime()  # then the system prefix read once
    pipeline.answer(questions[0])  # and one answer, so sentence vectors and caches are in use
    ttft, totals, prompt_tokens, pipe_decode, raw_decode, llama_decode = [], [], [], [], [], []
    statuses: dict[str, int] = {}
    for rep in range(reps):
        for q in questions:
            start = time.perf_counter()
            stamps: list[float] = []
            answer = None
            for event in pipeline.stream(q):
                if isinstance(event, Token):
                    stamps.append(time.perf_counter())
                elif isinstance(event, Final):
                    answer = event.answer
            totals.append(time.perf_counter() - start)
            assert answer is not None
            statuses[answer.status] = statuses.get(answer.status, 0) + 1
            if answer.trace.ttft_s is not None:
                ttft.append(answer.trace.ttft_s)
            if answer.trace.prompt_tokens:
                prompt_tokens.append(answer.trace.prompt_tokens)
            usage = getattr(pipeline.model, "last_usage", {}) or {}
            if len(stamps) > 4:
                pipe_decode.append((len(stamps) - 1) / (stamps[-1] - stamps[0]))
                if usage.get("decode_tok_s"):
                    llama_decode.append(float(usage["decode_tok_s"]))
                if usage.get("raw_decode_tok_s"):
                    raw_decode.append(float(usage["raw_decode_tok_s"]))
        say(f"answers: round {rep + 1}/{reps} done (answer p50 so far {med(totals)} s)")
    return {
        "answers_measured": len(totals), "answer_statuses": statuses,
        "ttft_p50_s": pct(ttft, 0.5), "ttft_p95_s": pct(ttft, 0.95),
        "answer_p50_s": pct(totals, 0.5), "answer_p95_s": pct(totals, 0.95),
        "prompt_tokens_p50": med([float(x) for x in prompt_tokens]),
        "decode_tok_s": med(pipe_decode),
        "model_layer_decode_tok_s": med(llama_decode),
        "same_generations_llama_decode_tok_s": med(raw_decode),
    }


# --- synthetic corpus and ingest -------------------------------------------------------------------------

_PLACES = ["Northfield", "Riverton", "Lakeside", "Eastport", "Westbury", "Hillcrest", "Southgate", "Milford", "Ashby",
           "Kingsbridge", "the coastal region", "the river basin"]
_FIELDS = ["semiconductors", "new energy storage", "biomanufacturing", "marine engineering", "smart robots",
           "low-altitude aviation", "quantum information", "advanced materials", "industrial software",
           "hydrogen fuel cells", "medical devices", "satellite internet", "high-end equipment", "green chemicals"]
_BODIES = ["the Provincial Department of Commerce", "the Development and Reform Commission", "municipal governments",
           "the Department of Science and Technology", "industry associations", "state-owned enterprises",
           "the Department of Finance", "universities and research institutes", "leading private firms"]
_ACTIONS = ["support", "coordinate", "evaluate", "finance", "pilot", "standardise", "promote", "monitor", "expand"]
_THINGS = ["demonstration projects", "public testing platforms", "talent programmes", "venture funds",
           "industrial parks", "supply-chain partnerships", "technical standards", "innovation centres",
           "export services", "data-sharing schemes", "land-use quotas", "tax incentives"]
_TEMPLATES = [
    "By {year}, {place} aims to build {n} {thing} for {field}, led by {body}.",
    "{body} will {action} {thing} in {place} so that {field} reaches an output of {n} billion yuan.",
    "The plan asks {body} to {action} at least {n} {thing} related to {field} before {year}.",
    "Enterprises in {field} that join {thing} in {place} may receive up to {n} million yuan.",
    "Article {n}: {body} shall {action} the {thing} of {field} and report progress every quarter.",
    "In {place}, {field} grew by {n} percent last year, and {body} expects further growth through {thing}.",
]


def policy_sentence(rng: random.Random) -> str:
    return rng.choice(_TEMPLATES).format(
        year=rng.randint(2025, 2040), place=rng.choice(_PLACES), n=rng.randint(2, 950), thing=rng.choice(_THINGS),
        field=rng.choice(_FIELDS), body=rng.choice(_BODIES), action=rng.choice(_ACTIONS))


def write_synthetic_corpus(folder: Path, docs: int, paragraphs: int = 24, seed: int = 7) -> int:
    """Deterministic policy-like documents (~5 sentences a paragraph); returns the number of files."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for d in range(docs):
        field = _FIELDS[d % len(_FIELDS)]
        lines = [f"Measures No. {d + 1} on {field.title()} in {rng.choice(_PLACES)}", ""]
        for p in range(paragraphs):
            if p % 6 == 0:
                lines += [f"Section {p // 6 + 1}. {rng.choice(_ACTIONS).title()} {rng.choice(_THINGS)}", ""]
            lines += [" ".join(policy_sentence(rng) for _ in range(5)), ""]
        (folder / f"measures-{d + 1:04d}.txt").write_text("\n".join(lines), encoding="utf-8")
    return docs


def ingest_speed(settings: Settings, docs_dir: Path, work: Path, embeddings: Any, name: str) -> dict[str, Any]:
    """Full ingest (load, chunk, embed, Chroma, BM25, manifest) of ``docs_dir`` into a fresh index."""
    from bot.ingest.build import ingest

    index_dir = work / f"index-{name}"
    shutil.rmtree(index_dir, ignore_errors=True)
    report = ingest(settings.with_overrides(index_dir=index_dir), docs_dir=docs_dir, index_dir=index_dir,
                    progress=False, embeddings=embeddings, rebuild=True)
    shutil.rmtree(index_dir, ignore_errors=True)
    return {"chunks": report.chunks, "documents": report.documents, "seconds": round(report.seconds, 3),
            "chunks_s": round(report.chunks / report.seconds, 2), "docs_s": round(report.documents / report.seconds, 3)}


def hit_at_5(settings: Settings, embeddings: Any, index_dir: Path, cases: list[dict[str, Any]]) -> dict[str, Any]:
    """Share of answerable dev cases whose top-5 passages hold one of the case's answer facts."""
    from bot.evaluate.runner import Case
    from bot.ingest.build import ingest
    from bot.ingest.index import Index
    from bot.retrieve.glossary import Glossary
    from bot.retrieve.hybrid import Retriever

    shutil.rmtree(index_dir, ignore_errors=True)
    local = settings.with_overrides(index_dir=index_dir)
    ingest(local, index_dir=index_dir, progress=False, embeddings=embeddings, rebuild=True)
    retriever = Retriever(Index.open(local, embeddings), embeddings, local,
                          Glossary.load(local.glossary_path))
    out: dict[str, Any] = {}
    for mode in ("hybrid", "vector"):
        hits = []
        for case in cases:
            scope = Case.model_validate(case).scope
            texts = " \n ".join(p.text for p in retriever.search(case["question"], k=5, scope=scope, mode=mode))
            hits.append(any(contains(texts, alt) for group in case["answers"] for alt in group))
        out[mode] = round(sum(hits) / len(hits), 4) if hits else None
    return out
