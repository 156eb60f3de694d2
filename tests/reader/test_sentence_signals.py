"""The sentence model's date and edition signals (bot/reader/sentence_signals.py)."""

from __future__ import annotations

import pytest

from bot.reader.evidence import Evidence
from bot.reader.sentence_model import SENTENCE_FEATURES, Question, sentence_features
from bot.reader.sentence_signals import date_detail, edition


def item(text: str, rank: int = 0) -> Evidence:
    return Evidence("d1", "Title", "d1.txt", f"c{rank}", 0, 0, len(text), text, rank, score=0.5, meaning=0.5, words=0.5)


@pytest.mark.parametrize(("text", "detail"), [
    ("It opened on July 21, 2017.", 1.0),
    ("It opens on the 21st of July.", 1.0),
    ("It opened on 3/4/2019.", 1.0),
    ("该项目于2021年2月11日启动。", 1.0),
    ("It opened in May 2012.", 2 / 3),
    ("该项目于2021年2月启动。", 2 / 3),
    ("It is a 2017 game.", 1 / 3),
    ("该项目于2021年启动。", 1 / 3),
    ("据报道，该展会于21日开幕。", 1.0),  # a day of the month the text is about
    ("展会于本月21日开幕。", 1.0),
    ("申请人应在15日内提交材料。", 0.0),  # a duration, not a day
    ("近7日新增病例较少。", 0.0),
    ("该项目于三月五日启动。", 1.0),
    ("该项目于三月启动。", 2 / 3),
    ("It opened on NOV 15.", 1.0),
    ("It may open soon.", 0.0),  # the modal verb is not the month
    ("Members may 12 times a year ask for a copy.", 0.0),  # nor beside a figure
    ("The Mayor spoke at the Marching band parade.", 0.0),  # nor a word that begins with one
    ("No date here.", 0.0),
])
def test_date_detail_grades_the_most_precise_date_in_a_sentence(text: str, detail: float) -> None:
    assert date_detail(text) == pytest.approx(detail)


@pytest.mark.parametrize(("question", "text", "same", "other"), [
    ("When was Product 2 released?", "Product 2 came out in spring.", 1.0, 0.0),
    ("When was Product 2 released?", "Product 1 came out in 2015.", 0.0, 1.0),
    ("When was Product 2 released?", "Product 1 and Product 2 both sold well.", 1.0, 0.0),
    ("When was Product 2 released?", "It came out in 2015.", 0.0, 0.0),
    ("Who won the award in 2019?", "The 2018 award went to a newcomer.", 0.0, 1.0),
    ("Who won the award in 2019?", "The 2019 award went to a newcomer.", 1.0, 0.0),
    ("Who won the award in 2019?", "She won in 2018.", 0.0, 0.0),  # "in" binds no year to a thing
    ("Who won the award in 2019?", "The 2018 awards were held in spring.", 0.0, 1.0),  # plural, same thing
    ("第十四届运动会在哪里举办？", "第十三届运动会在海滨举办。", 0.0, 1.0),
    ("第十四届运动会在哪里举办？", "第十四届运动会在山城举办。", 1.0, 0.0),
    ("2021年博览会何时开幕？", "2020年博览会于秋季开幕。", 0.0, 1.0),
    ("第14届运动会在哪里举办？", "第十四届运动会在山城举办。", 1.0, 0.0),  # one number in two scripts
    ("What does Section 3.2 say?", "Section 3.1 is long.", 0.0, 1.0),
])
def test_edition_tells_the_questions_numbered_thing_from_another_of_its_numbers(
        question: str, text: str, same: float, other: float) -> None:
    assert edition(question, text) == (same, other)


def test_the_years_the_question_writes_are_no_date_but_its_month_leaves_the_day_readable() -> None:
    assert date_detail("The 2020 fair was large.", "When did the 2020 fair open?") == 0.0
    assert date_detail("It began on March 23, 2020.", "On which day in March 2020 did it begin?") == 1.0


def test_the_date_signal_reads_only_what_the_question_does_not_give_and_only_for_date_questions() -> None:
    items = [item("The 2020 fair opened on March 3."), item("The 2020 fair was large.", 1)]
    detail = SENTENCE_FEATURES.index("date_detail")
    rows = sentence_features(Question.of("When did the 2020 fair open?", "date", {"fair", "open"}), items, [])
    assert [r[detail] for r in rows] == [1.0, 0.0]  # the question's own year is no date of an answer
    rows = sentence_features(Question.of("Why did the 2020 fair open?", "open", {"fair", "open"}), items, [])
    assert [r[detail] for r in rows] == [0.0, 0.0]
