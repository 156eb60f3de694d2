"""``policybot calibrate``: refit the answerability calibration from dev cases, reproducibly.

For every corpus (the seed set over ``docs/`` and the dev split of each shared benchmark, or the cases files a
user names), each case goes through the pipeline's stages before the model (:meth:`Pipeline.gather`); its
candidate sentences are recorded with a label (*it holds a gold answer*) and the sentence model is fitted
(:mod:`bot.reader.sentence_model`); then, with that model ordering the evidence, each case's answerability features are
recorded with the label *the evidence the reader would answer from holds the answer* (else a refusal is the
better reply), and the answerability model is fitted (:func:`bot.reader.fitting.fit_answerability`). Every corpus weighs the
same. Both are written, with what they were fitted on, to ``answerable.json`` and ``sentence.json`` beside it. Only dev cases are read; a test split is never used here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from bot.errors import UserInputError
from bot.evaluate.answer_metrics import contains, normalize
from bot.evaluate.gate import BENCHMARKS, SuiteEntry, full_entries
from bot.evaluate.runner import Case, load_cases
from bot.reader import evidence
from bot.reader.calibration import DEFAULT_FILE, FEATURES, answerability_features
from bot.reader.fitting import fit_answerability, fit_sentences
from bot.reader.sentence_model import (
    SENTENCE_FEATURES,
    Question,
    SentenceModel,
    model_judgement,
    sentence_features,
)
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.reader.gathered import Gathered

MAX_CASES = 150  # per corpus: every k-th dev case up to this many (about two minutes of retrieval each)


def add_calibrate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cases", action="append", default=[], metavar="FILE:DOCS",
                        help="a cases file and its corpus folder (repeatable); default: the seed set and the dev "
                             "split of every shared benchmark")
    parser.add_argument("--benchmarks", type=Path, default=None, help="folder of the shared benchmarks")
    parser.add_argument("--max-cases", type=int, default=MAX_CASES, help=f"per corpus (default {MAX_CASES})")
    parser.add_argument("--out", type=Path, default=DEFAULT_FILE, help=f"where to write it (default {DEFAULT_FILE})")
    parser.add_argument("--l2", type=float, default=1.0, help="L2 penalty of the logistic fit (default 1)")
    parser.add_argument("--model", default=None, metavar="FILE|NAME",
                        help="the GGUF (or catalog name) whose own yes/no judgement becomes a feature: calibrate for "
                             "the model you will run (default: the configured model)")
    parser.add_argument("--declines-from", type=Path, nargs="+", default=None, metavar="REPORTS",
                        help="instead: fit, per model, whether to honour the model's own decline, from dev eval reports "
                             "(folders or report.json files) run with POLICYBOT_DECLINES=none (bot/reader/declines.py)")
    parser.add_argument("--declines-out", type=Path, default=None, metavar="FILE",
                        help="where --declines-from writes (default bot/reader/calibration/declines.json; other "
                             "models' entries in it stay)")
    parser.add_argument("--no-model-judgement", action="store_true",
                        help="fit without the model's judgement (the pipeline then never asks the model before it "
                             "writes; needed for a model served without logits)")


def holds_answer(text: str, case: Case) -> bool:
    """The label of a sentence: it holds one of the case's gold answers (or, for long gold spans, the sentence
    of six words or more is part of one)."""
    if not case.answerable:
        return False
    norm = normalize(text)
    for group in case.answers:
        for alt in group:
            if contains(text, alt) or (len(norm.split()) >= 6 and norm in normalize(alt)):
                return True
    return False


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


def collect(entry: SuiteEntry, settings: Settings, max_cases: int) -> tuple[list[tuple[Case, Gathered]], dict[str, Any]]:
    """Every k-th dev case of the corpus through the stages before the model, with no calibration on."""
    from bot.ingest.build import BATCH_WAIT_S, corpus_hash, ingest
    from bot.reader.pipeline import build_pipeline

    dev = [c for c in load_cases(entry.cases_file) if c.split == "dev"]
    if not dev:
        raise UserInputError(f"{entry.cases_file} has no dev cases to calibrate on.")
    every = max(1, -(-len(dev) // max_cases))
    dev = dev[::every]
    chash = corpus_hash(entry.docs, settings)
    cache = Path(settings.data_dir) / "eval-index" / chash
    local = settings.with_overrides(docs_dir=entry.docs, index_dir=cache, calibration="off", sentence_model="off",
                                    glossary_file=str(entry.glossary.resolve()) if entry.glossary else None)
    ingest(local, docs_dir=entry.docs, index_dir=cache, progress=True, wait=BATCH_WAIT_S)
    pipeline = build_pipeline(local)
    out = [(case, pipeline.gather(case.question, case.turns() or None, case.scope))
           for case in tqdm(dev, desc=f"calibrate {entry.name}", unit="case", file=sys.stderr)]
    return out, {"cases_file": str(entry.cases_file), "corpus_hash": chash, "dev_cases": len(dev), "every": every}


def _question(g: Gathered) -> Question:
    """What the sentence features read of the question, as the pipeline built it: the question without a lead
    naming its document, and the answer type the reader's verdict already holds."""
    return Question.of(g.what_is_asked, g.verdict.kind, g.terms)


