"""The hand-labelled faithfulness suite (eval/faithfulness.jsonl): load it, judge it, report per kind.

Each case is an answer sentence with ``[n]`` markers and the passages they cite, given as character offsets
into a document (the seed corpus in ``docs/``, or a benchmark corpus read from ``../shared/benchmarks`` at run
time, never copied here), with a label: ``supported`` true for faithful controls, false for the adversarial
kinds (negation, modality, number, date, amount, list_item, entity, speaker_swap, wrong_citation, content).
``policybot faithfulness`` runs the strict metrics of :mod:`bot.evaluate.faithfulness` on it, and a model judge if
one is given, and reports how each agrees with the labels.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import UserInputError
from bot.evaluate.faithfulness import check_answer, sentence_citations
from bot.evaluate.metrics import auc


@dataclass(frozen=True)
class LabelledCase:
    id: str
    kind: str
    lang: str
    source: str
    answer: str
    passages: dict[int, str]
    supported: bool


def _passage(ref: dict[str, Any], docs_dir: Path, benchmarks_dir: Path, where: str) -> str:
    corpus, doc_id = str(ref.get("corpus", "")), str(ref.get("doc_id", ""))
    if corpus == "docs":
        path = docs_dir / f"{doc_id}.txt"
    elif corpus.startswith("benchmarks/"):
        path = benchmarks_dir / corpus.split("/", 1)[1] / "corpus" / f"{doc_id}.txt"
    else:
        raise UserInputError(f"{where}: corpus must be 'docs' or 'benchmarks/NAME', not {corpus!r}.")
    if not path.is_file():
        raise UserInputError(f"{where}: {path} not found. Fix: run from the repository root with ../shared beside it, "
                             "or pass --benchmarks DIR.")
    text = path.read_text(encoding="utf-8")[int(ref["start"]): int(ref["end"])]
    if ref.get("sha1") and hashlib.sha1(text.encode("utf-8")).hexdigest()[:12] != ref["sha1"]:
        raise UserInputError(f"{where}: the span {ref['start']}:{ref['end']} of {path} changed (sha1 mismatch).")
    return text


def load_suite(path: Path, docs_dir: Path, benchmarks_dir: Path) -> list[LabelledCase]:
    """Read the suite and resolve every passage; a bad line is an error naming it."""
    if not path.is_file():
        raise UserInputError(f"Faithfulness suite {path} not found. Fix: pass --suite eval/faithfulness.jsonl.")
    cases = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            raw = json.loads(line)
            passages = {int(n): _passage(ref, docs_dir, benchmarks_dir, where) for n, ref in raw["passages"].items()}
            cases.append(LabelledCase(str(raw["id"]), str(raw["kind"]), str(raw.get("lang", "en")),
                                      str(raw.get("source", "")), str(raw["answer"]), passages, bool(raw["supported"])))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise UserInputError(f"{where}: not a suite case ({type(exc).__name__}: {exc}).") from None
    return cases


JudgeFn = Callable[[str, str], float]
"""``p_supported(sentence, passage) -> probability`` (bot.evaluate.judge.Judge.p_supported)."""


@dataclass
class SuiteResult:
    case: LabelledCase
    flagged: bool
    detail: list[dict[str, Any]]
    judge_p: float | None = None

    @property
    def strict_correct(self) -> bool:
        return self.flagged != self.case.supported


def judge_answer(judge: JudgeFn, answer: str, passages: dict[int, str]) -> float:
    """The judge's probability that every cited pair of the answer is supported (the least of them)."""
    probs = [judge(sentence, passages[n]) for sentence, cited in sentence_citations(answer) for n in cited if n in passages]
    return min(probs) if probs else 0.0


def run_suite(cases: Sequence[LabelledCase], judge: JudgeFn | None = None) -> list[SuiteResult]:
    results = []
    for case in cases:
        check = check_answer(case.answer, case.passages)
        p = judge_answer(judge, case.answer, case.passages) if judge else None
        results.append(SuiteResult(case, check.invented, check.to_json(), p))
    return results


def summary(results: Sequence[SuiteResult]) -> dict[str, Any]:
    by_kind: dict[str, list[SuiteResult]] = defaultdict(list)
    for r in results:
        by_kind[r.case.kind].append(r)
    out: dict[str, Any] = {
        "cases": len(results),
        "adversarial": sum(not r.case.supported for r in results),
        "caught": sum(r.flagged for r in results if not r.case.supported),
        "controls": sum(r.case.supported for r in results),
        "controls_flagged": sum(r.flagged for r in results if r.case.supported),
        "by_kind": {k: {"cases": len(v), "strict_correct": sum(r.strict_correct for r in v)}
                    for k, v in sorted(by_kind.items())},
    }
    judged = [r for r in results if r.judge_p is not None]
    if judged:
        labels = [r.case.supported for r in judged]
        scores = [float(r.judge_p or 0.0) for r in judged]
        out["judge_accuracy"] = sum((s >= 0.5) == y for s, y in zip(scores, labels, strict=True)) / len(judged)
        out["judge_auc"] = auc(scores, labels)
        cut, best = max(((t, sum((s >= t) == y for s, y in zip(scores, labels, strict=True)) / len(judged))
                         for t in sorted(set(scores))), key=lambda pair: pair[1])
        out["judge_best_threshold"], out["judge_best_accuracy"] = cut, best  # fitted on the suite: optimistic
        out["judge_agreement_with_strict"] = sum((s >= 0.5) == (not r.flagged)
                                                 for s, r in zip(scores, judged, strict=True)) / len(judged)
        for kind, rows in by_kind.items():
            out["by_kind"][kind]["judge_correct"] = sum(((r.judge_p or 0.0) >= 0.5) == r.case.supported for r in rows)
    return out


def render(results: Sequence[SuiteResult], info: dict[str, Any]) -> str:
    s = summary(results)
    lines = ["# Faithfulness suite", "", f"Suite `{info.get('suite')}`; judge {info.get('judge') or 'none'}.", "",
             f"- strict metrics: caught {s['caught']} of {s['adversarial']} adversarial answers; flagged "
             f"{s['controls_flagged']} of {s['controls']} faithful controls"]
    if "judge_accuracy" in s:
        lines.append(f"- judge: accuracy {s['judge_accuracy']:.3f} against the labels, AUC "
                     f"{s['judge_auc'] if s['judge_auc'] is None else round(s['judge_auc'], 3)}, agreement with the "
                     f"strict metrics {s['judge_agreement_with_strict']:.3f}; at its best threshold on this suite "
                     f"({s['judge_best_threshold']:.3f}, so an optimistic figure) accuracy {s['judge_best_accuracy']:.3f}")
    judge_col = "judge_correct" in next(iter(s["by_kind"].values()), {})
    lines += ["", "| kind | cases | strict correct |" + (" judge correct |" if judge_col else ""),
              "|---|---|---|" + ("---|" if judge_col else "")]
    for kind, row in s["by_kind"].items():
        lines.append(f"| {kind} | {row['cases']} | {row['strict_correct']} |"
                     + (f" {row['judge_correct']} |" if judge_col else ""))
    wrong = [r for r in results if not r.strict_correct]
    lines += ["", f"## Strict metrics wrong ({len(wrong)})", ""]
    lines += [f"- {r.case.id} ({r.case.kind}): {r.case.answer}" for r in wrong] or ["(none)"]
    return "\n".join(lines) + "\n"
