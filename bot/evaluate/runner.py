"""The offline eval runner: load cases, run each through the same pipeline as the page and webhook, score.

``policybot eval`` is ``bot.evaluate.cli``; reports and the regression gate live in ``bot.evaluate.report``; the
metrics in ``bot.evaluate.metrics`` and, judged independently of the pipeline, ``bot.evaluate.faithfulness``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from tqdm import tqdm

from bot.answer import Answer, AnswerService, Final, Scope, Token, Turn
from bot.errors import UserInputError
from bot.evaluate.answer_metrics import (
    CitationStats,
    SupportFn,
    citation_stats,
    fact_recall,
    facts_matched,
    word_count,
)
from bot.evaluate.answer_metrics import answer_f1 as score_f1
from bot.evaluate.faithfulness import check_answer
from bot.evaluate.metrics import CaseResult, by_lang, first_gold_rank, retrieval_metrics, summarise
from bot.evaluate.report import Report

log = logging.getLogger(__name__)

RETRIEVAL_MODES = ("hybrid", "bm25", "vector")
RETRIEVAL_K = 10


class HistoryTurn(BaseModel):
    role: Literal["user", "assistant"]
    content: str


class Case(BaseModel):
    """One line of a cases file (the format of ../shared/benchmarks/*/cases.jsonl)."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    answers: list[list[str]] = Field(default_factory=list)
    gold_docs: list[str] = Field(default_factory=list)
    answerable: bool
    lang: Literal["en", "zh"]
    split: Literal["dev", "test"] = Field(default="dev", description="Missing means dev.")
    history: list[HistoryTurn] = Field(default_factory=list)
    scope: Scope | None = None

    @field_validator("scope", mode="before")
    @classmethod
    def _scope(cls, value: Any) -> Any:
        """A scope is a doc id, a list of doc ids, or {"doc_ids"|"titles"|"paths": [...]}."""
        if value is None or isinstance(value, Scope):
            return value
        if isinstance(value, str):
            return Scope(doc_ids=(value,))
        if isinstance(value, list):
            return Scope(doc_ids=tuple(str(v) for v in value))
        if isinstance(value, dict) and set(value) <= {"doc_ids", "titles", "paths"}:
            return Scope(**{k: tuple(str(v) for v in value[k]) for k in value})
        raise ValueError('scope must be a doc id, a list of doc ids, or {"doc_ids": [...]}')

    @model_validator(mode="after")
    def _consistent(self) -> Case:
        if not self.answerable and self.answers:
            raise ValueError("answers must be empty when answerable is false")
        if any(not group for group in self.answers):
            raise ValueError("every answer group needs at least one alternative")
        return self

    def turns(self) -> list[Turn]:
        return [Turn(role=t.role, content=t.content) for t in self.history]


def load_cases(path: Path | str) -> list[Case]:
    """Read a JSON Lines cases file. Bad lines raise UserInputError naming the line and field."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"Cases file {path} not found. Fix: pass --cases FILE (e.g. eval/seed.jsonl).")
    cases: list[Case] = []
    seen: dict[str, int] = {}
    unknown: dict[str, int] = {}
    known = set(Case.model_fields)
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserInputError(f"{path}:{lineno}: not valid JSON ({exc.msg}, column {exc.colno}).") from None
        if not isinstance(raw, dict):
            raise UserInputError(f"{path}:{lineno}: expected a JSON object, got {type(raw).__name__}.")
        try:
            case = Case.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "(case)"
            raise UserInputError(f"{path}:{lineno}: field '{field}': {err['msg']}.") from None
        for name in raw.keys() - known:
            unknown.setdefault(name, lineno)
        if case.id in seen:
            raise UserInputError(f"{path}:{lineno}: field 'id': '{case.id}' already used on line {seen[case.id]}.")
        seen[case.id] = lineno
        cases.append(case)
    for name, lineno in sorted(unknown.items()):
        log.warning("%s: ignoring unknown field '%s' (first on line %d)", path, name, lineno)
    if not cases:
        raise UserInputError(f"Cases file {path} holds no cases. Fix: one JSON object per line.")
    return cases


class SearchBackend(Protocol):
    """What the runner needs from ``bot.retrieve.hybrid.Retriever``."""

    def search(self, query: str, k: int | None = ..., scope: Scope | None = ..., mode: Any = ...) -> Sequence[Any]: ...


def _default_support() -> SupportFn:
    from bot.reader.ground import (
        supports,  # the grounding check's own test (imported late: it loads jieba lazily)
    )

    return supports


def _ask(service: AnswerService, case: Case, clock: Callable[[], float]) -> tuple[Answer, float, float | None]:
    """Run one case through ``service.stream``: the answer, its latency, and the time to the first token."""
    start = clock()
    first_token: float | None = None
    answer: Answer | None = None
    for event in service.stream(case.question, case.turns() or None, case.scope):
        if isinstance(event, Token) and first_token is None and event.text:
            first_token = clock() - start
        elif isinstance(event, Final):
            answer = event.answer
    latency = clock() - start
    if answer is None:
        raise RuntimeError("the stream ended without a Final event")
    ttft = answer.trace.ttft_s if answer.trace.ttft_s is not None else first_token
    return answer, latency, ttft


def answer_source(answer: Answer) -> str:
    """Who wrote the reply: the model (its prose survived the check), quoted evidence, or a refusal."""
    if answer.status == "refused":
        return "refused"
    return "quoted" if "quoted" in answer.trace.fallback else "model"


JudgeFn = Callable[[str, str], float]


def _faithfulness(text: str, passages: dict[int, str], judge: JudgeFn | None = None) -> dict[str, Any]:
    """The independent check (bot.evaluate.faithfulness): per-sentence claims and flips, and citation stats from it;
    with a judge, its probability for every (sentence, cited passage) pair beside the strict verdict."""
    check = check_answer(text, passages)
    judged = [{"sentence": s.sentence, "citation": n, "p_supported": round(judge(s.sentence, passages[n]), 4),
               "strict_supported": n in s.supported_citations}
              for s in check.sentences for n in s.citations if n in passages] if judge else []
    stats = CitationStats(citations=sum(len(s.citations) for s in check.sentences),
                          supported_citations=sum(len(s.supported_citations) for s in check.sentences),
                          sentences=len(check.sentences), supported_sentences=sum(s.faithful for s in check.sentences))
    return {"citation": stats, "invented": check.invented, "unsupported_claims": check.unsupported_claims,
            "polarity_flips": check.polarity_flips, "faithfulness": check.to_json(), "judge": judged}


def _score(case: Case, answer: Answer, support: SupportFn, splitter: Callable[[str], Sequence[Any]],
           judge: JudgeFn | None = None) -> dict[str, Any]:
    replied = answer.status != "refused"
    matched = facts_matched(answer.text, case.answers) if replied else [False] * len(case.answers)
    recall = fact_recall(answer.text, case.answers) if replied else (0.0 if case.answers else None)
    f1 = score_f1(answer.text, case.answers) if replied else (0.0 if case.answers else None)
    passages = {c.n: c.text for c in answer.citations}
    return {
        "status": answer.status,
        "text": answer.text,
        "citations": [c.model_dump(mode="json", exclude={"highlight"}) for c in answer.citations],
        "facts_matched": matched,
        "fact_recall": recall,
        "answer_f1": f1,
        "answer_words": word_count(answer.text) if replied else 0,
        "pipeline_citation": citation_stats(answer.text, passages, support, splitter) if replied else None,
        "answer_source": answer_source(answer),
        "answer_type": answer.trace.answer_type,
        "model_declined": answer.trace.model_declined,
        **(_faithfulness(answer.text, passages, judge) if replied else {}),
    }


def _retrieve(retriever: SearchBackend, query: str, case: Case, scope: Scope | None) -> tuple[list[str], dict[str, int | None]]:
    """Each retrieval mode's documents for what the pipeline searched (``query`` within ``scope``)."""
    docs: dict[str, list[str]] = {}
    for mode in RETRIEVAL_MODES:
        hits = retriever.search(query, k=RETRIEVAL_K, scope=scope, mode=mode)
        docs[mode] = [hit.doc_id for hit in hits]
    return docs["hybrid"], {m: first_gold_rank(d, case.gold_docs, RETRIEVAL_K) for m, d in docs.items()}


def _trace_info(answers: Iterable[Answer]) -> dict[str, str]:
    """What ran: each field from the first answer that has it (an answer refused before the model names the model
    and index but not the model file's hash, which is read when the model drafts)."""
    traces = [a.trace for a in answers]
    return {k: next((str(getattr(t, k)) for t in traces if getattr(t, k)), "")
            for k in ("model_id", "model_hash", "prompt_id", "prompt_hash", "index_hash")}


def run_eval(
    service: AnswerService,
    retriever: SearchBackend | None,
    cases: Sequence[Case],
    *,
    limit: int | None = None,
    progress: bool = True,
    run_info: dict[str, Any] | None = None,
    support: SupportFn | None = None,
    splitter: Callable[[str], Sequence[Any]] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    judge: JudgeFn | None = None,
) -> Report:
    """Ask every case through ``service.stream`` and score it; a case that raises is recorded, the run goes on.

    ``support`` and ``splitter`` default to ``bot.reader.ground.supports`` and ``bot.lang.text.sentence_spans``.
    """
    from bot.lang.text import sentence_spans

    support = support or _default_support()
    splitter = splitter or sentence_spans
    chosen = list(cases)[:limit] if limit else list(cases)
    started, t0 = datetime.now(UTC), time.perf_counter()
    results: list[CaseResult] = []
    answers: list[Answer] = []
    for case in tqdm(chosen, desc="eval", unit="case", disable=not progress, file=sys.stderr):
        row: dict[str, Any] = {"id": case.id, "question": case.question, "lang": case.lang,
                               "answerable": case.answerable, "answers": case.answers, "gold_docs": case.gold_docs}
        errors: list[str] = []
        query, scope = case.question, case.scope
        try:
            answer, latency, ttft = _ask(service, case, clock)
            answers.append(answer)
            row.update(_score(case, answer, support, splitter, judge), latency_s=latency, ttft_s=ttft)
            query = answer.trace.standalone_question or case.question
            if answer.trace.scope and case.scope is None:  # the question named its documents: searched there
                scope = Scope(doc_ids=tuple(answer.trace.scope))
        except Exception as exc:  # one bad case must not stop the run
            log.warning("case %s failed: %s", case.id, exc)
            errors.append(f"answer: {type(exc).__name__}: {exc}")
            row.update(status="error", answer_source="error", facts_matched=[False] * len(case.answers),
                       fact_recall=0.0 if case.answers else None, answer_f1=0.0 if case.answers else None)
        if retriever is not None:
            try:
                row["retrieved_docs"], row["gold_rank"] = _retrieve(retriever, query, case, scope)
            except Exception as exc:  # recorded like an answer failure
                errors.append(f"retrieval: {type(exc).__name__}: {exc}")
        if row.get("pipeline_citation") is None:
            row.pop("pipeline_citation", None)
        results.append(CaseResult(**row, error="; ".join(errors) or None))
    run = {**_trace_info(answers), **(run_info or {}), "started": started.isoformat(timespec="seconds"),
           "seconds": round(time.perf_counter() - t0, 3)}
    baselines = {m: retrieval_metrics(results, m) for m in ("bm25", "vector")} if retriever is not None else {}
    return Report(metrics=summarise(results), baselines=baselines, by_lang=by_lang(results), cases=results, run=run)


def rescore(path: Path) -> Report:
    """A saved report.json scored again with the current metrics (the answers and citations as saved)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        rows = data["cases"]
    except (OSError, ValueError, KeyError) as exc:
        raise UserInputError(f"{path} is not a report.json ({exc}).") from None
    results = []
    for row in rows:
        if row.get("status") in ("answered", "partial"):
            passages = {int(c["n"]): str(c["text"]) for c in row.get("citations", [])}
            row.update(_faithfulness(row.get("text", ""), passages))
        results.append(CaseResult.model_validate(row))
    return Report(metrics=summarise(results), baselines=data.get("baselines", {}), by_lang=by_lang(results),
                  cases=results, run={**data.get("run", {}), "rescored": datetime.now(UTC).isoformat(timespec="seconds")})