def sentence_rows(gathered: dict[str, list[tuple[Case, Gathered]]]) -> tuple[list[list[float]], list[int], list[int], list[str]]:
    """Each candidate sentence of each case: its features, its label, its question number and its corpus."""
    rows: list[list[float]] = []
    labels, question, groups = [], [], []
    n = 0
    for name, pairs in gathered.items():
        for case, g in pairs:
            q = _question(g)
            for item, row in zip(g.ranked, sentence_features(q, g.ranked, g.found.passages), strict=True):
                rows.append(row)
                labels.append(int(holds_answer(item.text, case)))
                question.append(n)
                groups.append(name)
            n += 1
    return rows, labels, question, groups


def answerability_rows(gathered: dict[str, list[tuple[Case, Gathered]]], model: SentenceModel, n_evidence: int,
                       judge: Callable[[str, list[evidence.Evidence]], float | None] | None = None,
                       ) -> tuple[list[list[float]], list[int], list[str]]:
    """Each case as the pipeline would see it with the sentence model on (and, given ``judge``, the model's own
    judgement of the evidence): its answerability features, and the label *the evidence it would answer from
    holds the answer* (else a refusal is the better reply)."""
    rows, labels, groups = [], [], []
    for name, pairs in gathered.items():
        for case, g in tqdm(pairs, desc=f"judge {name}", unit="case", file=sys.stderr, disable=judge is None):
            q = _question(g)
            ranked, g.answer_logit = model.rerank(q, list(g.ranked), g.found.passages)
            g.ranked, g.chosen = ranked, evidence.select(ranked, n_evidence, g.terms)
            g.model_yes = judge(g.question, g.chosen) if judge is not None else None
            rows.append(answerability_features(g))
            labels.append(int(any(holds_answer(e.text, case) for e in g.chosen)))
            groups.append(name)
    return rows, labels, groups


def _judge(args: argparse.Namespace, settings: Settings) -> tuple[Callable[[str, list[evidence.Evidence]], float | None] | None, str]:
    """The configured (or ``--model``) model's judgement of the evidence, and the model's id."""
    from bot.llm.build import build_chat_model
    from bot.llm.catalog import resolve_model
    from bot.llm.prompts import load_prompt

    local = settings.with_overrides(model_path=resolve_model(args.model)) if args.model else settings
    llm = build_chat_model(local)
    if args.no_model_judgement:
        return None, llm.model_id
    prompt = load_prompt(settings.prompts_dir, "answerable")
    return (lambda question, chosen: model_judgement(llm, prompt, question, chosen)), llm.model_id


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()


def calibrate_declines(paths: list[Path], out: Path | None) -> int:
    """``--declines-from``: fit each model's decline decision from its dev reports and print what was decided."""
    from bot.reader import declines

    entries = declines.fit_reports(paths)
    if not entries:
        raise UserInputError(f"No report.json under {', '.join(map(str, paths))}. Fix: run `POLICYBOT_DECLINES=none "
                             "policybot eval --suite all --split dev --model M --out DIR` and pass DIR.")
    target = out or declines.DEFAULT_FILE
    declines.write_entries(target, entries)
    for model_hash, entry in entries.items():
        print(f"{entry['model_id'] or model_hash[:12]}:")
        for group in declines.GROUPS:
            row = entry["fitted_on"][group]
            verdict = "honour" if entry["honour"][group] else "override (quote the evidence)"
            print(f"  {group:<6} {verdict}: {row['declines']} declines, quote credit {row['quote_credit']}, "
                  f"worst answer loss {row['worst_answer_loss']}, net gain {row['net_gain']} ({row['decided_by']})")
    print(f"wrote {target}")
    return 0


def calibrate_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.declines_from:
        return calibrate_declines(args.declines_from, args.declines_out)
    gathered: dict[str, list[tuple[Case, Gathered]]] = {}
    corpora: dict[str, Any] = {}
    for entry in _entries(args, settings):
        gathered[entry.name], corpora[entry.name] = collect(entry, settings, args.max_cases)
    provenance = {"corpora": corpora, "split": "dev", "embedding_backend": settings.embedding_backend,
                  "fitted": datetime.now(UTC).isoformat(timespec="seconds")}
    s_rows, s_labels, s_question, s_groups = sentence_rows(gathered)
    sentences = fit_sentences(s_rows, s_labels, s_question, s_groups)
    sentences.fitted_on.update(provenance, data_hash=_digest(s_rows, s_labels, s_question), features=list(SENTENCE_FEATURES))
    model = SentenceModel(sentences)
    judge, model_id = _judge(args, settings)
    rows, labels, groups = answerability_rows(gathered, model, settings.evidence_sentences, judge)
    cal = fit_answerability(np.array(rows, dtype=float), np.array(labels, dtype=float), groups, l2=args.l2)
    cal.fitted_on.update(provenance, data_hash=_digest(rows, labels, groups), features=list(FEATURES),
                         model_judgement=judge is not None, model_id=model_id,
                         label="the evidence the reader would answer from (sentence model on) holds a gold answer")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(cal.to_json(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    beside = args.out.with_name("sentence.json")
    beside.write_text(json.dumps(sentences.to_json() | {"decision": "sentence"}, ensure_ascii=False, indent=1) + "\n",
                      encoding="utf-8")
    print("sentence model (top candidate holds the answer, per corpus):")
    for name, row in sentences.fitted_on["per_corpus"].items():
        print(f"  {name:<16} {json.dumps(row)}")
    print(f"answerability: threshold {cal.threshold:.4f}, AUC (all dev) {cal.fitted_on['auc_all']}")
    for name, row in cal.fitted_on["per_corpus"].items():
        print(f"  {name:<16} {json.dumps(row)}")
    print(f"wrote {args.out} and {beside}")
    return 0
