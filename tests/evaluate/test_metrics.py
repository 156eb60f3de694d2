"""The eval metrics, on hand-made answers (LLM-free, fast)."""

from __future__ import annotations

import pytest

from bot.evaluate.answer_metrics import (
    CitationStats,
    answer_f1,
    answer_sentences,
    citation_stats,
    contains,
    fact_recall,
    facts_matched,
    normalize,
    token_f1,
    word_count,
)
from bot.evaluate.metrics import CaseResult, first_gold_rank, percentile, retrieval_metrics, summarise


def overlap_support(sentence: str, passage: str) -> bool:
    """Stand-in support test for unit tests: every word of the sentence occurs in the passage."""
    return set(normalize(sentence).split()) <= set(normalize(passage).split())


# --- normalisation and matching ------------------------------------------------------------------------


def test_normalize_lowercases_folds_full_width_and_turns_punctuation_into_spaces():
    assert normalize("Ｈello,  WORLD!\n２０３５—“ok”") == "hello world 2035 ok"


def test_a_number_matches_only_as_a_whole_number():
    assert not contains("The goals run to 2035.", "5")
    assert contains("Guangdong will create 5 parks.", "5")
    assert not contains("About 2030 and 2035", "203")


def test_a_word_matches_only_on_word_boundaries():
    assert not contains("The mayor spoke.", "may")
    assert contains("In May last year the group decided.", "may")


def test_matching_ignores_case_punctuation_and_hyphens():
    assert contains("The Future GREEN and Low-Carbon cluster", "green and low carbon")
    assert contains("the “10,000,000,000” talent action", "10,000,000,000")


def test_a_number_next_to_chinese_characters_still_matches():
    assert contains("到2030年建设五个园区", "2030")


def test_chinese_alternatives_match_as_substrings_ignoring_whitespace():
    assert contains("广东 将建设 五个 未来产业 科技园", "五个未来产业科技园")
    assert contains("到２０３５年", "2035年")
    assert not contains("广东将建设科技园", "五个")


def test_an_empty_alternative_never_matches():
    assert not contains("anything", " ,. ")


def test_facts_matched_needs_one_alternative_per_group():
    groups = [["Xu Zhangchao"], ["Sun Jing", "孙晶"], ["Guangdong Gongxing"]]
    assert facts_matched("Reporters Xu Zhangchao and Sun Jing wrote it.", groups) == [True, True, False]
    assert fact_recall("Reporters Xu Zhangchao and Sun Jing wrote it.", groups) == pytest.approx(2 / 3)


def test_fact_recall_is_none_without_answer_groups():
    assert fact_recall("The documents do not say.", []) is None


# --- F1 ---------------------------------------------------------------------------------------------------


def test_token_f1_counts_shared_tokens():
    # prediction 4 tokens, reference 2, both shared: precision 0.5, recall 1
    assert token_f1("the five science parks", "five parks") == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert token_f1("nothing shared", "five parks") == 0.0
    assert token_f1("", "five parks") == 0.0


def test_token_f1_uses_characters_for_chinese():
    # 3 of 5 characters shared in both directions
    assert token_f1("五个科技园", "五个产业园") == pytest.approx(0.6)


def test_answer_f1_takes_the_best_alternative_of_a_single_group():
    groups = [["lead the world", "world-leading future industry clusters will basically be formed"]]
    assert answer_f1("They will lead the world [1].", groups) == pytest.approx(token_f1("They will lead the world", "lead the world"))


def test_answer_f1_with_several_groups_scores_the_concatenation_of_best_alternatives():
    groups = [["Xu Zhangchao"], ["Sun Jing"]]
    # reply tokens: xu zhangchao and sun jing (5); reference: xu zhangchao sun jing (4); 4 shared
    assert answer_f1("Xu Zhangchao and Sun Jing [1].", groups) == pytest.approx(2 * 0.8 * 1 / 1.8)
    assert answer_f1("anything", []) is None


# --- length ---------------------------------------------------------------------------------------------


def test_word_count_ignores_markers_and_counts_each_chinese_character():
    assert word_count("Five parks by 2030 [1].") == 4
    assert word_count("五个科技园[1]") == 5
    assert word_count("Sora 模型 [2]") == 3


# --- citations ------------------------------------------------------------------------------------------


def test_sentences_keep_their_markers_and_markers_after_the_stop_belong_to_the_sentence_before():
    text = "Guangdong will create five parks [1]. Clusters will lead the world.[2] [3] Nothing cited here."
    assert answer_sentences(text) == [
        ("Guangdong will create five parks.", [1]),
        ("Clusters will lead the world.", [2, 3]),
        ("Nothing cited here.", []),
    ]


def test_citation_stats_checks_each_marker_against_its_own_passage():
    passages = {1: "Guangdong will create five parks by 2030.", 2: "Wu Dongwen said it."}
    text = "Guangdong will create five parks [1][2]. Wu Dongwen said it [2]. Sora shocked everyone."
    stats = citation_stats(text, passages, overlap_support)
    assert stats == CitationStats(citations=3, supported_citations=2, sentences=3, supported_sentences=2)


