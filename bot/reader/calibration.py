"""Calibrated decisions: a small logistic model, fitted on dev data, turns the reader's signals into a probability.

The first decision it makes is *is the question answerable from what was found?* Its features are the reader's
own measurements (evidence score, meaning, word coverage, the rank agreement of vector and keyword search, the
answer-type rules' verdict as one signal among them, the question's language against the evidence's) and the
sentence model's judgement of the best sentence (:mod:`bot.reader.sentence_model`). The
weights, the threshold and what they were fitted on (cases, data hash, dev figures) live in a small versioned
JSON file (``bot/reader/calibration/answerable.json``); ``policybot calibrate`` refits it from the dev splits, so a user
can calibrate for their own embeddings, model and questions. The pipeline says which calibration it ran.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.errors import ConfigError
from bot.lang.cjk import CJK_CLASS, han_share

if TYPE_CHECKING:
    from bot.reader.gathered import Gathered

FEATURES = ("rule_verdict", "top_score", "top_meaning", "top_words", "score_gap", "question_cover",
            "passage_cover", "figures_in_passage", "names_in_passage", "keyword_first", "vector_first",
            "ranks_agree", "open_question", "question_zh", "cross_language", "answer_logit", "answer_share",
            "model_yes")
DEFAULT_FILE = Path(__file__).parent / "calibration" / "answerable.json"


def answerability_features(g: Gathered) -> list[float]:
    """The signals, in :data:`FEATURES` order, for one question and what the reader found for it."""
    from bot.reader.evidence import query_terms, terms_of

    chosen, ranked, asked = g.chosen, g.ranked, g.what_is_asked
    top = chosen[0] if chosen else None
    scores = [e.score for e in ranked]
    gap = scores[0] - scores[min(4, len(scores) - 1)] if scores else 0.0
    own = query_terms(asked, [])
    seen = set().union(*(terms_of(e.support_text) for e in chosen)) if chosen else set()
    cover = len(own & seen) / len(own) if own else 0.0
    best = g.found.passages[0] if g.found.passages else None
    keyword_first = float(best is not None and best.keyword_rank == 1)
    vector_first = float(best is not None and best.vector_rank == 1)
    # the passage that holds the best evidence: how much of the question, its figures and its names it holds
    home = next((p.chunk.text for p in g.found.passages if top and p.chunk.id == top.chunk_id), "")
    home_terms = terms_of(home)
    passage_cover = len(own & home_terms) / len(own) if own else 0.0
    figures = set(re.findall(r"\d+", asked))
    figures_in = float(all(f in home for f in figures)) if figures else 1.0
    names = set(re.findall(r"\b[A-Z][\w'-]+", asked[1:])) | set(re.findall(rf"[{CJK_CLASS}]{{2,}}", asked))
    names_in = sum(n.lower() in home.lower() for n in names) / len(names) if names else 1.0
    zh_q = han_share(asked) > 0.3
    zh_e = han_share(" ".join(e.text for e in chosen)) > 0.3 if chosen else zh_q
    return [float(g.verdict.answerable), top.score if top else 0.0, max((e.meaning for e in chosen), default=0.0),
            top.words if top else 0.0, gap, cover, passage_cover, figures_in, names_in, keyword_first, vector_first,
            keyword_first * vector_first,
            float(g.verdict.kind == "open"), float(zh_q), float(zh_q != zh_e),
            g.answer_logit if g.answer_logit is not None else 0.0, (top.p_answer or 0.0) if top else 0.0,
            g.model_yes if g.model_yes is not None else 0.5]


@dataclass
class Calibration:
    """A fitted logistic model over standardised features, with its decision threshold and provenance."""

    features: tuple[str, ...]
    mean: list[float]
    scale: list[float]
    weights: list[float]
    bias: float
    threshold: float
    fitted_on: dict[str, Any] = field(default_factory=dict)
    path: str = ""

    @property
    def ref(self) -> str:
        return f"answerable@{self.fitted_on.get('data_hash', '?')[:8]}"

    @property
    def asks_model(self) -> bool:
        """Was it fitted with the model's own judgement (``model_yes``)? Then the pipeline asks the model too."""
        return bool(self.fitted_on.get("model_judgement"))

    def p_answerable(self, x: Sequence[float]) -> float:
        z = self.bias + sum(w * (v - m) / s for w, v, m, s in zip(self.weights, x, self.mean, self.scale, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_json(self) -> dict[str, Any]:
        return {"decision": "answerable", "features": list(self.features), "mean": self.mean, "scale": self.scale,
                "weights": self.weights, "bias": self.bias, "threshold": self.threshold, "fitted_on": self.fitted_on}

    @classmethod
    def load(cls, path: Path, expected: tuple[str, ...] = FEATURES) -> Calibration:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            cal = cls(tuple(data["features"]), data["mean"], data["scale"], data["weights"], float(data["bias"]),
                      float(data["threshold"]), data.get("fitted_on", {}), str(path))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"Calibration file {path} cannot be read ({exc}). Fix: run `policybot calibrate --out "
                              f"{path}`, or set POLICYBOT_CALIBRATION=off.") from None
        if cal.features != expected:
            raise ConfigError(f"Calibration file {path} was fitted on other features ({', '.join(cal.features)}). "
                              "Fix: run `policybot calibrate` to refit it for this version.")
        return cal


def load_calibration(setting: str) -> Calibration | None:
    """``setting`` is ``off`` (or empty), ``shipped`` (:data:`DEFAULT_FILE`) or the path of a calibration file."""
    if setting in ("", "off"):
        return None
    return Calibration.load(DEFAULT_FILE if setting == "shipped" else Path(setting))
