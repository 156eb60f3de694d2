"""The grounding check: what reaches the user is supported by the evidence it cites."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.reader.ground import check, cite, markers, support, supports

CRITERIA = "The selection criteria mainly include strategic significance, knowledge and technology, and industrial foundation."
GOALS = ("By 2030, these five major industrial clusters will become new economic growth points and create five "
         "future industrial science and technology parks (said by Wu Dongwen, deputy director of the Department)")
EVIDENCE = [CRITERIA, GOALS]


def test_a_faithful_sentence_is_supported() -> None:
    assert supports("The selection criteria include strategic significance and industrial foundation.", CRITERIA)


def test_a_fabricated_number_is_caught() -> None:
    result = support("By 2035, the clusters will create five science and technology parks.", GOALS)
    assert not result.ok and result.missing_numbers == {"2035"}


def test_five_does_not_stand_in_for_a_year() -> None:
    assert not supports("The plan will create 2035 science and technology parks.", GOALS)


def test_a_wrong_name_is_caught() -> None:
    result = support("Zou Yongbing said the clusters will create five parks by 2030.", GOALS)
    assert not result.ok and "zou" in result.missing_names


def test_an_invented_department_is_caught() -> None:
    assert not supports("The Shanghai Finance Bureau chose the industries by strategic significance.", CRITERIA)


def test_unrelated_content_is_not_supported() -> None:
    assert not supports("The weather in the province was pleasant this spring.", CRITERIA)


def test_check_keeps_supported_sentences_and_drops_the_rest() -> None:
    draft = ("The selection criteria include strategic significance and industrial foundation [1]. "
             "The province earmarked 10 billion yuan for the clusters [2].")
    checked = check(draft, EVIDENCE)
    assert [n for _, n in checked.sentences] == [[1]]
    assert len(checked.dropped) == 1 and "10 billion" in checked.dropped[0]


def test_out_of_range_citations_are_removed_and_the_sentence_reattached() -> None:
    checked = check("The selection criteria include strategic significance and industrial foundation [7].", EVIDENCE)
    assert checked.sentences and checked.sentences[0][1] == [1]


def test_a_sentence_citing_the_wrong_evidence_is_reattached_to_the_right_one() -> None:
    checked = check("By 2030 the clusters will create five science and technology parks [1].", EVIDENCE)
    assert checked.sentences[0][1] == [2]


def test_an_empty_generation_leaves_nothing() -> None:
    checked = check("", EVIDENCE)
    assert checked.sentences == [] and checked.dropped == []


def test_the_models_decline_is_noticed() -> None:
    assert check("NOT IN DOCUMENTS", EVIDENCE).model_declined


def test_cite_puts_markers_before_the_final_stop() -> None:
    assert cite("It grew.", [1, 2]) == "It grew [1][2]."
    assert cite("No stop", [3]) == "No stop [3]"


@given(st.lists(st.integers(min_value=1, max_value=999), min_size=1, max_size=4))
def test_markers_round_trip(numbers: list[int]) -> None:
    sentence = "Claim " + "".join(f"[{n}]" for n in numbers) + "."
    assert markers(sentence) == numbers


@given(st.text(max_size=200))
def test_check_never_crashes_and_never_cites_outside_the_evidence(draft: str) -> None:
    checked = check(draft, EVIDENCE)
    for _, numbers in checked.sentences:
        assert numbers and all(1 <= n <= len(EVIDENCE) for n in numbers)


def test_words_reassembled_into_a_false_claim_are_caught() -> None:
    passage = ("Guangdong will cultivate start-ups in the electronic information industry. Separately, the "
               "materials industry will strengthen international cooperation and talent exchange.")
    result = support("Guangdong exchange will strengthen electronic start-ups.", passage)
    assert result.overlap >= 0.6  # the words are all there ...
    assert not result.ok and result.pairs < 0.5  # ... but not in those relations
