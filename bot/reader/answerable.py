"""Is the question answerable from the evidence found? The rules' verdict (the calibrated decision's feature).

The evidence must hold an answer of the kind asked for (``answer_types``), stand close enough to the question in
meaning and words, and cover the question's own subject; a question about a role nobody retrieved is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from bot.lang.words import capitalised_names, numbers
from bot.reader.answer_heads import LIST_QUESTION, counts, head_stem, head_term, mentions, phrase_head
from bot.reader.answer_types import (
    PERSON_NOUNS,
    QUESTION_TERMS,
    ROLE,
    SPEECH,
    TYPE_TERMS,
    WHO_SAID,
    AnswerType,
    answer_type,
    has_type,
)
from bot.reader.evidence import QUESTION_WORDS, Evidence, terms_of


@dataclass(frozen=True)
class Verdict:
    answerable: bool
    kind: AnswerType
    reason: str = ""


def _unquoted_role(question: str, ranked: list[Evidence]) -> str:
    """For "what did the X's spokesperson say ...": the role asked about if no quoted speaker holds it."""
    match = WHO_SAID.search(question)
    if not match:
        return ""
    roles = {m.group(0).lower() for m in ROLE.finditer(match.group(1))}
    said_by = " ".join(e.speaker.phrase().lower() for e in ranked if e.speaker)
    missing = sorted(r for r in roles if r not in said_by)
    return ", ".join(missing)


_PERSON_TERMS = frozenset(terms_of(" ".join(PERSON_NOUNS)))  # a who-question's role nouns, as evidence terms
COVER = 0.75  # share of the question's own words (those the retrieved text uses) the answering passage must hold


def _passage_cover(question: str, stems_of: list[tuple[set[str], Evidence]],
                   asked_numbers: set[str]) -> Callable[[Evidence], bool]:
    """A test for typed answers: does the passage holding this sentence also hold the question's own words, and
    every figure the question writes ("in 2021", "Q3")?

    "Who won the women's singles in 2021?" is not answered by a passage naming the men's winner of 2021, even
    if another retrieved passage mentions women's singles, nor by one about 2019. Words no retrieved passage uses
    are ignored (a paraphrase), and so are a Chinese question's words over English text; figures are not."""
    own = {t for t in terms_of(question) if t not in TYPE_TERMS and t not in QUESTION_TERMS
           and t not in QUESTION_WORDS}
    by_chunk: dict[str, set[str]] = {}
    figures: dict[str, set[str]] = {}
    for stems, item in stems_of:
        by_chunk.setdefault(item.chunk_id, set()).update(stems)
        if asked_numbers:
            figures.setdefault(item.chunk_id, set()).update(numbers(item.support_text))
    present = own & set().union(*by_chunk.values()) if by_chunk else set()

    def covered(item: Evidence) -> bool:
        words = not present or len(present & by_chunk[item.chunk_id]) >= COVER * len(present) - 1e-9
        return words and (not asked_numbers or asked_numbers <= figures[item.chunk_id])

    return covered


def judge(question: str, terms: set[str], evidence: list[Evidence], ranked: list[Evidence],
          min_score: float, min_meaning: float) -> Verdict:
    """Decide from the evidence whether the question can be answered from the documents.

    ``evidence`` is the selection given to the model; ``ranked`` every scored candidate sentence, which tells
    which of the question's words the retrieved text uses at all (the rarest of those is the key subject).
    """
    kind = answer_type(question)
    if not evidence or (evidence[0].score < min_score and max(e.meaning for e in evidence) < min_meaning):
        return Verdict(False, kind, "no passage is close enough to the question")
    context = " ".join(e.support_text for e in ranked).lower()
    unknown = [n for n in capitalised_names(question) if n not in context]
    if unknown:
        return Verdict(False, kind, f"the documents found do not mention {', '.join(sorted(unknown))}")
    asked_numbers = numbers(" ".join(re.findall(r"\d[\d,.]*\d|\d", question)))  # figures written in digits
    missing = asked_numbers - numbers(context)
    if missing:
        return Verdict(False, kind, f"the documents found do not mention {', '.join(sorted(missing))}")
    role = _unquoted_role(question, ranked)
    if role:
        return Verdict(False, kind, f"no one the documents found quote is described as {role}")
    if kind == "open":
        return Verdict(True, kind)
    if kind == "list":  # "what are the five X?": some sentence must enumerate, and name X
        head = head_stem(phrase_head(question[LIST_QUESTION.search(question).end():]))  # type: ignore[union-attr]
        if not any(mentions(e.support_text, head) for e in ranked):
            head = ""  # a generic word ("bodies") the text never uses: the enumeration is enough
        if any(has_type(kind, e.text, question) and (not head or mentions(e.support_text, head)) for e in ranked):
            return Verdict(True, kind)
        return Verdict(False, kind, "no passage lists what the question asks for")
    stems_of = [(terms_of(e.support_text), e) for e in ranked]
    covered = _passage_cover(question, stems_of, asked_numbers)
    if kind in ("number", "money"):
        head = head_term(question)
        if head and not any(mentions(e.support_text, head) for e in ranked):
            return Verdict(False, kind, f"the documents found do not mention {head}")
        for _, item in stems_of:
            if kind == "money":
                typed = has_type(kind, item.text, question) and (not head or mentions(item.text, head))
            else:  # a count of the head noun, else a quantity the question does not give (not a date)
                typed = counts(item.text, head) if head else has_type(kind, item.text, question)
            if typed and covered(item):
                return Verdict(True, kind)
        return Verdict(False, kind, f"no passage gives a {kind} for this question")
    if kind == "person" and not SPEECH.search(question):
        # "Which leader is in charge of X?": the person must be named in the sentence itself. Who *said* the
        # sentence (its attribution) answers only questions about what was said.
        typed_text = {id(e): e.text for e in ranked}
    else:
        typed_text = {id(e): e.support_text for e in ranked}
    asked_for = _PERSON_TERMS if kind == "person" else frozenset()
    subject = {t for t in terms if t not in TYPE_TERMS and t not in QUESTION_TERMS and t not in asked_for}
    df = {t: sum(1 for st, _ in stems_of if t in st) for t in subject}
    present = sorted((n, t) for t, n in df.items() if n > 0)
    key = {t for n, t in present if n == present[0][0]} if present else set()
    for st, item in stems_of:
        if (not key or key & st) and has_type(kind, typed_text[id(item)], question) and covered(item):
            return Verdict(True, kind)
    return Verdict(False, kind, f"no passage gives a {kind} for this question")
