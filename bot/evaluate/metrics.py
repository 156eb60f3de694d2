"""LLM-free scoring of answers, citations and retrieval. eval/README.md defines every metric.

This module holds the scored case (:class:`CaseResult`), retrieval ranks and the run-level figures
(:func:`summarise`, :func:`by_lang`, AUC, percentiles). The answer-level scores (matching by the benchmark rule,
token F1, citation support) live in ``bot.evaluate.answer_metrics``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

from bot.evaluate.answer_metrics import CitationStats


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
    answer_type: str = Field(default="", description="What the reader took the question to ask for (open: no type).")
    model_declined: bool = Field(default=False, description="The model's draft declined (policybot calibrate "
                                                            "--declines-from fits, per model, whether to honour it).")
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
