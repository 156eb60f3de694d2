"""``policybot calibrate``: refit the answerability calibration from dev cases, reproducibly.

For every corpus (the seed set over ``docs/`` and the dev split of each shared benchmark, or the cases files a
user names), each case goes through the pipeline's stages before the model (:meth:`Pipeline.gather`); its
features are recorded with a label: 1 when the case is answerable and every answer group occurs in the
passages retrieval found, 0 otherwise (unanswerable, or the answer was not found: then a refusal is right). A
logistic model is fitted with every corpus weighing the same (:func:`bot.calibration.fit`), and written with
what it was fitted on. Only dev cases are read; a test split is never used here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from bot.calibration import DEFAULT_FILE, FEATURES, answerability_features, fit
from bot.errors import UserInputError
from bot.eval_gate import BENCHMARKS, SuiteEntry, full_entries
from bot.evaluate import Case, load_cases
from bot.metrics import contains
from bot.settings import Settings

MAX_CASES = 150  # per corpus: every k-th dev case up to this many (about two minutes of retrieval each)


def add_calibrate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cases", action="append", default=[], metavar="FILE:DOCS",
                        help="a cases file and its corpus folder (repeatable); default: the seed set and the dev "
                             "split of every shared benchmark")
    parser.add_argument("--benchmarks", type=Path, default=None, help="folder of the shared benchmarks")
    parser.add_argument("--max-cases", type=int, default=MAX_CASES, help=f"per corpus (default {MAX_CASES})")
    parser.add_argument("--out", type=Path, default=DEFAULT_FILE, help=f"where to write it (default {DEFAULT_FILE})")
    parser.add_argument("--l2", type=float, default=1.0, help="L2 penalty of the logistic fit (default 1)")


def found_answer(case: Case, passages: Sequence[str]) -> bool:
    """The label: an answerable case whose every answer group occurs in the retrieved passages."""
    if not case.answerable or not case.answers:
        return False
    text = "\n".join(passages)
    return all(any(contains(text, alt) for alt in group) for group in case.answers)


def _entries(args: argparse.Namespace, settings: Settings) -> list[SuiteEntry]:
    if args.cases:
        out = []
        for spec in args.cases:
            cases, _, docs = spec.partition(":")
            if not docs:
                raise UserInputError(f"--cases {spec}: give FILE:DOCS (the cases file and its corpus folder).")
            name = Path(cases).parent.name if Path(cases).stem == "cases" else Path(cases).stem
            out.append(SuiteEntry(name, Path(cases), Path(docs)))
        return out
    return full_entries(Path(args.benchmarks or settings.benchmarks_dir), ["seed", *BENCHMARKS])


def collect(entry: SuiteEntry, settings: Settings, max_cases: int) -> tuple[list[list[float]], list[int], dict[str, Any]]:
    from bot.ingest import corpus_hash, ingest
    from bot.pipeline import build_pipeline

    dev = [c for c in load_cases(entry.cases_file) if c.split == "dev"]
    if not dev:
        raise UserInputError(f"{entry.cases_file} has no dev cases to calibrate on.")
    every = max(1, -(-len(dev) // max_cases))
    dev = dev[::every]
    chash = corpus_hash(entry.docs, settings)
    cache = Path(settings.data_dir) / "eval-index" / chash
    local = settings.with_overrides(docs_dir=entry.docs, index_dir=cache, calibration="off")
    ingest(local, docs_dir=entry.docs, index_dir=cache, progress=True)
    pipeline = build_pipeline(local)
    rows, labels = [], []
    for case in tqdm(dev, desc=f"calibrate {entry.name}", unit="case", file=sys.stderr):
        g = pipeline.gather(case.question, case.turns() or None, case.scope)
        rows.append(answerability_features(g))
        labels.append(int(found_answer(case, [p.chunk.text for p in g.found.passages])))
    info = {"cases_file": str(entry.cases_file), "corpus_hash": chash, "dev_cases": len(dev), "every": every}
    return rows, labels, info


def calibrate_command(args: argparse.Namespace, settings: Settings) -> int:
    rows: list[list[float]] = []
    labels: list[int] = []
    groups: list[str] = []
    corpora: dict[str, Any] = {}
    for entry in _entries(args, settings):
        x, y, info = collect(entry, settings, args.max_cases)
        rows += x
        labels += y
        groups += [entry.name] * len(y)
        corpora[entry.name] = info
    x_arr, y_arr = np.array(rows, dtype=float), np.array(labels, dtype=float)
    cal = fit(x_arr, y_arr, groups, l2=args.l2)
    digest = hashlib.sha256(json.dumps([rows, labels, groups]).encode("utf-8")).hexdigest()
    cal.fitted_on.update({"data_hash": digest, "corpora": corpora, "split": "dev",
                          "embedding_backend": settings.embedding_backend, "features": list(FEATURES),
                          "fitted": datetime.now(UTC).isoformat(timespec="seconds"),
                          "label": "answerable and every answer group occurs in the retrieved passages"})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(cal.to_json(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"threshold {cal.threshold:.4f}, AUC (all dev) {cal.fitted_on['auc_all']}")
    for name, row in cal.fitted_on["per_corpus"].items():
        print(f"  {name:<16} {json.dumps(row)}")
    print(f"wrote {args.out}")
    return 0
