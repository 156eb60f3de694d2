"""The adversarial faithfulness suite (eval/faithfulness.jsonl) against the independent metrics."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from bot.errors import UserInputError
from bot.evaluate.faithfulness_suite import auc, load_suite, run_suite, summary

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "eval" / "faithfulness.jsonl"
BENCHMARKS = ROOT.parent / "shared" / "benchmarks"


@pytest.fixture(scope="module")
def cases():
    return load_suite(SUITE, ROOT / "docs", BENCHMARKS)


def test_the_suite_covers_every_kind_of_mistake_over_three_documents(cases):
    adversarial = [c for c in cases if not c.supported]
    kinds = Counter(c.kind for c in adversarial)
    assert len(adversarial) >= 60 and sum(c.supported for c in cases) >= 20
    assert set(kinds) >= {"negation", "modality", "number", "date", "amount", "list_item", "entity",
                          "speaker_swap", "wrong_citation", "content"}
    assert min(kinds.values()) >= 4 and kinds["negation"] >= 8 and kinds["modality"] >= 8
    assert {c.source for c in cases} >= {"seed", "policyqa", "ncp_policy_qa"}
    assert {c.lang for c in cases} == {"en", "zh"}


def test_every_adversarial_answer_is_caught_by_the_strict_metrics(cases):
    missed = [r.case.id for r in run_suite(cases) if not r.case.supported and not r.flagged]
    assert missed == []


def test_no_faithful_control_is_flagged(cases):
    flagged = [(r.case.id, r.detail) for r in run_suite(cases) if r.case.supported and r.flagged]
    assert flagged == []


def test_a_judge_is_scored_against_the_labels_and_the_strict_metrics(cases):
    def says_yes_to_verbatim(sentence: str, passage: str) -> float:
        return 0.9 if sentence.rstrip(".。") in passage else 0.2

    s = summary(run_suite(cases, judge=says_yes_to_verbatim))
    assert 0 < s["judge_accuracy"] < 1 and s["judge_auc"] is not None
    assert 0 < s["judge_agreement_with_strict"] <= 1
    assert all("judge_correct" in row for row in s["by_kind"].values())


def test_auc_is_the_chance_a_positive_outscores_a_negative():
    assert auc([0.9, 0.8, 0.1], [True, True, False]) == 1.0
    assert auc([0.5, 0.5], [True, False]) == 0.5
    assert auc([0.3], [True]) is None


def test_a_changed_benchmark_span_is_detected(tmp_path: Path):
    line = json.loads(SUITE.read_text(encoding="utf-8").splitlines()[0])
    line["passages"]["1"]["sha1"] = "000000000000"
    bad = tmp_path / "s.jsonl"
    bad.write_text(json.dumps(line) + "\n", encoding="utf-8")
    with pytest.raises(UserInputError, match="changed"):
        load_suite(bad, ROOT / "docs", BENCHMARKS)
