"""A question whose leading part names an indexed document by title is scoped to it and scored on the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.retrieve.named import named_documents, unindexed_site

TITLES = {"shop": "shop.example.com", "news": "example.com", "plan": "Annual Transport Plan 2024",
          "notice": "关于做好春季招聘工作的通知", "faq": "FAQ"}


def test_a_leading_part_naming_a_title_scopes_the_question_and_is_cut_off() -> None:
    named = named_documents("shop.example.com privacy policy: Do you sell my personal data?", TITLES)
    assert named is not None
    assert named.doc_ids == ("shop",)  # the longer title wins over "example.com" inside it
    assert named.asked == "Do you sell my personal data?"
    assert named.scope.doc_ids == ("shop",)


def test_a_comma_lead_in_names_the_document_too() -> None:
    named = named_documents("According to the annual transport plan 2024, how many buses will be bought?", TITLES)
    assert named is not None and named.doc_ids == ("plan",)
    assert named.asked == "how many buses will be bought?"


def test_chinese_titles_match_without_word_boundaries() -> None:
    named = named_documents("根据关于做好春季招聘工作的通知：招聘会什么时候举行？", TITLES)
    assert named is not None and named.doc_ids == ("notice",) and named.asked == "招聘会什么时候举行？"


@pytest.mark.parametrize("question", [
    "What does the Annual Transport Plan 2024 say about buses?",  # named inside the question: retrieval decides
    "Privacy policy: do you sell my data?",  # no title named
    "FAQ: how do I reset my password?",  # a title too short to tell from a word
    "mail.shop.example.community: do you sell my data?",  # only whole titles, on word boundaries
    "shop.example.com: why?",  # what is left is not a question
    "",
])
def test_no_scope_unless_a_whole_long_title_stands_in_a_lead_of_its_own(question: str) -> None:
    assert named_documents(question, TITLES) is None


def test_several_documents_with_the_title_are_all_in_scope() -> None:
    named = named_documents("example.com terms: can I delete my account?", {"a": "example.com", "b": "example.com"})
    assert named is not None and named.doc_ids == ("a", "b")


def test_a_lead_naming_a_site_no_document_is_about_is_reported_not_searched_elsewhere() -> None:
    indexed = {"shop", "example"}.__contains__  # the words the indexed chunks hold
    ask = "Do you sell my personal data?"
    assert unindexed_site(f"other-site.org privacy policy: {ask}", TITLES, indexed) == "other-site.org"
    assert unindexed_site(f"www.other-site.org: {ask}", TITLES, indexed) == "other-site.org"
    assert unindexed_site(f"shop.example.com privacy policy: {ask}", TITLES, indexed) is None  # a title
    assert unindexed_site(f"example.net privacy policy: {ask}", {}, indexed) is None  # its name is in the text
    assert unindexed_site(f"Privacy policy: {ask}", TITLES, indexed) is None  # no site named
    assert unindexed_site("What does other-site.org say about cookies and tracking?", TITLES, indexed) is None
    assert unindexed_site("In the U.S., e.g. in section 3.b: do you sell my data?", TITLES, indexed) is None


POLICIES = {
    "alpha": ("alpha-store.com\n\nThis privacy policy describes the alpha-store.com privacy policy and applies to "
              "the alpha-store.com website and its privacy choices.\n\nWe do not sell your personal "
              "information to advertisers or data brokers.\n\nWe keep order records for seven years."),
    "beta": ("beta-travel.com\n\nThis privacy policy applies to beta-travel.com.\n\nWe sell your personal "
             "information to selected travel partners.\n\nWe keep booking records for two years."),
}


@pytest.mark.slow
def test_the_pipeline_answers_from_the_named_document_not_from_its_self_description(
        tmp_path: Path, embeddings) -> None:  # type: ignore[no-untyped-def]
    from fakes import ScriptedModel

    from bot.ingest.build import ingest
    from bot.reader.calibrate import _question
    from bot.reader.pipeline import build_pipeline
    from bot.settings import Settings

    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in POLICIES.items():
        (docs / f"{name}.txt").write_text(text, encoding="utf-8")
    settings = Settings(docs_dir=docs, index_dir=tmp_path / "index", data_dir=tmp_path / "data",
                        prompts_dir=Path(__file__).resolve().parents[2] / "prompts")
    ingest(settings, progress=False, embeddings=embeddings)
    pipeline = build_pipeline(settings, model=ScriptedModel(""), embeddings=embeddings)

    answer = pipeline.answer("alpha-store.com privacy policy: Do you sell my personal information?")
    assert {c.doc_id for c in answer.citations} == {"alpha"}
    assert "do not sell" in answer.text and "describes" not in answer.text
    assert answer.trace.standalone_question == "Do you sell my personal information?"
    assert answer.trace.scope == ["alpha"]
    # the question is read without its lead: "Does" after "...: " is the question's first word, not a name
    kept = pipeline.answer("alpha-store.com privacy policy: Does the website keep order records?")
    assert kept.status != "refused" and "seven years" in kept.text
    # what the reader's fitted models read is the question without its lead, at serve and at calibrate time alike
    gathered = pipeline.gather("alpha-store.com privacy policy: Does the website keep order records?")
    assert gathered.what_is_asked == "Does the website keep order records?"
    assert _question(gathered).names == set()  # calibrate's features: "Does" after the lead is not a name
    assert pipeline.gather("Do you keep order records?").what_is_asked == "Do you keep order records?"
    refused = pipeline.answer("alpha-store.com privacy policy: Which cruise ships does the company operate?")
    assert refused.status == "refused"
    assert "Searched 1 document of 2, within alpha-store.com for" in refused.trace.searched

    elsewhere = pipeline.answer("gamma-books.com privacy policy: Do you sell my personal information?")
    assert elsewhere.status == "refused" and not elsewhere.citations  # not beta-travel.com's "We sell ..."
    assert "No indexed document is about gamma-books.com." in elsewhere.text
