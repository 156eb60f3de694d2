"""What the stages before the model found for one question: the evidence, and the answerability decision.

``Pipeline.gather`` builds it; the pipeline then drafts from ``chosen``, and ``policybot calibrate`` fits the
reader's models on the same state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.answer import Scope
from bot.reader import answerable, evidence
from bot.retrieve.hybrid import SearchResult


@dataclass
class Gathered:
    """What the stages before the model found: the evidence and the answerability decision."""

    question: str
    standalone: str
    found: SearchResult
    expansions: list[str]
    terms: set[str]
    wanted: Callable[[str], bool] | None
    ranked: list[evidence.Evidence]
    chosen: list[evidence.Evidence]
    verdict: answerable.Verdict
    searched: str
    p_answerable: float | None = None
    threshold: float = 0.5
    answer_logit: float | None = None  # the sentence model's score of the best sentence
    model_yes: float | None = None  # the model's P(yes) that the chosen evidence states the answer
    scope: Scope | None = None  # what the search was restricted to (the caller's, or the documents the question named)
    asked: str = ""  # what the question asks, without a lead naming its document ("<title>: ..."); "" = question

    @property
    def what_is_asked(self) -> str:
        """The text the answer type, the sentence features and the answerability signals read."""
        return self.asked or self.question

    @property
    def answerable(self) -> bool:
        """The calibrated score decides when there is one (the rules' verdict is one of its features)."""
        if self.p_answerable is None:
            return self.verdict.answerable
        return bool(self.chosen) and self.p_answerable >= self.threshold

    @property
    def reason(self) -> str:
        if self.p_answerable is None or not self.chosen:
            return self.verdict.reason or "no passage is close enough to the question"
        return (f"the calibrated answerability {self.p_answerable:.2f} is below {self.threshold:.2f}"
                + (f" ({self.verdict.reason})" if self.verdict.reason else ""))
