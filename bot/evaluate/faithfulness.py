"""Independent faithfulness metrics: what an answer asserts that its cited passages do not say.

This module is the eval's own reader of answers. It shares no code with the pipeline's grounding check
(``bot.reader.ground``) or its text rules (``bot.lang.text``): a bug there cannot hide here. It is strict by design:

- ``unsupported_claims``: every number, date, amount, name, list item and content word of an answer sentence
  must occur in the passages the sentence cites (words compared by a light stem, Chinese words as substrings).
  A new figure or name is unsupported whatever the overlap of the rest.
- ``polarity_flips``: each clause of the sentence is aligned with the cited clause it shares most words with;
  the two must agree in negation (odd or even count of negators) and in modality (obligation, permission,
  prohibition, condition), in English and Chinese.
- An answer is *invented* when any sentence has an unsupported claim or a flip.

What it cannot see: paraphrase is counted as unsupported (a synonym is a new word here), translation across
languages likewise, and a claim built only from words the passage uses in another relation ("A funds B" from
"B funds A") passes. The optional model judge (``bot.evaluate.judge``) is the softer, learned second opinion.

Read ``bot.evaluate.faithfulness_text`` (words, stems, figures, sentences) and ``bot.evaluate.faithfulness_polarity`` (negation
and modality) for the rules this module applies.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.evaluate.faithfulness_polarity import Flip, polarity, polarity_flips
from bot.evaluate.faithfulness_text import (
    CN_NUMERAL,
    CURRENCY,
    FRAMING,
    HAN,
    LATIN_WORD,
    MONTHS,
    SCALES,
    STOPWORDS,
    WORD_NUMBERS,
    ZH_STOP,
    clauses,
    has_han,
    nfkc,
    numbers,
    sentence_citations,
    split_sentences,
    stem,
    zh_words,
)

__all__ = ["AnswerCheck", "Claim", "Flip", "SentenceCheck", "check_answer", "clauses", "numbers", "polarity",
           "polarity_flips", "sentence_citations", "split_sentences", "stem", "unsupported_claims"]

# --- what a text asserts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """One thing a sentence asserts that its cited passages do not contain."""

    kind: str  # number, date, amount, name, list_item, content, citation
    text: str
    citations: tuple[int, ...] = ()


@dataclass
class _Evidence:
    raw: str
    lower: str
    compact: str  # no whitespace, NFKC, lowercase: for Chinese substrings
    stems: set[str]
    figures: set[str]

    @classmethod
    def of(cls, text: str) -> _Evidence:
        folded = nfkc(text)
        return cls(folded, folded.lower(), re.sub(r"\s+", "", folded.lower()),
                   {stem(w) for w in LATIN_WORD.findall(folded)}, numbers(folded))

    def has_word(self, word: str) -> bool:
        if has_han(word):
            return re.sub(r"\s+", "", nfkc(word).lower()) in self.compact
        return stem(word) in self.stems


def _list_items(sentence: str) -> list[str]:
    """Items of an enumeration ('a, b and c', 'a、b和c'): three or more short parts."""
    parts = re.split(r"\s*(?:,|，|、|;|；)\s*(?:and\s+|or\s+)?|\s+(?:and|or)\s+|和|及|与|以及", sentence)
    parts = [p.strip() for p in parts if p and p.strip()]
    return parts if len(parts) >= 3 and all(len(p) <= 80 for p in parts[1:-1]) else []


def _is_name(word: str, position: int) -> bool:
    return word[:1].isupper() and (position > 0 or word.lower() not in STOPWORDS | FRAMING)


def unsupported_claims(sentence: str, passages: Iterable[str], citations: tuple[int, ...] = ()) -> list[Claim]:
    """What ``sentence`` asserts that none of ``passages`` contains (see the module docstring)."""
    evidence = [_Evidence.of(p) for p in passages]
    if not evidence:
        return [Claim("citation", sentence, citations)]
    folded = nfkc(sentence)
    claims: list[Claim] = []
    have_figures = set().union(*(e.figures for e in evidence))
    for value in sorted(numbers(folded) - have_figures):
        claims.append(Claim(_figure_kind(folded, value), value, citations))

    def found(word: str) -> bool:
        return any(e.has_word(word) for e in evidence)

    missing_words: list[tuple[str, str]] = []
    latin = LATIN_WORD.findall(re.sub(f"[{HAN}]+", " ", folded))
    for i, word in enumerate(latin):
        low = word.lower()
        if low in STOPWORDS or low in FRAMING or low in WORD_NUMBERS or low in SCALES or found(word):
            continue
        kind = "date" if low in MONTHS else "amount" if low in CURRENCY else "name" if _is_name(word, i) else "content"
        missing_words.append((kind, word))
    if has_han(folded):
        for word, flag in zh_words(re.sub(r"[A-Za-z0-9]+", " ", folded)):
            if not has_han(word) or word in ZH_STOP or word in FRAMING or flag[:1] in ("x", "w", "u", "p", "c", "y", "e", "o"):
                continue
            if flag.startswith("m") and CN_NUMERAL.fullmatch(word):
                continue  # a figure: compared by value above
            if not found(word):
                kind = "name" if flag.startswith(("nr", "ns", "nt", "nz")) else "content"
                missing_words.append((kind, word))
    items = _list_items(folded)
    reported: set[str] = set()
    for item in items[1:]:  # the first part also holds the sentence's lead-in: its words are reported alone
        gaps = [w for _, w in missing_words if w in item]
        if gaps:
            claims.append(Claim("list_item", item, citations))
            reported.update(gaps)
    claims += [Claim(kind, word, citations) for kind, word in missing_words if word not in reported]
    return claims


def _figure_kind(sentence: str, value: str) -> str:
    low = sentence.lower()
    if any(c in low for c in CURRENCY) or "%" in low or "元" in sentence:
        return "amount"
    if len(value) == 4 and value.startswith(("19", "20")):
        return "date"
    return "number"


# --- answers ---------------------------------------------------------------------------------------------


@dataclass
class SentenceCheck:
    sentence: str
    citations: list[int]
    unsupported: list[Claim] = field(default_factory=list)
    flips: list[Flip] = field(default_factory=list)
    supported_citations: list[int] = field(default_factory=list)

    @property
    def faithful(self) -> bool:
        return not self.unsupported and not self.flips


@dataclass
class AnswerCheck:
    sentences: list[SentenceCheck]

    @property
    def invented(self) -> bool:
        return any(not s.faithful for s in self.sentences)

    @property
    def unsupported_claims(self) -> int:
        return sum(len(s.unsupported) for s in self.sentences)

    @property
    def polarity_flips(self) -> int:
        return sum(len(s.flips) for s in self.sentences)

    def to_json(self) -> list[dict[str, Any]]:
        return [{"sentence": s.sentence, "citations": s.citations,
                 "unsupported": [{"kind": c.kind, "text": c.text, "citations": list(c.citations)} for c in s.unsupported],
                 "flips": [{"clause": f.clause, "passage_clause": f.passage_clause, "answer_cues": list(f.answer_cues),
                            "passage_cues": list(f.passage_cues), "citation": f.citation} for f in s.flips]}
                for s in self.sentences if not s.faithful]


def check_answer(text: str, passages: Mapping[int, str]) -> AnswerCheck:
    """Check every sentence of an answer against the passages its ``[n]`` markers cite. A sentence without a
    marker is checked against all of the answer's passages; a marker with no passage is itself a claim."""
    checks: list[SentenceCheck] = []
    for sentence, cited in sentence_citations(text):
        numbers_cited = list(dict.fromkeys(cited))
        dangling = [n for n in numbers_cited if n not in passages]
        own = {n: passages[n] for n in numbers_cited if n in passages} or (dict(passages) if not cited else {})
        check = SentenceCheck(sentence, numbers_cited)
        check.unsupported = [Claim("citation", f"[{n}]", (n,)) for n in dangling]
        check.unsupported += unsupported_claims(sentence, own.values(), tuple(own))
        check.flips = polarity_flips(sentence, own)
        check.supported_citations = [n for n in numbers_cited if n in passages
                                     and not unsupported_claims(sentence, [passages[n]])
                                     and not polarity_flips(sentence, {n: passages[n]})]
        checks.append(check)
    return AnswerCheck(checks)
