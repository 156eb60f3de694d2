"""Eval suites: the CI gate over every corpus, and the full benchmark runs.

The gate (``eval/gate.json``) is a fixed sample of each benchmark's *dev* split, asked over a small sub-corpus
so that it indexes in seconds: the sample's gold documents, the documents BM25 ranks highest for each sampled
question in the whole corpus (the near misses a reader must not answer from: for the ``*_negative`` sets these
are the noise passages about the question's subject), and fixed filler documents up to a size budget. The file
holds only ids (the benchmarks stay in ``../shared/benchmarks`` and are read at run time) and is rebuilt, the
same way every time, by ``policybot eval --refresh-gate``. The sub-corpus is copied into
``<data_dir>/gate-corpora/`` and indexed into the eval cache like any corpus.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import ConfigError, UserInputError

BENCHMARKS = ("policyqa", "ncp_policy_qa", "rgb_en", "rgb_en_negative", "rgb_zh", "rgb_zh_negative")
GATE_FILE = Path("eval/gate.json")
SEED: dict[str, Any] = {"cases": "eval/seed.jsonl", "docs": "docs", "glossary": "eval/seed-glossary.tsv", "every": 4,
                        "baseline": "eval/baselines/seed.json"}
CASES_PER_BENCHMARK = 12
NEAR_MISSES_PER_CASE = {"policyqa": 1, "ncp_policy_qa": 3}  # long documents: fewer; others 8
CHUNK_BUDGET = 450  # estimated chunks per sub-corpus (about 15 s of embedding on 2 cores)


@dataclass(frozen=True)
class SuiteEntry:
    """One corpus of a suite: which cases, over which documents, compared with which baseline."""

    name: str
    cases_file: Path
    docs: Path
    case_ids: tuple[str, ...] | None = None  # None: every case of the split
    every: int = 1
    baseline: Path | None = None
    doc_ids: tuple[str, ...] | None = None  # a sub-corpus of ``docs``, materialised before the run
    glossary: Path | None = None  # the corpus's glossary when it is kept outside ``docs``


def _sha(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def estimated_chunks(text: str) -> float:
    """cl100k tokens are about one per Chinese character and one per four other characters; 140 a chunk."""
    han = len(re.findall(r"[\u4e00-\u9fff]", text))
    return (han + (len(text) - han) / 4) / 140


def _read_cases(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def bm25_near_misses(corpus: dict[str, str], questions: Sequence[str], per_question: int) -> list[list[str]]:
    """For each question, the ids of the ``per_question`` documents of ``corpus`` BM25 ranks highest (jieba words)."""
    import bm25s
    import jieba

    jieba.setLogLevel(60)

    def words(text: str) -> list[str]:
        return [w for w in jieba.lcut(text.lower()) if re.search(r"\w", w)]

    ids = sorted(corpus)
    retriever = bm25s.BM25()
    retriever.index([words(corpus[i]) for i in ids], show_progress=False)
    out = []
    for question in questions:
        docs, _ = retriever.retrieve([words(question)], k=min(per_question, len(ids)), show_progress=False)
        out.append([ids[int(j)] for j in docs[0]])
    return out


def select_benchmark(bench_dir: Path, name: str, n_cases: int = CASES_PER_BENCHMARK) -> dict[str, Any]:
    """The gate sample of one benchmark: case ids (dev, by SHA-1 of the id) and the sub-corpus doc ids."""
    cases = [c for c in _read_cases(bench_dir / "cases.jsonl") if c.get("split", "dev") == "dev"]
    chosen = sorted(cases, key=lambda c: _sha(c["id"]))[:n_cases]
    corpus = {p.stem: p.read_text(encoding="utf-8") for p in sorted((bench_dir / "corpus").glob("*.txt"))}
    docs: dict[str, None] = dict.fromkeys(d for c in chosen for d in c.get("gold_docs", []) if d in corpus)
    per = NEAR_MISSES_PER_CASE.get(name, 8)
    for ranked in bm25_near_misses(corpus, [c["question"] for c in chosen], per):
        docs.update(dict.fromkeys(ranked))
    size = sum(estimated_chunks(corpus[d]) for d in docs)
    for doc_id in sorted(corpus, key=_sha):
        if size >= CHUNK_BUDGET:
            break
        if doc_id not in docs:
            docs[doc_id] = None
            size += estimated_chunks(corpus[doc_id])
    return {"cases": [c["id"] for c in chosen], "docs": sorted(docs), "estimated_chunks": round(size),
            "baseline": f"eval/baselines/gate-{name}.json"}


def refresh_gate(benchmarks_dir: Path, out: Path = GATE_FILE) -> dict[str, Any]:
    """Rebuild eval/gate.json from the benchmarks (deterministic: the same files give the same sample)."""
    gate: dict[str, Any] = {
        "about": "CI gate: a fixed dev sample per benchmark over a sub-corpus (gold docs, BM25 near misses, "
                 "fixed filler); rebuilt by `policybot eval --refresh-gate`. Ids only: texts stay in "
                 "../shared/benchmarks.",
        "cases_per_benchmark": CASES_PER_BENCHMARK, "chunk_budget": CHUNK_BUDGET, "seed": SEED, "benchmarks": {}}
    for name in BENCHMARKS:
        gate["benchmarks"][name] = select_benchmark(benchmarks_dir / name, name)
    out.write_text(json.dumps(gate, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return gate


def _bench_dir(benchmarks_dir: Path, name: str) -> Path:
    folder = benchmarks_dir / name
    if not (folder / "cases.jsonl").is_file():
        raise ConfigError(f"Benchmark {name} not found in {benchmarks_dir}/. Fix: pass --benchmarks DIR (the "
                          "folder holding policyqa/, rgb_en/ …; default ../shared/benchmarks).")
    return folder


def gate_entries(gate_file: Path, benchmarks_dir: Path, root: Path = Path(".")) -> list[SuiteEntry]:
    if not gate_file.is_file():
        raise UserInputError(f"Gate file {gate_file} not found. Fix: run `policybot eval --refresh-gate`.")
    gate = json.loads(gate_file.read_text(encoding="utf-8"))
    seed = gate["seed"]
    entries = [SuiteEntry("seed", root / seed["cases"], root / seed["docs"], every=int(seed.get("every", 1)),
                          baseline=root / seed["baseline"],
                          glossary=root / seed["glossary"] if seed.get("glossary") else None)]
    for name, spec in gate["benchmarks"].items():
        folder = _bench_dir(benchmarks_dir, name)
        entries.append(SuiteEntry(name, folder / "cases.jsonl", folder / "corpus", tuple(spec["cases"]),
                                  baseline=root / spec["baseline"], doc_ids=tuple(spec["docs"])))
    return entries


def full_entries(benchmarks_dir: Path, names: Sequence[str], root: Path = Path(".")) -> list[SuiteEntry]:
    """Every case of the split over each whole corpus ('seed' is the team's set over docs/)."""
    entries = []
    for name in names:
        if name == "seed":
            entries.append(SuiteEntry("seed", root / SEED["cases"], root / SEED["docs"], glossary=root / SEED["glossary"]))
        else:
            folder = _bench_dir(benchmarks_dir, name)
            entries.append(SuiteEntry(name, folder / "cases.jsonl", folder / "corpus"))
    return entries


def suite_entries(suite: str, benchmarks_dir: Path, gate_file: Path = GATE_FILE) -> list[SuiteEntry]:
    """``gate``, ``all`` (seed + every benchmark) or a comma-separated list of benchmark names."""
    if suite == "gate":
        return gate_entries(gate_file, benchmarks_dir)
    names = ["seed", *BENCHMARKS] if suite == "all" else [s.strip() for s in suite.split(",") if s.strip()]
    unknown = [n for n in names if n != "seed" and n not in BENCHMARKS]
    if unknown:
        raise UserInputError(f"Unknown suite {', '.join(unknown)}. Fix: --suite gate|all|seed|"
                             + "|".join(BENCHMARKS) + " (or a comma-separated list).")
    return full_entries(benchmarks_dir, names)


def materialise(entry: SuiteEntry, data_dir: Path) -> Path:
    """The entry's corpus folder: its docs as they are, or its sub-corpus copied once into data_dir."""
    if entry.doc_ids is None:
        return entry.docs
    key = _sha(entry.name + "\n" + "\n".join(entry.doc_ids))[:12]
    target = data_dir / "gate-corpora" / f"{entry.name}-{key}"
    if (target / ".complete").is_file():
        return target
    missing = [d for d in entry.doc_ids if not (entry.docs / f"{d}.txt").is_file()]
    if missing:
        raise ConfigError(f"{len(missing)} gate documents of {entry.name} are not in {entry.docs}/ (e.g. {missing[0]}). "
                          "Fix: run `policybot eval --refresh-gate` against the current benchmarks.")
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for doc_id in entry.doc_ids:
        shutil.copyfile(entry.docs / f"{doc_id}.txt", tmp / f"{doc_id}.txt")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    (target / ".complete").write_text("", encoding="utf-8")
    return target
