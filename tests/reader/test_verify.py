"""The verifier that reads: an answer sentence passes only if it says what the passage it cites says.

Figures are copied exactly, nothing new is named or listed, and negation, modality and conditions are those of
the cited text, in English and Chinese. The eval's hand-labelled adversarial suite is the verifier's test set
(it is loaded here only for its sentences, passages and labels; the verifier shares no code with the eval).
Measure it with ``python -m pytest tests/reader/test_verify.py -q -k suite -s`` (the figures are printed).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.evaluate.faithfulness_suite import LabelledCase, load_suite
from bot.lang.text import normalize, paragraph_spans, sentence_spans
from bot.reader.ground import Checked, markers
from bot.reader.verify import screen, verify

ROOT = Path(__file__).resolve().parents[2]
SHARING = "We do not share your personal data with advertisers without your consent."
RETENTION = "Records must be kept for five years and may be deleted after 2030."
LIST = "The fund covers rent, equipment and training costs."


@pytest.fixture(scope="module")
def suite() -> list[LabelledCase]:
    return load_suite(ROOT / "eval" / "faithfulness.jsonl", ROOT / "docs", ROOT.parent / "shared" / "benchmarks")


def judged(case: LabelledCase) -> bool:
    return verify(case.answer, {n: case.passages[n] for n in markers(case.answer) if n in case.passages}).ok


# --- the adversarial suite -----------------------------------------------------------------------

def test_suite_every_adversarial_answer_is_rejected(suite: list[LabelledCase]) -> None:
    adversarial = [c for c in suite if not c.supported]
    passed = [c.id for c in adversarial if judged(c)]
    print(f"\nverifier: adversarial rejected {len(adversarial) - len(passed)}/{len(adversarial)}")
    assert len(adversarial) == 73 and passed == []


def test_suite_faithful_controls_are_accepted(suite: list[LabelledCase]) -> None:
    controls = [c for c in suite if c.supported]
    accepted = sum(judged(c) for c in controls)
    print(f"\nverifier: controls accepted {accepted}/{len(controls)}")
    assert len(controls) == 25 and accepted == 25


# --- negation and modality -----------------------------------------------------------------------

def test_a_dropped_or_added_negation_is_rejected() -> None:
    assert verify("We do not share your personal data with advertisers without your consent.", [SHARING]).ok
    dropped = verify("We share your personal data with advertisers without your consent.", [SHARING])
    assert not dropped.ok and "negation differs from [1]" in dropped.reasons[0]
    added = verify("The office does not publish the annual report.", ["The office publishes the annual report."])
    assert not added.ok and "negation" in added.reasons[0]
    assert not verify("The office doesn't publish the annual report.", ["The office publishes the annual report."]).ok


def test_a_non_prefix_is_a_negation_the_sentence_must_keep() -> None:
    source = ["The kinds of data we collect: non-personal information such as browser type and language."]
    assert verify("We collect non-personal information such as browser type and language.", source).ok
    dropped = verify("We collect personal information such as browser type and language.", source)
    assert not dropped.ok and "negation" in dropped.reasons[0]


def test_chinese_negation_is_read() -> None:
    passage = "企业应当支付其工资，不得解除劳动合同。"
    assert verify("企业不得解除劳动合同。", [passage]).ok
    assert not verify("企业解除劳动合同。", [passage]).ok
    for cue in ("不", "未", "没有", "无"):
        written = f"申请人{cue}提交材料。"
        assert verify(written, [written]).ok
        assert not verify(written, ["申请人提交材料。"]).ok, cue
        assert not verify("申请人提交材料。", [written]).ok, cue


def test_modality_must_be_the_passages() -> None:
    assert not verify("Records must be deleted after 2030.", [RETENTION]).ok  # 'may be deleted'
    assert not verify("Records may be kept for five years.", [RETENTION]).ok  # 'must be kept'
    assert not verify("The tenant shall not sublet the room.", ["The tenant may sublet the room."]).ok
    assert verify("Records must be kept for five years.", [RETENTION]).ok


def test_chinese_modality_must_be_the_passages() -> None:
    passage = "单位可以调整工作时间，应当保障职工休息。"
    assert verify("单位可以调整工作时间。", [passage]).ok
    assert not verify("单位应当调整工作时间。", [passage]).ok
    assert not verify("单位不得调整工作时间。", [passage]).ok
    assert not verify("单位可以保障职工休息。", [passage]).ok


def test_a_condition_the_clause_depends_on_must_be_kept() -> None:
    cut = verify("We do not share your personal data with advertisers.", [SHARING])
    assert not cut.ok and "condition" in cut.reasons[0]
    assert not verify("We share data unless you opt out.", ["We share data only if you opt in."]).ok


# --- figures, names, list items ------------------------------------------------------------------

def test_a_new_number_is_rejected() -> None:
    assert verify("Records must be kept for five years.", ["Records must be kept for 5 years."]).ok
    changed = verify("Records must be kept for seven years.", [RETENTION])
    assert not changed.ok and changed.reasons == ["number seven not in the cited passage"]
    assert verify("Records may be deleted after 2030.", [RETENTION]).ok
    assert "number 2035 not in the cited passage" in verify("Records may be deleted after 2035.", [RETENTION]).reasons
    assert not verify("补贴标准为每人每天300元。", ["补贴标准为每人每天200元。"]).ok


def test_a_new_name_is_rejected() -> None:
    passage = "The Example Council approved the budget on Monday."
    assert verify("The Example Council approved the budget.", [passage]).ok
    assert "new name 'Harbour Agency'" in verify("The Harbour Agency approved the budget on Monday.", [passage]).reasons
    assert "date 'Friday' not in the cited passage" in verify("The Example Council approved the budget on Friday.",
                                                              [passage]).reasons
    zh = "市政府批准了年度预算。"
    assert verify("市政府批准了年度预算。", [zh]).ok
    assert any(r.startswith("new name") for r in verify("北京市政府批准了年度预算。", [zh]).reasons)


def test_a_new_list_item_is_rejected() -> None:
    assert verify("The fund covers rent and training costs.", [LIST]).ok
    added = verify("The fund covers rent, equipment, travel and training costs.", [LIST])
    assert added.reasons == ["new list item 'travel'"]
    assert not verify("补助范围包括房租、设备、差旅和培训费用。", ["补助范围包括房租、设备和培训费用。"]).ok


def test_an_added_claim_is_rejected() -> None:
    assert not verify("We share your personal data with advertisers to improve prices.",
                      ["We share your personal data with advertisers."]).ok


# --- copies always pass --------------------------------------------------------------------------

def test_a_copied_sentence_or_clause_passes() -> None:
    assert verify(SHARING, [SHARING]).ok and verify(RETENTION + " [1]", [RETENTION]).ok
    assert verify("Records must be kept for five years [2].", {2: RETENTION}).ok
    assert verify("According to the notice, records must be kept for five years.", [RETENTION + " (the notice)"]).ok


def test_every_sentence_and_clause_of_the_documents_passes_against_its_paragraph() -> None:
    checked = 0
    for path in sorted((ROOT / "docs").glob("*.txt")):
        text = normalize(path.read_text(encoding="utf-8"))
        for a, b in paragraph_spans(text):
            paragraph = text[a:b]
            for s, e in sentence_spans(paragraph):
                sentence = paragraph[s:e]
                for piece in [sentence, *re.split(r"(?<=[;，；:：])|(?<=, )", sentence)]:
                    if len(piece.strip()) > 15:
                        checked += 1
                        assert verify(piece.strip(), [paragraph]).ok, piece
    assert checked > 50


def test_the_support_score_is_the_aligned_share() -> None:
    assert verify(LIST, [LIST]).support == 1.0
    assert 0.0 < verify("The fund covers rent and tuition for pupils.", [LIST]).support < 1.0


# --- the pipeline's screen -------------------------------------------------------------------------

def test_screen_drops_rejected_sentences_with_the_reason_and_recites_supported_ones() -> None:
    evidence = [LIST, RETENTION]
    checked = Checked(sentences=[("Records must be kept for five years.", [1]),
                                 ("Records must be kept for seven years.", [2]),
                                 ("The fund covers rent and training costs.", [1])], dropped=["earlier"])
    out = screen(checked, evidence)
    assert out.sentences == [("Records must be kept for five years.", [2]),
                             ("The fund covers rent and training costs.", [1])]
    assert out.dropped[0] == "earlier" and "number seven not in the cited passage" in out.dropped[1]


def test_a_negation_before_a_list_covers_every_item_a_sentence_copies_from_it() -> None:
    passage = "The office will not sell, rent, publish or share your address with anyone, except as the law requires."
    assert not verify("The office will publish or share your address with anyone, except as the law requires [1].",
                      [passage]).ok
    assert verify("The office will not sell, rent, publish or share your address with anyone, except as the law "
                  "requires [1].", [passage]).ok
    assert not verify("经营者可以出租、出借营业执照[1]。", ["经营者不得转让、出租、出借营业执照。"]).ok
    assert verify("The fund covers equipment and training costs [1].", [LIST]).ok  # a list without a cue: no change
