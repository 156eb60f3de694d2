"""LLM-free scoring of answers, citations and retrieval. eval/README.md defines every metric.

Matching follows ../shared/benchmarks/README.md ("Scoring in plain words"): normalise (lowercase, fold
full-width, punctuation -> spaces, collapse whitespace); an alternative of Latin letters/digits must sit on word
boundaries, an alternative holding Chinese characters is a plain substring once whitespace is removed.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

SupportFn = Callable[[str, str], bool]
"""``supports(sentence, passage) -> bool``: the grounding check's support test (bot.reader.ground.supports)."""
Splitter = Callable[[str], Sequence[Any]]
"""``sentence_spans(text)``: (start, end) pairs or objects with ``.start``/``.end`` (bot.lang.text.sentence_spans)."""

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RE = re.compile(f"[{_CJK}]")
_TOKEN_RE = re.compile(f"[{_CJK}]|[^\\s{_CJK}]+")
_MARKER_RE = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?。！？；，])")
_MARKER_AFTER_STOP = re.compile(r"([.!?。！？；])((?:\s*\[\d+(?:\s*,\s*\d+)*\])+)")
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
        lead = re.match(r"^(\s*\[\d+(?:\s*,\s*\d+)*\])+", piece)
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


def first_gold_rank(doc_ids: Sequence[str], gold: Iterable[str], k: int = 10) -> int | None:
    """1-based rank of the first retrieved chunk from a gold document within the top ``k``, else None."""
    wanted = set(gold)
    for rank, doc_id in enumerate(doc_ids[:k], start=1):
        if doc_id in wanted:
            return rank
    return None


def auc(scores: Sequence[float], labels: Sequence[bool | int]) -> float | None:
    """Area under the ROC curve: the chance that a positive scores above a negative (ties count half);
    None without both classes."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not pos or not neg:
        return None
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default); None for no values."""
    data = sorted(values)
    if not data:
        return None
    pos = (len(data) - 1) * q
    low, high = math.floor(pos), math.ceil(pos)
    return data[low] + (data[high] - data[low]) * (pos - low)


class CaseResult(BaseModel):
    """One scored case as it appears in the JSON report."""

    id: str
    question: str
    lang: str
    answerable: bool
    answers: list[list[str]] = Field(default_factory=list, description="The expected answer groups.")
    gold_docs: list[str] = Field(default_factory=list)
    status: str = Field(description="answered, partial, refused, or error (the case raised).")
    text: str = ""
    citations: list[dict[str, Any]] = Field(default_factory=list)
    facts_matched: list[bool] = Field(default_factory=list)
    fact_recall: float | None = None
    answer_f1: float | None = None
    answer_words: int = 0
    citation: CitationStats = Field(default_factory=lambda: CitationStats(),
                                    description="Citations judged by the independent check (bot.evaluate.faithfulness).")
    pipeline_citation: CitationStats = Field(default_factory=lambda: CitationStats(),
                                             description="Citations judged by the pipeline's own support test.")
    invented: bool | None = Field(default=None, description="A reply with an unsupported claim or a flip.")
    unsupported_claims: int = 0
    polarity_flips: int = 0
    faithfulness: list[dict[str, Any]] = Field(default_factory=list,
                                               description="The flagged sentences: what is unsupported, which citation.")
    answer_source: str = Field(default="", description="model (its prose kept), quoted (evidence quoted), refused, error.")
    judge: list[dict[str, Any]] = Field(default_factory=list, description="Model judge: p(supported) per cited pair.")
    latency_s: float | None = None
    ttft_s: float | None = None
    retrieved_docs: list[str] = Field(default_factory=list, description="Doc ids of the hybrid top 10.")
    gold_rank: dict[str, int | None] = Field(default_factory=dict, description="Retrieval mode -> first gold rank.")
    error: str | None = None

    @property
    def replied(self) -> bool:
        """A non-refusal that did not fail: the answers whose length and citations are scored."""
        return self.status in ("answered", "partial")

    def correct(self) -> bool:
        """The benchmark rule: every group matched (answerable) or declined (unanswerable)."""
        if not self.answerable:
            return self.status == "refused"
        return self.replied and all(self.facts_matched)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def retrieval_metrics(results: Sequence[CaseResult], mode: str) -> dict[str, float | None]:
    """hit@1, hit@5 and mrr@10 over the answerable cases that name gold documents."""
    ranks = [r.gold_rank.get(mode) for r in results if r.answerable and r.gold_docs and mode in r.gold_rank]
    return {
        "hit@1": _mean([float(x is not None and x <= 1) for x in ranks]),
        "hit@5": _mean([float(x is not None and x <= 5) for x in ranks]),
        "mrr@10": _mean([1.0 / x if x else 0.0 for x in ranks]),
    }


