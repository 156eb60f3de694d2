"""Follow-up questions become standalone questions before retrieval.

"And who is in charge of it?" after "What is the flood relief fund?" is searched as
"And who is in charge of it? (about: What is the flood relief fund?)". The rule is deterministic so it
works with the tiny default model; the question shown to the model stays the user's own words plus the
subject it refers to.
"""

from __future__ import annotations

import re

from bot.answer import Turn
from bot.lang.cjk import count_cjk

_EN_REFERRING = re.compile(
    r"^\s*(and|also|but|so|then|what about|how about|and what|and how|and who|and when|and why)\b|"
    r"\b(it|its|it's|they|them|their|this|that|these|those|he|she|him|her|his|there|the same|such)\b",
    re.IGNORECASE,
)
_ZH_REFERRING = re.compile(r"^(那|还有|并且|而且|那么)|它|他们|她们|其|这个|那个|这些|那些|该|此")
_MAX_SUBJECT_CHARS = 300


def question_words(question: str) -> float:
    """Length of a question in words: Latin words, and Chinese at about two characters a word."""
    latin = re.findall(r"[A-Za-z0-9]+", question)
    return len(latin) + count_cjk(question) / 2


def is_follow_up(question: str) -> bool:
    """Refers back ("and who…", "it", 它, 这些 …) or is too short to stand alone (three words or fewer)."""
    return bool(_EN_REFERRING.search(question) or _ZH_REFERRING.search(question)) or question_words(question) <= 3


def condense(question: str, history: list[Turn] | None) -> str:
    """The question to search for: the question itself, or with the subject of the last user turn added."""
    if not history or not is_follow_up(question):
        return question
    earlier = [t.content.strip() for t in history if t.role == "user" and t.content.strip()]
    if not earlier:
        return question
    subject = earlier[-1][:_MAX_SUBJECT_CHARS]
    if subject.lower() == question.lower():
        return question
    return f"{question} (about: {subject})"
