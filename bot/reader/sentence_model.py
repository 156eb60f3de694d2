"""Is this sentence the answer? A small logistic model, fitted on dev data, reads the reader's signals.

The hand-weighted evidence score (:func:`bot.reader.evidence.score`) adds meaning, words and an answer-type bonus with
weights chosen by hand. Here the same signals, and a few more (how a sentence compares with the other
candidates, whether its passage holds the question's names and figures, whether it names a person, place or
organisation when the question asks for one, how precise a date it gives
and whether it names the question's numbered thing with another number: :mod:`bot.reader.sentence_signals`), are
features of a logistic model fitted by ``policybot calibrate`` on the dev splits: its label is *the sentence holds
a gold answer*. Its probability orders the evidence and is the strongest feature of the answerability decision
(:mod:`bot.reader.calibration`). The answer-type rules are features here, never gates.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import ModelError
from bot.lang.cjk import chinese_names, count_cjk
from bot.llm.yes_no import NO, YES, p_yes
from bot.reader.calibration import Calibration
from bot.reader.sentence_signals import date_detail, edition

if TYPE_CHECKING:
    from bot.llm.prompts import Prompt
    from bot.reader.evidence import Evidence
    from bot.retrieve.hybrid import Passage

SENTENCE_FEATURES = (
    "meaning", "words", "passage_first", "passage_rank_inv", "meaning_gap", "words_gap", "meaning_rank_inv",
    "words_rank_inv", "typed_question", "typed", "anchored", "typed_x_meaning", "restates", "after_heading",
    "log_words", "has_figure", "question_figures_in", "question_names_in", "passage_cover", "names_entity",
    "keyword_first", "vector_first", "said_by", "evidence_score",
    "heading_meaning", "heading_words", "date_detail", "edition_same", "edition_other",
)
SENTENCE_FILE = Path(__file__).parent / "calibration" / "sentence.json"
_FIGURE = re.compile(r"\d|[一二三四五六七八九十百千万亿两]")
_LATIN_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+(?:\s[A-Z][a-z]+)*")


def entity_words(text: str) -> set[str]:
    """Names in ``text``: jieba's person, place and organisation tags (nr, ns, nt, nz) for Chinese, and runs
    of capitalised words not opening a sentence for Latin script."""
    out = {m.group(0).lower() for m in _LATIN_NAME.finditer(text)}
    return out | {word for word, _ in chinese_names(text)}


@dataclass
class Question:
    """What the sentence features need to know about the question, computed once per question."""

    text: str
    typed: bool  # the question asks for a date, number, name, place, ... (not an open why/how/what)
    figures: set[str]
    names: set[str]
    terms: set[str]
    kind: str = "open"

    @classmethod
    def of(cls, question: str, kind: str, terms: set[str]) -> Question:
        return cls(question, kind != "open", set(re.findall(r"\d+", question)), entity_words(question), terms, kind)


def sentence_features(q: Question, items: Sequence[Evidence], passages: Sequence[Passage]) -> list[list[float]]:
    """One row of :data:`SENTENCE_FEATURES` per candidate sentence (``items``, as :func:`bot.reader.evidence.score`
    left them), computed against the other candidates and the passages they came from."""
    from bot.reader.evidence import restates, terms_of

    if not items:
        return []
    by_meaning = {id(e): r for r, e in enumerate(sorted(items, key=lambda e: -e.meaning))}
    by_words = {id(e): r for r, e in enumerate(sorted(items, key=lambda e: -e.words))}
    best_meaning, best_words = max(e.meaning for e in items), max(e.words for e in items)
    chunk_text = {p.chunk.id: p.chunk.text for p in passages}
    chunk_terms = {cid: terms_of(text) for cid, text in chunk_text.items()}
    first = {p.chunk.id: (p.keyword_rank == 1, p.vector_rank == 1) for p in passages}
    rows = []
    for e in items:
        home = chunk_text.get(e.chunk_id, e.text)
        support = e.support_text
        kw, vec = first.get(e.chunk_id, (False, False))
        n_words = len(re.findall(r"\w+", e.text)) + count_cjk(e.text)
        rows.append([
            e.meaning, e.words, float(e.passage_rank == 0), 1.0 / (1 + e.passage_rank),
            e.meaning - best_meaning, e.words - best_words,
            1.0 / (1 + by_meaning[id(e)]), 1.0 / (1 + by_words[id(e)]),
            float(q.typed), float(e.typed), float(e.anchored), float(e.typed) * e.meaning,
            float(restates(e, q.terms)), float(bool(e.after_heading)), math.log(1 + n_words),
            float(bool(_FIGURE.search(e.text))),
            float(all(f in support for f in q.figures)) if q.figures else 1.0,
            sum(n in home.lower() for n in q.names) / len(q.names) if q.names else 1.0,
            len(q.terms & chunk_terms.get(e.chunk_id, set())) / len(q.terms) if q.terms else 0.0,
            float(bool(entity_words(e.text) - q.names)),
            float(kw), float(vec), float(e.speaker is not None),
            e.score, e.heading_meaning, e.heading_words,
            date_detail(e.text, q.text) if q.kind == "date" else 0.0, *edition(q.text, e.text),
        ])
    return rows


def model_judgement(model: object, prompt: Prompt, question: str, chosen: Sequence[Evidence]) -> float | None:
    """The configured model's P("yes") / (P("yes") + P("no")) that ``chosen`` states the answer to ``question``
    (``prompts/answerable``), read from its first-token distribution; None if the model cannot give one (a
    server, a test double) or fails."""
    logprobs = getattr(model, "next_token_logprobs", None)
    if logprobs is None or not chosen:
        return None
    passages = "\n".join(f"[{i}] {e.text}" for i, e in enumerate(chosen, start=1))
    try:
        return p_yes(logprobs(prompt.render(evidence=passages, question=question), YES + NO))
    except ModelError:
        return None


class SentenceModel:
    """The fitted sentence model: reorders the evidence by how likely each sentence is to be the answer."""

    def __init__(self, calibration: Calibration) -> None:
        self.calibration = calibration

    @property
    def ref(self) -> str:
        return f"sentence@{self.calibration.fitted_on.get('data_hash', '?')[:8]}"

    def logits(self, rows: Sequence[Sequence[float]]) -> list[float]:
        c = self.calibration
        return [sum(w * (v - m) / s for w, v, m, s in zip(c.weights, row, c.mean, c.scale, strict=True))
                for row in rows]

    def rerank(self, q: Question, ranked: list[Evidence], passages: Sequence[Passage]) -> tuple[list[Evidence], float]:
        """``ranked`` best first by the model, ``p_answer`` set on each (the softmax of the logits over the
        candidates: the chance that it is the one holding the answer, given one does); and the top logit."""
        if not ranked:
            return ranked, -10.0
        logits = self.logits(sentence_features(q, ranked, passages))
        top = max(logits)
        weights = [math.exp(z - top) for z in logits]
        total = sum(weights)
        for item, w in zip(ranked, weights, strict=True):
            item.p_answer = w / total
        return sorted(ranked, key=lambda e: -(e.p_answer or 0.0)), top


def load_sentence_model(setting: str) -> SentenceModel | None:
    """``off`` (or empty): none; ``shipped``: :data:`SENTENCE_FILE`; else the path of a sentence model file
    (``policybot calibrate`` writes ``sentence.json`` beside its answerability file)."""
    if setting in ("", "off"):
        return None
    path = SENTENCE_FILE if setting == "shipped" else Path(setting)
    return SentenceModel(Calibration.load(path, SENTENCE_FEATURES))