def summarise(results: Sequence[CaseResult]) -> dict[str, float | int | None]:
    """Run-level metrics. A failed case (status error) scores 0 facts and counts as not refused."""
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    with_facts = [r for r in answerable if r.answers]
    replied = [r for r in results if r.replied]
    done = [r for r in results if r.status != "error"]
    cites = [r.citation for r in replied]
    own = [r.pipeline_citation for r in replied]
    judged = [j for r in replied for j in r.judge]
    words = [float(r.answer_words) for r in replied]
    return {
        "cases": len(results),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "errors": len(results) - len(done),
        "correct_rate": _mean([float(r.correct()) for r in results]),
        "fact_recall": _mean([(r.fact_recall or 0.0) if r.replied else 0.0 for r in with_facts]),
        "answer_f1": _mean([(r.answer_f1 or 0.0) if r.replied else 0.0 for r in with_facts]),
        "refusal_rate": _ratio(sum(r.status == "refused" for r in unanswerable), len(unanswerable)),
        "false_refusal_rate": _ratio(sum(r.status == "refused" for r in answerable), len(answerable)),
        "citation_precision": _ratio(sum(c.supported_citations for c in cites), sum(c.citations for c in cites)),
        "citation_recall": _ratio(sum(c.supported_sentences for c in cites), sum(c.sentences for c in cites)),
        "invented_rate": _mean([float(bool(r.invented)) for r in replied]),
        "unsupported_claims": sum(r.unsupported_claims for r in replied),
        "polarity_flips": sum(r.polarity_flips for r in replied),
        "pipeline_support": _ratio(sum(c.supported_citations for c in own), sum(c.citations for c in own)),
        "model_share": _mean([float(r.answer_source == "model") for r in done]),
        "quoted_share": _mean([float(r.answer_source == "quoted") for r in done]),
        "refused_share": _mean([float(r.answer_source == "refused") for r in done]),
        **judge_metrics(judged),
        "answer_words_p50": percentile(words, 0.5),
        **retrieval_metrics(results, "hybrid"),
        "latency_p50_s": percentile([r.latency_s for r in done if r.latency_s is not None], 0.5),
        "latency_p95_s": percentile([r.latency_s for r in done if r.latency_s is not None], 0.95),
        "ttft_p50_s": percentile([r.ttft_s for r in done if r.ttft_s is not None], 0.5),
    }


def judge_metrics(judged: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """The model judge's verdicts on cited pairs: how often it says supported, and how often it agrees with
    the strict check (bot.evaluate.faithfulness). Empty when no judge ran."""
    if not judged:
        return {}
    says = [float(j["p_supported"] >= 0.5) for j in judged]
    agree = [float((j["p_supported"] >= 0.5) == bool(j["strict_supported"])) for j in judged]
    return {"judge_support": _mean(says), "judge_agreement": _mean(agree)}


def by_lang(results: Sequence[CaseResult]) -> dict[str, dict[str, float | int | None]]:
    """:func:`summarise` per language, languages in sorted order."""
    langs = sorted({r.lang for r in results})
    return {lang: summarise([r for r in results if r.lang == lang]) for lang in langs}
