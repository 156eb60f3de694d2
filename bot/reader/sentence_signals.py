"""Two signals of the sentence model that no answer-type rule gives: how precise a date a sentence states, and
whether it names the question's numbered thing with another number.

"When was Product 2 released?" is better answered by "released on July 21, 2017" than by "a 2017 game", and not
at all by "Product 1 was released in 2015": same name, other edition. Both are features of the fitted sentence
model (:mod:`bot.reader.sentence_model`), never gates; their weights come from ``policybot calibrate``.
"""

from __future__ import annotations

import re
from functools import lru_cache

from bot.lang.cjk import chinese_numeral
from bot.lang.words import singular, tokenize
from bot.reader.answer_types import MONTH_ABBR, MONTHS

_MONTH = rf"(?:{MONTHS}|{MONTH_ABBR})(?![a-z])"  # not "Mayor", "Marching"
_ORDINAL = r"\d{1,2}(?:st|nd|rd|th)?"
_ZH_NUMERAL = "[一二三四五六七八九十]{1,3}"
_DAY = re.compile(rf"\b{_MONTH}\s+{_ORDINAL}\b|\b{_ORDINAL}\s+(?:of\s+)?{_MONTH}|\b\d{{1,2}}/\d{{1,2}}/\d{{2,4}}\b|"
                  rf"\b\d{{4}}-\d{{1,2}}-\d{{1,2}}\b|(?:\d{{1,2}}|{_ZH_NUMERAL})\s*月\s*(?:\d{{1,2}}|{_ZH_NUMERAL})\s*[日号]|"
                  r"(?<![\d号近满逾续])\d{1,2}\s*日(?![内以])", re.I)  # "本月21日": the 21st; not "15日内", "近7日"
_MONTH_ONLY = re.compile(rf"\b{_MONTH}|(?:\d{{1,2}}|{_ZH_NUMERAL})\s*月", re.I)
_MONTH_WORD = re.compile(_MONTH, re.I)
_YEAR = re.compile(r"\b(?:19|20)\d\d\b|\d{4}\s*年")
_YEAR_FIGURE = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)")


def _written_as_month(match: re.Match[str]) -> bool:
    """A month is capitalised in English ("May 12", "NOV 15"): lowercase "may 12" is the modal verb; a date
    written in figures or in Chinese has no month word to check."""
    word = _MONTH_WORD.search(match.group(0))
    return word is None or word.group(0)[0].isupper()


def date_detail(text: str, question: str = "") -> float:
    """How precise the most precise date in ``text`` is: 1 for a day ("July 21", "21st July", "7月21日", "21日"),
    2/3 for a month, 1/3 for a year alone, 0 for none. The years ``question`` writes are not read, so "the 2020
    fair" gives no date for "when did the 2020 fair open?", while "March 23, 2020" still gives a day for "which
    day in March 2020 ...?"."""
    for year in set(_YEAR_FIGURE.findall(question)):
        text = text.replace(year, "·")
    if any(_written_as_month(m) for m in _DAY.finditer(text)):
        return 1.0
    if any(_written_as_month(m) for m in _MONTH_ONLY.finditer(text)):
        return 2 / 3
    return 1 / 3 if _YEAR.search(text) else 0.0


_FIGURE = r"\d+(?:\.\d+)*"  # "Section 3.2" is not "Section 3.1"
# words are bounded ({1,40}) so that a run of hyphens cannot make the scan quadratic
_WORD_THEN_FIGURE = re.compile(rf"\b([A-Za-z][A-Za-z'’-]{{1,40}})\s+({_FIGURE}[A-Za-z]?)\b")
_FIGURE_THEN_WORD = re.compile(rf"\b({_FIGURE}(?:st|nd|rd|th)?)\s+([A-Za-z][A-Za-z'’-]{{1,40}})")
_ZH_ORDINAL = re.compile(r"第\s*([\d一二三四五六七八九十百零〇]+)\s*([届季次期轮部集])")
_ZH_YEAR_THEN = re.compile(r"(\d{4})\s*年\s*([\u4e00-\u9fff]{2})")

Pairs = dict[tuple[str, str], set[str]]


def _pairs(text: str) -> Pairs:
    """(neighbour, side) -> the figures beside it: "Product 2" gives ("product", "after") -> {"2"}; "the 2019
    award" gives ("award", "before") -> {"2019"}; "第十四届" gives ("届", "zh-ordinal") -> {"十四"}. A neighbour
    that is a stop word ("in 2021") binds nothing."""
    out: Pairs = {}
    for word, figure in _WORD_THEN_FIGURE.findall(text):
        if tokenize(word):
            out.setdefault((singular(word.lower()), "after"), set()).add(figure.lower())
    for figure, word in _FIGURE_THEN_WORD.findall(text):
        if tokenize(word):
            out.setdefault((singular(word.lower()), "before"), set()).add(re.sub(r"[^\d.]", "", figure))
    for figure, unit in _ZH_ORDINAL.findall(text):  # 第14届 is 第十四届
        value = figure if figure.isdigit() else chinese_numeral(figure)
        out.setdefault((unit, "zh-ordinal"), set()).add(str(int(value)) if value is not None else figure)
    for year, following in _ZH_YEAR_THEN.findall(text):
        out.setdefault((following, "zh-year"), set()).add(year)
    return out


@lru_cache(maxsize=256)
def _question_pairs(question: str) -> tuple[tuple[tuple[tuple[str, str], frozenset[str]], ...], frozenset[str],
                                            frozenset[str]]:
    """The question's pairs, its years, and its words (lowercased) that a year in an answer may stand beside."""
    words = frozenset(singular(w.lower()) for w in re.findall(r"[A-Za-z][A-Za-z'’-]+", question) if tokenize(w))
    years = frozenset(_YEAR_FIGURE.findall(question))
    return tuple((key, frozenset(figures)) for key, figures in _pairs(question).items()), years, words


def edition(question: str, text: str) -> tuple[float, float]:
    """(same, other): does ``text`` name a numbered thing of the question with the question's number ("Product
    2" for "Product 2"), and does it name one only with another number ("Product 1"; "the 2018 award" for "the
    award winner in 2019": a year beside one of the question's words is read against the question's years)?"""
    asked, years, words = _question_pairs(question)
    if not asked and not years:
        return 0.0, 0.0
    found = _pairs(text)
    same = other = False
    for (word, side), figures in found.items():  # "the 2018 award" against "the award winner in 2019"
        held = {f for f in figures if _YEAR_FIGURE.fullmatch(f)}
        if held and years and side in ("before", "after") and word in words:
            same, other = same or bool(held & years), other or not held & years
    for key, asked_figures in asked:
        there = found.get(key)
        if not there:
            continue
        if there & asked_figures:
            same = True
        else:
            other = True
    return float(same), float(other and not same)
