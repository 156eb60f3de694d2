"""Answer-level scoring, LLM-free: matching answer groups, token F1, and citation support per sentence.

Matching follows ../shared/benchmarks/README.md ("Scoring in plain words"): normalise (lowercase, fold
full-width, punctuation -> spaces, collapse whitespace); an alternative of Latin letters/digits must sit on word
boundaries, an alternative holding Chinese characters is a plain substring once whitespace is removed.
eval/README.md defines every metric; the run-level figures are in ``bot.evaluate.metrics``.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

SupportFn = Callable[[str, str], bool]
"""``supports(sentence, passage) -> bool``: the grounding check's support test (bot.reader.ground.supports)."""
Splitter = Callable[[str], Sequence[Any]]
"""``sentence_spans(text)``: (start, end) pairs or objects with ``.start``/``.end`` (bot.lang.text.sentence_spans)."""

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RE = re.compile(f"[{_CJK}]")
_TOKEN_RE = re.compile(f"[{_CJK}]|[^\\s{_CJK}]+")
_MARKER_RE = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")  # 1-3 digits: "[2023]" is a year
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?。！？；，])")
_MARKER_AFTER_STOP = re.compile(r"([.!?。！？；])((?:\s*\[\d{1,3}(?:\s*,\s*\d{1,3})*\])+)")
_FALLBACK_SENTENCE_RE = re.compile(r"[^.!?。！？；]+(?:[.!?。！？；]+|$)")


def is_cjk(char: str) -> bool:
    return bool(_CJK_RE.match(char))


def normalize(text: str) -> str:
    """Lowercase, fold full-width (NFKC), punctuation and symbols -> spaces, collapse whitespace."""
    folded = unicodedata.normalize("NFKC", text).lower()
    spaced = "".join(" " if unicodedata.category(c)[0] in "PS" else c for c in folded)
    return " ".join(spaced.split())


def _is_word_char(char: str) -> bool:
    return char.isalnum() and not is_cjk(char)


def contains(reply: str, alternative: str) -> bool:
    """Does ``alternative`` occur in ``reply`` by the benchmark rule? Both are normalised here."""
    alt = normalize(alternative)
    if not alt:
        return False
    text = normalize(reply)
    if _CJK_RE.search(alt):
        return alt.replace(" ", "") in text.replace(" ", "")
    start = text.find(alt)
    while start != -1:
        end = start + len(alt)
        before_ok = start == 0 or not _is_word_char(text[start - 1])
        after_ok = end == len(text) or not _is_word_char(text[end])
        if before_ok and after_ok:
            return True
        start = text.find(alt, start + 1)
    return False


def facts_matched(reply: str, groups: Sequence[Sequence[str]]) -> list[bool]:
    """One flag per answer group: does any of its alternatives occur in the reply?"""
    return [any(contains(reply, alt) for alt in group) for group in groups]


def fact_recall(reply: str, groups: Sequence[Sequence[str]]) -> float | None:
    """Share of answer groups matched; None when the case has no groups."""
    flags = facts_matched(reply, groups)
    return sum(flags) / len(flags) if flags else None


def tokens(text: str) -> list[str]:
    """Normalised tokens: each Chinese character is one token, other runs split on whitespace."""
    return _TOKEN_RE.findall(normalize(text))


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD-style F1 of the token multisets (no article or stop-word removal)."""
    pred, ref = tokens(prediction), tokens(reference)
    if not pred or not ref:
        return 0.0
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def answer_f1(reply: str, groups: Sequence[Sequence[str]]) -> float | None:
    """Token F1 of the reply against the concatenation of each group's best alternative.

    A group's best alternative is the one with the highest F1 against the reply (the first on ties); with one
    group this is simply the best F1 over its alternatives. None when the case has no groups.
    """
    text = strip_markers(reply)
    best = [max(group, key=lambda alt: token_f1(text, alt)) for group in groups if group]
    return token_f1(text, " ".join(best)) if best else None


def strip_markers(text: str) -> str:
    """The text without its ``[n]`` citation markers."""
    return _MARKER_RE.sub(" ", text)


def word_count(text: str) -> int:
    """Words of an answer, markers excluded; each Chinese character counts as one word."""
    return len(tokens(strip_markers(text)))


def marker_numbers(text: str) -> list[int]:
    """Citation numbers in order of appearance; ``[1, 2]`` gives 1 and 2."""
    return [int(n) for group in _MARKER_RE.findall(text) for n in group.split(",")]


class CitationStats(BaseModel):
    citations: int = Field(default=0, description="(sentence, marker) pairs in the answer.")
    supported_citations: int = Field(default=0, description="Pairs whose cited passage supports the sentence.")
    sentences: int = Field(default=0, description="Answer sentences (marker-only fragments are merged backwards).")
    supported_sentences: int = Field(default=0, description="Sentences with at least one supporting citation.")


def _spans(text: str, splitter: Splitter | None) -> list[tuple[int, int]]:
    if splitter is None:
        return [m.span() for m in _FALLBACK_SENTENCE_RE.finditer(text) if m.group().strip()]
    out: list[tuple[int, int]] = []
    for span in splitter(text):
        start, end = (span.start, span.end) if hasattr(span, "start") else span
        out.append((int(start), int(end)))
    return out


def answer_sentences(text: str, splitter: Splitter | None = None) -> list[tuple[str, list[int]]]:
    """(sentence without markers, its citation numbers). Markers that open a sentence or stand alone belong
    to the sentence before them ("... parks. [1] By 2035 ..." cites [1] for the first sentence)."""
    text = _MARKER_AFTER_STOP.sub(r"\2\1", text)  # "world.[2] Next" -> "world [2]. Next": split-friendly
    sentences: list[tuple[str, list[int]]] = []
    for start, end in _spans(text, splitter):
        piece = text[start:end]
        lead = re.match(r"^(\s*\[\d{1,3}(?:\s*,\s*\d{1,3})*\])+", piece)
        if lead and sentences:
            sentences[-1][1].extend(marker_numbers(lead.group()))
            piece = piece[lead.end() :]
        body = strip_markers(piece)
        numbers = marker_numbers(piece)
        if not tokens(body):
            if sentences:
                sentences[-1][1].extend(numbers)
            continue
        sentences.append((_SPACE_BEFORE_PUNCT.sub(r"\1", " ".join(body.split())), numbers))
    return sentences


def citation_stats(
    text: str, passages: Mapping[int, str], supports: SupportFn, splitter: Splitter | None = None
) -> CitationStats:
    """Score each sentence's citations with ``supports``; a marker without a citation is unsupported."""
    stats = CitationStats()
    for sentence, numbers in answer_sentences(text, splitter):
        stats.sentences += 1
        supported = [n for n in dict.fromkeys(numbers) if n in passages and supports(sentence, passages[n])]
        stats.citations += len(set(numbers))
        stats.supported_citations += len(supported)
        stats.supported_sentences += bool(supported)
    return stats
