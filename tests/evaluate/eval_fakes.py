"""Fakes for the eval runner's fast tests: a scripted answer service, a retriever with fixed ranks, a clock.

Shared by tests/evaluate/test_evaluate.py and tests/evaluate/test_eval_gate.py. The document and its passage are
made up: the runner's behaviour does not depend on what a document says.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from bot.answer import Answer, Citation, Event, Final, Progress, Scope, Token, Trace, Turn

DOC = "harbour-plan-2030"
PASSAGE = "By 2030, the harbour authority will open five research parks along the eastern waterfront."


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Hit:
    doc_id: str


class FakeService:
    """Scripted answers keyed by question; a question mapped to an exception raises it mid-stream."""

    def __init__(self, script: dict[str, Answer | Exception], clock: FakeClock) -> None:
        self.script, self.clock = script, clock
        self.calls: list[tuple[str, list[Turn] | None, Scope | None]] = []

    def stream(self, question: str, history: list[Turn] | None = None, scope: Scope | None = None) -> Iterator[Event]:
        self.calls.append((question, history, scope))
        yield Progress("searching")
        self.clock.now += 0.25
        outcome = self.script[question]
        if isinstance(outcome, Exception):
            raise outcome
        if outcome.status != "refused":
            yield Token(outcome.text[:10])
        self.clock.now += 1.0
        yield Final(outcome)

    def answer(self, question: str, history: list[Turn] | None = None, scope: Scope | None = None) -> Answer:
        raise NotImplementedError


class FakeRetriever:
    """Gold document first for hybrid, third for BM25, absent for vector search."""

    def __init__(self) -> None:
        self.queries: list[tuple[str, str]] = []

    def search(self, query: str, k: int | None = None, scope: Scope | None = None, mode: str | None = None) -> list[Hit]:
        self.queries.append((query, mode or ""))
        other = [Hit("other")] * 2
        return {"hybrid": [Hit(DOC), *other], "bm25": [*other, Hit(DOC)], "vector": other}[mode or "hybrid"][:k]


def cite(n: int, text: str = PASSAGE) -> Citation:
    return Citation(n=n, doc_id=DOC, title="t", path=f"{DOC}.txt", text=text, start=0, end=len(text), score=1.0)


def good_answer() -> Answer:
    return Answer(text=f"{PASSAGE[:-1]} [1].", citations=[cite(1)], status="answered",
                  trace=Trace(model_id="smol", prompt_id="answer@1", standalone_question="How many parks by 2030?"))


def refusal() -> Answer:
    return Answer(text="The documents do not say.", status="refused")
