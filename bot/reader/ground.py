"""The grounding check: every sentence that reaches a user is supported by the evidence it cites.

``supports(sentence, passage)`` is the one support test, used here and by the eval runner's citation metrics:

1. every number in the sentence appears in the passage (so "2035" cannot stand in for "five");
2. every name in the sentence (a capitalised word that is not the first word, or any Latin word in a Chinese
   sentence) appears in the passage, case-insensitively;
3. enough of the sentence's content is in the passage: at least ``MIN_OVERLAP`` of its content words (light
   stemming) for English, or of its character bigrams for Chinese;
4. the words keep their relations: at least ``MIN_PAIRS`` of the sentence's neighbouring content-word pairs
   occur within ``PAIR_WINDOW`` content words of each other in the passage, so "director of the Department of
   Information" cannot be assembled from "Department of Industry and Information Technology" and "director".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.lang.cjk import CJK_CHAR
from bot.lang.text import sentence_spans
from bot.lang.words import capitalised_names, content_words, numbers, stem, stems

MIN_OVERLAP = 0.6
MIN_PAIRS = 0.5
PAIR_WINDOW = 4
MIN_CONTENT = 2
MARKER = re.compile(r"\s*\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
def _sequence(text: str) -> list[str]:
    return [stem(w) for w in re.findall(r"[A-Za-z0-9]+(?:['’-][A-Za-z0-9]+)*", text)
            if w.lower() in content_words(w)]


def _pairs_kept(sentence: str, passage: str) -> float:
    """Share of the sentence's neighbouring content-word pairs found near each other in the passage."""
    seq = _sequence(sentence)
    pairs = list(zip(seq, seq[1:], strict=False))
    if not pairs:
        return 1.0
    where: dict[str, list[int]] = {}
    for i, w in enumerate(_sequence(passage)):
        where.setdefault(w, []).append(i)
    kept = sum(1 for a, b in pairs
               if any(abs(i - j) <= PAIR_WINDOW for i in where.get(a, ()) for j in where.get(b, ())))
    return kept / len(pairs)


def _bigrams(text: str) -> set[str]:
    chars = "".join(CJK_CHAR.findall(text))
    return {chars[i : i + 2] for i in range(len(chars) - 1)} or set(chars)


@dataclass(frozen=True)
class Support:
    ok: bool
    overlap: float
    missing_numbers: frozenset[str] = frozenset()
    missing_names: frozenset[str] = frozenset()
    pairs: float = 1.0


def support(sentence: str, passage: str) -> Support:
    """Why (or why not) ``passage`` supports ``sentence``."""
    sentence = MARKER.sub("", sentence)
    missing_numbers = frozenset(numbers(sentence) - numbers(passage))
    lowered = passage.lower()
    missing_names = frozenset(n for n in capitalised_names(sentence) if n not in lowered)
    if CJK_CHAR.search(sentence):
        grams = _bigrams(sentence)
        overlap = len(grams & _bigrams(passage)) / len(grams) if grams else 0.0
        latin = stems(sentence)
        if latin:
            overlap = min(overlap, len(latin & stems(passage)) / len(latin)) if grams else len(latin & stems(passage)) / len(latin)
        enough = len(grams) + len(latin) >= MIN_CONTENT
    else:
        words = stems(sentence)
        overlap = len(words & stems(passage)) / len(words) if words else 0.0
        enough = len(words) >= MIN_CONTENT
    pairs = 1.0 if CJK_CHAR.search(sentence) else _pairs_kept(sentence, passage)
    ok = enough and overlap >= MIN_OVERLAP and pairs >= MIN_PAIRS and not missing_numbers and not missing_names
    return Support(ok, overlap, missing_numbers, missing_names, pairs)


def supports(sentence: str, passage: str) -> bool:
    """True when ``passage`` supports ``sentence`` by the rules in this module's docstring."""
    return support(sentence, passage).ok


def markers(sentence: str) -> list[int]:
    return [int(n) for group in MARKER.findall(sentence) for n in re.split(r"\s*,\s*", group)]


@dataclass
class Checked:
    """The draft after the check: kept sentences with the evidence numbers that support them."""

    sentences: list[tuple[str, list[int]]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    model_declined: bool = False

    def text(self) -> str:
        return " ".join(cite(s, ns) for s, ns in self.sentences)


def cite(sentence: str, numbers_: list[int]) -> str:
    """Put citation markers before the sentence's final punctuation: "It grew [1][2]." """
    marks = "".join(f"[{n}]" for n in numbers_)
    if not marks:
        return sentence
    body = sentence.rstrip()
    if body and body[-1] in ".!?。！？":
        return f"{body[:-1]} {marks}{body[-1]}" if not CJK_CHAR.search(body[-2:]) else f"{body[:-1]}{marks}{body[-1]}"
    return f"{body} {marks}"


def check(draft: str, evidence: list[str], decline_marker: str = "NOT IN DOCUMENTS") -> Checked:
    """Keep the draft's sentences that the evidence they cite supports; drop the rest.

    ``evidence[i]`` is the support text of evidence number i+1 (sentence plus its attribution). Citations
    outside 1..len(evidence) are removed; a sentence citing the wrong number is re-attached to the evidence
    that supports it, if any.
    """
    result = Checked()
    if decline_marker.lower() in draft.lower():
        result.model_declined = True
        draft = re.sub(re.escape(decline_marker), "", draft, flags=re.IGNORECASE)
    seen: set[str] = set()
    for start, end in sentence_spans(draft):
        raw = draft[start:end].strip()
        cited = [n for n in markers(raw) if 1 <= n <= len(evidence)]
        body = MARKER.sub("", raw).strip()
        body = re.sub(r"\s+([.,;:!?。，；：！？])", r"\1", body)
        if not body or body.lower() in seen:
            continue
        good = [n for n in dict.fromkeys(cited) if supports(body, evidence[n - 1])]
        if not good:
            good = [i + 1 for i, passage in enumerate(evidence) if supports(body, passage)][:1]
        if good:
            result.sentences.append((body, good))
            seen.add(body.lower())
        else:
            result.dropped.append(raw)
    return result
