"""A refusal speaks the question's language: the fixed sentence and what was searched (bot.reader.refusal)."""

from __future__ import annotations

import pytest
from fakes import ScriptedModel

from bot.lang.cjk import has_cjk
from bot.reader.pipeline import build_pipeline
from bot.reader.refusal import is_searched_sentence, no_document_about, refusal_sentence, searched_sentence
from bot.settings import Settings


def test_a_chinese_question_is_refused_in_chinese_and_an_english_one_in_english() -> None:
    settings = Settings()
    assert refusal_sentence(settings, "这项计划的预算是多少？") == settings.refusal_text_zh
    assert has_cjk(settings.refusal_text_zh)
    assert refusal_sentence(settings, "What is the budget of the plan?") == settings.refusal_text
    # the question's language, not a name in it: an English question naming a Chinese body stays English
    assert refusal_sentence(settings, "What did 国家发展改革委 announce about the budget for next year?") \
        == settings.refusal_text


def test_what_was_searched_is_said_in_the_questions_language() -> None:
    english = searched_sentence("What is the budget?", 3)
    assert english == "Searched 3 documents for: \u201cWhat is the budget?\u201d."
    assert searched_sentence("Is it shared?", 1, of=4, within=["example.com"]) \
        == "Searched 1 document of 4, within example.com for: \u201cIs it shared?\u201d."
    chinese = searched_sentence("预算是多少？", 1, of=4, within=["通知"])
    assert chinese.startswith("已检索1份文件") and "共4份" in chinese and "通知" in chinese and "预算是多少？" in chinese
    assert "Searched" not in chinese
    assert no_document_about("example.com", "它收集哪些数据？").startswith("索引中没有")
    assert no_document_about("example.com", "What does it collect?").startswith("No indexed document")


@pytest.mark.slow
def test_the_pipeline_refuses_a_chinese_question_in_chinese(seed_settings, embeddings) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedModel("省里拨款100亿元 [1]。")
    pipeline = build_pipeline(seed_settings, model=model, embeddings=embeddings)
    answer = pipeline.answer("省里为这项计划拨款了多少元？")
    assert answer.status == "refused" and not answer.citations
    assert answer.text.startswith(seed_settings.refusal_text_zh) and "已检索1份文件" in answer.text
    assert "documents do not say" not in answer.text


def test_the_sentences_it_writes_are_told_from_a_bare_question_in_either_language() -> None:
    written = [searched_sentence("What is the budget?", 3), searched_sentence("预算是多少？", 2),
               no_document_about("example.com", "What does it collect?"), no_document_about("example.com", "它收集什么？")]
    assert all(is_searched_sentence(s) for s in written)
    assert not is_searched_sentence("earmarked budget for the plan") and not is_searched_sentence("预算是多少？")
