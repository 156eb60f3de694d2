"""The eval's independent faithfulness metrics (bot.evaluate.faithfulness): strict, negation-aware, bilingual."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.evaluate.faithfulness import (
    check_answer,
    clauses,
    numbers,
    polarity,
    polarity_flips,
    sentence_citations,
    stem,
    unsupported_claims,
)

ROOT = Path(__file__).resolve().parents[2]


def kinds(sentence: str, *passages: str) -> list[str]:
    return [c.kind for c in unsupported_claims(sentence, passages)]


# --- the examples the eval issue was filed with ---------------------------------------------------------


def test_a_negated_privacy_claim_is_a_polarity_flip_against_the_positive_passage():
    flips = polarity_flips("We do not sell your personal information.",
                           {1: "We sell your personal information to advertisers."})
    assert len(flips) == 1 and "not" in flips[0].answer_cues and flips[0].citation == 1


def test_a_negated_plan_is_a_polarity_flip_against_the_plan():
    passage = "By 2030 Guangdong will create five future industrial science and technology parks."
    check = check_answer("Guangdong will not create five future industrial parks [1].", {1: passage})
    assert check.invented and check.polarity_flips == 1 and check.unsupported_claims == 0


def test_an_invented_list_item_and_an_invented_assignment_are_unsupported_claims():
    report = (ROOT / "docs" / "guangdong-five-future-industry-clusters.txt").read_text(encoding="utf-8")
    passage = next(line for line in report.splitlines() if "the future electronic information industry cluster," in line)
    answer = ("Wu Dongwen is assigned to the future electronic information industry cluster, the future intelligent "
              "equipment industry cluster, and the future transportation industry cluster [2].")
    check = check_answer(answer, {2: passage.strip()})
    claims = check.sentences[0].unsupported
    assert check.invented
    assert any(c.kind == "list_item" and "transportation" in c.text for c in claims)
    assert any(c.text == "assigned" for c in claims)


# --- unsupported claims ------------------------------------------------------------------------------------


def test_a_verbatim_sentence_with_a_framing_lead_is_supported():
    passage = "The agency will publish the audit results within 30 days, the director said."
    assert unsupported_claims("According to the passage, the agency will publish the audit results within 30 days.",
                              [passage]) == []


def test_a_changed_figure_is_unsupported_whatever_the_overlap_of_the_rest():
    passage = "The programme funds 12 pilot schools in the first year."
    assert kinds("The programme funds 13 pilot schools in the first year.", passage) == ["number"]


def test_figures_match_across_digits_words_and_chinese_numerals():
    assert numbers("10,000 yuan") >= {"10000"}
    assert "5" in numbers("five parks") and "5" in numbers("五个园区")
    assert "30000" in numbers("3万元") and "2035" in numbers("到2035年")
    assert unsupported_claims("Five parks will be built.", ["5 parks will be built."]) == []


def test_a_year_changed_is_a_date_claim_and_a_new_month_is_a_date_claim():
    assert kinds("The rule applies from 2026.", "The rule applies from 2025.") == ["date"]
    assert kinds("The meeting was held on March 3.", "The meeting was held on May 3.") == ["date"]


def test_a_new_name_or_organisation_is_unsupported():
    passage = "The ministry of health issued the notice."
    assert "name" in kinds("The ministry of health and Acme Corporation issued the notice.", passage)


def test_a_new_content_word_is_unsupported_and_inflections_are_not():
    assert kinds("We share cookies with advertisers.", "We share cookies with partners.") == ["content"]
    assert unsupported_claims("Industries were selected.", ["The industry was selected."]) == []
    assert stem("industries") == stem("industry") and stem("planning") == stem("plans")


def test_a_sentence_citing_nothing_that_exists_is_unsupported():
    check = check_answer("The fee is waived [3].", {1: "The fee is waived."})
    assert check.invented and check.sentences[0].unsupported[0].kind == "citation"


def test_chinese_words_must_occur_in_the_cited_passage():
    passage = "各地要加强疫情防控，严格落实登记制度。"
    assert unsupported_claims("各地要加强疫情防控。", [passage]) == []
    assert unsupported_claims("各地要加强经济补贴。", [passage])


def test_a_chinese_person_name_not_in_the_passage_is_a_name_claim():
    passage = "张伟表示，将加快建设新的产业园区。"
    assert "name" in kinds("李强表示，将加快建设新的产业园区。", passage)


# --- polarity and modality -------------------------------------------------------------------------------


@pytest.mark.parametrize("answer, passage", [
    ("Users may delete their data.", "Users must delete their data."),
    ("We share data with partners.", "We share data with partners only if you consent."),
    ("We share your data with partners.", "We never share your data with partners."),
    ("We can't keep the records.", "We can keep the records."),
    ("企业可以开展线下活动。", "企业不得开展线下活动。"),
    ("人员须返岗。", "人员未返岗。"),
    ("禁止举办大型聚集活动。", "举办大型聚集活动。"),
])
def test_negation_or_modality_that_differs_from_the_cited_clause_is_a_flip(answer: str, passage: str):
    assert polarity_flips(answer, {1: passage})


@pytest.mark.parametrize("answer, passage", [
    ("We collect your email address.", "We collect your email address, but we do not sell it."),
    ("We do not sell it.", "We collect your email address, but we do not sell it."),
    ("未来产业集群将加快发展。", "未来产业集群将加快发展。"),
    ("企业不断加强管理。", "企业不断加强管理。"),
])
def test_a_clause_is_compared_with_the_clause_it_restates_not_its_neighbours(answer: str, passage: str):
    assert polarity_flips(answer, {1: passage}) == []


def test_polarity_counts_negators_and_names_the_modal_class():
    parity, modal, cues = polarity("You must not share it")
    assert parity == 1 and modal == {"obligation"} and "not" in cues
    assert polarity("不得转让")[:2] == (0, frozenset({"prohibition"}))


def test_an_only_if_clause_stays_with_the_clause_it_qualifies():
    assert clauses("We share data, only if you consent, with partners") == [
        "We share data, only if you consent", "with partners"]


# --- answers ------------------------------------------------------------------------------------------


def test_markers_after_the_full_stop_belong_to_the_sentence_before():
    assert sentence_citations("It is 5. [1] It is 6 [2].") == [("It is 5.", [1]), ("It is 6.", [2])]
    assert sentence_citations("The rate is 3.5 per cent [1].") == [("The rate is 3.5 per cent.", [1])]


def test_each_citation_is_judged_on_its_own_passage():
    check = check_answer("The office opens at 9 [1, 2].", {1: "The office opens at 9.", 2: "Parking is free."})
    assert not check.invented and check.sentences[0].supported_citations == [1]


def test_an_uncited_sentence_is_checked_against_all_the_answers_passages():
    check = check_answer("The office opens at 9. It closes at 5 [1].", {1: "The office opens at 9 and closes at 5."})
    assert not check.invented
    assert check_answer("The office opens at 10. It closes at 5 [1].", {1: "The office opens at 9 and closes at 5."}).invented


def test_supported_citations_never_outnumber_the_citations_of_a_sentence():
    check = check_answer("The office opens at 9. It closes at 5 [1].", {1: "The office opens at 9 and closes at 5."})
    assert [s.supported_citations for s in check.sentences] == [[], [1]]


def test_sentences_split_at_full_stops_but_not_after_abbreviations_or_inside_decimals():
    from bot.evaluate.faithfulness import split_sentences

    assert split_sentences("It opens at 9. It closes at 5.") == ["It opens at 9.", "It closes at 5."]
    assert split_sentences("See No. 5 of the U.S. rules. Rate 3.5 applies.") == [
        "See No. 5 of the U.S. rules.", "Rate 3.5 applies."]
    assert split_sentences("一是加强防控。二是落实责任。") == ["一是加强防控。", "二是落实责任。"]


def test_irregular_past_forms_are_the_same_word():
    assert unsupported_claims("The awards took place on 5 January.", ["The awards will take place on 5 January."]) == []


def test_a_quote_trimmed_with_an_ellipsis_is_compared_clause_by_clause():
    passage = "We may use your contact information to tell you about offers, and about events hosted by our partners."
    assert polarity_flips("We may use your contact information … events hosted by our partners.", {1: passage}) == []


def test_a_sentence_ending_in_a_closing_quote_ends_there():
    from bot.evaluate.faithfulness import split_sentences

    assert split_sentences("He said “we act.” Then we left.") == ["He said “we act.”", "Then we left."]
    assert [cited for _, cited in sentence_citations("“We act.” [1] Then we left [2].")] == [[1], [2]]
    assert split_sentences("他说：“我们行动。”然后离开。") == ["他说：“我们行动。”", "然后离开。"]


def test_a_list_enumerator_is_not_a_sentence_that_asserts_a_figure():
    check = check_answer("1. The office opens at 9 [1].", {1: "The office opens at 9."})
    assert not check.invented and [s.sentence for s in check.sentences] == ["The office opens at 9."]


def test_a_marker_after_the_ellipsis_that_ends_a_cut_quote_cites_the_quote_before_it():
    text = "The office keeps your address; … [1] There are two kinds of data; … [2]"
    assert sentence_citations(text) == [("The office keeps your address;", [1]), ("There are two kinds of data;", [2])]
    assert sentence_citations("甲项适用；[1]乙项不适用。[2]") == [("甲项适用；", [1]), ("乙项不适用。", [2])]
    listed = "such as the bookings you make [1] You can read on for the full policy [2]"
    assert sentence_citations(listed) == [("such as the bookings you make", [1]), ("You can read on for the full policy", [2])]
    unmarked = "The application fee is 40 yuan [1] The review fee is 30 yuan."
    assert sentence_citations(unmarked) == [("The application fee is 40 yuan The review fee is 30 yuan.", [1])]
    assert sentence_citations("[Note] The fee is 40 yuan [2].") == [("[Note] The fee is 40 yuan.", [2])], \
        "a bracketed word is no citation marker: what follows it is the same sentence"
    assert sentence_citations("See [2023] The fee is 40 yuan [2].") == [("See [2023] The fee is 40 yuan.", [2])], \
        "nor is a bracketed year: markers have at most three digits, as the reader writes them"
    year = check_answer("The rule of [2023] sets the fee at 40 yuan [1].", {1: "The rule of [2023] sets the fee at 40 yuan."})
    assert not year.invented and year.sentences[0].citations == [1]
