"""Quoted answers (bot/reader/compose.py): verbatim evidence, cut to its best clauses, never carrying phantom citations."""

from __future__ import annotations

from bot.reader.compose import quote_answer, trim, words
from bot.reader.evidence import Evidence


def evidence(text: str) -> Evidence:
    return Evidence("d1", "Title", "d1.txt", "c1", 0, 0, len(text), text, 0, score=1.0)


def test_a_sources_own_footnote_markers_are_not_quoted_as_citations():
    item = evidence("The programme began in 2016 under the lead of one country[3][4], with a partner investing.")
    (text, cited), = quote_answer("When did the programme begin?", [], [item])
    assert "[3]" not in text and "[4]" not in text and "2016" in text and cited == [1]
    assert item.prompt_line(1) == "[1] The programme began in 2016 under the lead of one country, with a partner investing."


def test_a_long_sentence_is_cut_to_its_clauses_but_never_loses_the_kind_of_answer_asked_for():
    items = ", ".join(f"item number {i} of the plan" for i in range(1, 9))
    sentence = f"The plan names eight measures: {items}, and a final review."
    cut = trim(sentence, {"plan"}, 20)
    assert words(cut) < words(sentence) and "…" in cut
    whole = trim(sentence, {"plan"}, 20, wanted=lambda t: t.count("item number") == 8)
    assert whole == sentence  # the cut would drop list items the question asks for: the sentence is quoted whole


def test_a_quote_from_a_named_chinese_speaker_is_attributed_in_chinese():
    from bot.reader.compose import attributed
    from bot.reader.speakers import Speaker, chinese_speaker

    speaker = chinese_speaker("市卫生健康委员会副主任张建国在发布会上表示，全市将新增床位。")
    assert speaker == Speaker("张建国", "市卫生健康委员会副主任")
    item = evidence("全市将新增床位两千张。")
    item.speaker = speaker
    assert attributed(item, item.text) == "张建国表示：\u201c全市将新增床位两千张。\u201d"
    assert chinese_speaker("会议指出，要加快发展。") is None  # no person named: nobody to attribute it to