def test_a_marker_without_a_citation_is_unsupported():
    stats = citation_stats("Guangdong will create five parks [4].", {1: "Guangdong will create five parks"}, overlap_support)
    assert (stats.citations, stats.supported_citations, stats.supported_sentences) == (1, 0, 0)


def test_citation_stats_works_with_the_real_grounding_check_and_sentence_splitter():
    ground = pytest.importorskip("bot.reader.ground")
    text_mod = pytest.importorskip("bot.lang.text")
    passage = "By 2030, Guangdong will create five future industrial science and technology parks."
    good = "By 2030, Guangdong will create five future industrial science and technology parks [1]."
    wrong_number = "By 2035, Guangdong will create five future industrial science and technology parks [1]."
    ok = citation_stats(good, {1: passage}, ground.supports, text_mod.sentence_spans)
    bad = citation_stats(wrong_number, {1: passage}, ground.supports, text_mod.sentence_spans)
    assert (ok.supported_citations, ok.citations) == (1, 1)
    assert (bad.supported_citations, bad.citations) == (0, 1)


# --- retrieval and percentiles --------------------------------------------------------------------------


def test_first_gold_rank_is_one_based_and_limited_to_k():
    assert first_gold_rank(["a", "g", "g"], ["g"]) == 2
    assert first_gold_rank(["a"] * 10 + ["g"], ["g"], k=10) is None
    assert first_gold_rank([], ["g"]) is None


def _result(**kw: object) -> CaseResult:
    base: dict[str, object] = {"id": "c", "question": "q", "lang": "en", "answerable": True, "status": "answered"}
    base.update(kw)
    return CaseResult.model_validate(base)


def test_retrieval_metrics_use_only_answerable_cases_with_gold_documents():
    rows = [
        _result(gold_docs=["d"], gold_rank={"hybrid": 1}),
        _result(gold_docs=["d"], gold_rank={"hybrid": 4}),
        _result(gold_docs=["d"], gold_rank={"hybrid": None}),
        _result(gold_docs=["d"], gold_rank={"hybrid": 7}),
        _result(answerable=False, status="refused", gold_rank={"hybrid": None}),
    ]
    m = retrieval_metrics(rows, "hybrid")
    assert m["hit@1"] == pytest.approx(0.25)
    assert m["hit@5"] == pytest.approx(0.5)
    assert m["mrr@10"] == pytest.approx((1 + 1 / 4 + 0 + 1 / 7) / 4)
    assert retrieval_metrics(rows, "bm25") == {"hit@1": None, "hit@5": None, "mrr@10": None}


def test_percentile_interpolates_linearly():
    assert percentile([3.0, 1.0, 2.0, 4.0], 0.5) == pytest.approx(2.5)
    assert percentile(list(map(float, range(1, 11))), 0.95) == pytest.approx(9.55)
    assert percentile([], 0.5) is None


# --- run-level summary ----------------------------------------------------------------------------------


def test_summary_refusal_rates_fact_recall_and_citations():
    rows = [
        _result(answers=[["a"], ["b"]], fact_recall=0.5, facts_matched=[True, False], answer_words=10,
                citation=CitationStats(citations=2, supported_citations=2, sentences=2, supported_sentences=2)),
        _result(answers=[["a"]], fact_recall=1.0, facts_matched=[True], answer_words=30,
                citation=CitationStats(citations=2, supported_citations=1, sentences=1, supported_sentences=1)),
        _result(answers=[["a"]], status="refused", fact_recall=0.0, facts_matched=[False]),
        _result(answerable=False, status="refused"),
        _result(answerable=False, status="answered", answer_words=50,
                citation=CitationStats(citations=0, supported_citations=0, sentences=1, supported_sentences=0)),
        _result(answers=[["a"]], status="error", fact_recall=0.0, facts_matched=[False], error="boom"),
    ]
    m = summarise(rows)
    assert m["fact_recall"] == pytest.approx((0.5 + 1.0 + 0 + 0) / 4)
    assert m["refusal_rate"] == pytest.approx(0.5)
    assert m["false_refusal_rate"] == pytest.approx(1 / 4)
    assert m["citation_precision"] == pytest.approx(3 / 4)
    assert m["citation_recall"] == pytest.approx(3 / 4)
    assert m["answer_words_p50"] == pytest.approx(30)
    assert m["errors"] == 1
    assert m["correct_rate"] == pytest.approx(2 / 6)  # the full answer and the refused near miss


def test_a_refusal_that_repeats_the_question_scores_no_facts():
    row = _result(answers=[["five"]], status="refused", text="The documents do not say. Searched: five parks",
                  fact_recall=1.0, facts_matched=[True])
    assert summarise([row])["fact_recall"] == 0.0
    assert not row.correct()


def test_summary_of_no_unanswerable_cases_reports_refusal_rate_as_unknown():
    assert summarise([_result(answers=[["a"]], fact_recall=1.0)])["refusal_rate"] is None
