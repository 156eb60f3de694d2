"""The one contract every front end consumes: :class:`Answer` (DESIGN.md section 2).

The pipeline yields :class:`Token` events while the model writes, then exactly one :class:`Final`
carrying the checked :class:`Answer`. Front ends only format these; they never re-run retrieval.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

Status = Literal["answered", "partial", "refused"]


class Citation(BaseModel):
    """One numbered source: the passage a ``[n]`` marker in the answer text points to."""

    n: int = Field(description="The marker number used in the answer text, 1-based.")
    doc_id: str = Field(description="Document id: the file name without extension.")
    title: str
    path: str = Field(description="Source path relative to the docs folder.")
    text: str = Field(description="The cited passage (sentence or clause) exactly as in the source.")
    start: int = Field(description="Character offset of the passage in the normalised source.")
    end: int = Field(description="End offset (exclusive); source[start:end] == text.")
    score: float = Field(description="Retrieval/evidence score of the passage.")
    chunk_id: str = ""
    paragraph: int = 0
    highlight: list[str] = Field(default_factory=list, description="Words of the passage that support the answer.")


class Candidate(BaseModel):
    """A retrieval candidate as recorded in the trace."""

    chunk_id: str
    doc_id: str
    score: float
    vector_rank: int | None = None
    keyword_rank: int | None = None


class Trace(BaseModel):
    """How the answer was made: enough to reproduce and to debug it."""

    timings: dict[str, float] = Field(default_factory=dict, description="Seconds per stage.")
    model_id: str = ""
    model_hash: str = ""
    prompt_id: str = ""
    prompt_hash: str = ""
    index_hash: str = ""
    standalone_question: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_s: float | None = None
    candidates: list[Candidate] = Field(default_factory=list)
    dropped_sentences: list[str] = Field(default_factory=list, description="Model sentences the grounding check removed.")
    fallback: str = Field(default="", description="Why the answer is quoted evidence instead of model prose, if so.")
    supplemented: int = Field(default=0, description="Evidence sentences quoted after the model's own sentences: "
                              "each holds an answer of the kind asked that the model did not write.")
    searched: str = Field(default="", description="What was searched (for refusals).")
    scope: list[str] = Field(default_factory=list, description="The documents the search was restricted to: the "
                             "caller's scope, or those the question named by title (empty: every document).")
    p_answerable: float | None = Field(default=None, description="Calibrated probability that the question is "
                                                                 "answerable from the evidence found.")
    calibration: str = Field(default="", description="Which calibration decided it (bot/reader/calibration.py).")
    answer_type: str = Field(default="", description="What the question asks for (date, number, person, ..., open).")
    model_declined: bool = Field(default=False, description="The model's draft said the evidence holds no answer.")
    declines: str = Field(default="", description="Whether that decline was honoured, and by which rule "
                                                  "(bot/reader/declines.py).")


class Answer(BaseModel):
    text: str = Field(description="The answer with [n] citation markers.")
    citations: list[Citation] = Field(default_factory=list)
    status: Status
    trace: Trace = Field(default_factory=Trace)
    question: str = ""
    note: str = Field(default="", description="A line in the question's language that front ends show before the "
                      "text, e.g. that the answer is quoted from documents in another language; not a claim.")

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


@dataclass(frozen=True)
class Turn:
    """One earlier turn of a conversation, used to condense follow-up questions."""

    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True)
class Scope:
    """Optional metadata filter: restrict retrieval to these documents (by id, title or path)."""

    doc_ids: tuple[str, ...] = ()
    titles: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        return not (self.doc_ids or self.titles or self.paths)


@dataclass(frozen=True)
class Token:
    """A piece of the model's draft, streamed before the grounding check."""

    text: str


@dataclass(frozen=True)
class Progress:
    """A progress note for front ends (e.g. 'queued: 2 ahead', 'searching')."""

    message: str


@dataclass(frozen=True)
class Final:
    """The checked answer. Always the last event."""

    answer: Answer


Event = Token | Progress | Final


class AnswerService(Protocol):
    """What front ends need from the pipeline. ``bot.reader.pipeline.Pipeline`` implements it; tests use fakes."""

    def stream(
        self, question: str, history: list[Turn] | None = None, scope: Scope | None = None
    ) -> Iterator[Event]:
        """Yield Progress/Token events, then exactly one Final."""
        ...

    def answer(self, question: str, history: list[Turn] | None = None, scope: Scope | None = None) -> Answer: ...


class DocumentInfo(BaseModel):
    """One indexed document as listed on the documents tab and by `policybot docs`."""

    doc_id: str
    title: str
    path: str
    chunks: int
    indexed_at: str = Field(description="ISO-8601 time the document was (re)indexed.")


class AddResult(BaseModel):
    """Outcome of adding files through the library."""

    added: list[str] = Field(default_factory=list, description="Doc ids added or replaced.")
    failed: dict[str, str] = Field(default_factory=dict, description="File name -> reason it was not ingested.")


class DocumentLibrary(Protocol):
    """The corpus as the page's documents tab sees it. Changes are live for the next question."""

    def documents(self) -> list[DocumentInfo]: ...

    def add_files(
        self, paths: list[Path], progress: Callable[[float, str], None] | None = None
    ) -> AddResult: ...

    def remove(self, doc_id: str) -> bool: ...
