"""The one answer pipeline behind every front end (CLI, page, webhook, eval runner).

question -> condense follow-up -> hybrid retrieve -> select evidence sentences -> is it answerable?
         -> model composes from numbered evidence (streamed) -> grounding check -> Answer
If nothing the model wrote survives the check, the answer quotes the best evidence. If the evidence does not
hold the kind of answer asked for, the answer is a refusal that says what was searched.
"""

from __future__ import annotations

import bisect
import logging
import re
import secrets
import threading
import time
import unicodedata
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Literal

from langchain_core.embeddings import Embeddings

from bot.answer import Answer, Candidate, Citation, Event, Final, Progress, Scope, Token, Trace, Turn
from bot.errors import BusyError, ConfigError, ModelError, UserInputError
from bot.ingest.index import Index
from bot.lang.words import stem, stems
from bot.llm.local import ChatModel
from bot.llm.prompts import Prompt, load_prompt
from bot.reader import answerable, compose, evidence, ground, verify
from bot.reader.calibration import answerability_features, load_calibration
from bot.reader.injection import planted_spans
from bot.reader.sentence_model import Question, load_sentence_model, model_judgement
from bot.reader.speakers import Speaker, attribute, paragraph_spans
from bot.retrieve.followup import condense
from bot.retrieve.glossary import Glossary
from bot.retrieve.hybrid import Retriever, SearchResult
from bot.settings import Settings

log = logging.getLogger(__name__)

MIN_EVIDENCE_SCORE = 0.18  # below this nothing retrieved is about the question (seed dev set: answerable >= 0.197)
MIN_MEANING = 0.30
_CONTROL = re.compile(r"[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


def clean_question(question: str, max_chars: int) -> str:
    """The question without control characters; a clear error if it is empty or too long."""
    if not isinstance(question, str):
        raise UserInputError("The question must be text.")
    if len(question) > max_chars:
        raise UserInputError(
            f"The question is {len(question)} characters long; the limit is {max_chars}. Ask a shorter question."
        )
    text = _CONTROL.sub(" ", unicodedata.normalize("NFC", question))
    text = re.sub(r"\s+", " ", text).strip()
    if not re.search(r"\w", text):
        raise UserInputError("The question is empty. Type a question about the documents.")
    return text


def _rambling(draft: str) -> bool:
    sentences = [draft[a:b].strip().lower() for a, b in ground.sentence_spans(draft)]
    complete = sentences[:-1]  # the last one may still be growing
    return len(complete) >= 4 or len(set(complete)) < len(complete)


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


@dataclass
class _Loaded:
    """What a question needs from the current index generation; swapped whole on re-index."""

    index: Index
    retriever: Retriever
    speakers: dict[str, tuple[list[int], list[Speaker | None]]] = field(default_factory=dict)
    planted: dict[str, list[tuple[int, int]]] = field(default_factory=dict)


class Pipeline:
    """Implements ``bot.answer.AnswerService``. Build it with :func:`build_pipeline`."""

    def __init__(self, settings: Settings, embeddings: Embeddings, model: ChatModel, glossary: Glossary,
                 index: Index) -> None:
        self.settings = settings
        self.embeddings = embeddings
        self.model = model
        self.glossary = glossary
        self.prompt: Prompt = load_prompt(settings.prompts_dir, settings.answer_prompt)
        self.judge_prompt: Prompt = load_prompt(settings.prompts_dir, "answerable")
        self.sentence_vectors = evidence.SentenceVectors(embeddings)
        self.calibration = load_calibration(settings.calibration)
        self.sentence_model = load_sentence_model(settings.sentence_model)
        fitted_for = self.calibration.fitted_on.get("model_id") if self.calibration is not None else None
        if self.calibration is not None and self.calibration.asks_model and fitted_for != model.model_id:
            log.warning("the answerability calibration %s was fitted with %s's judgement, not %s's: run `policybot "
                        "calibrate --model ...` for this model", self.calibration.path, fitted_for, model.model_id)
        if self.calibration is not None and self.sentence_model is None:
            raise ConfigError("The answerability calibration reads the sentence model's score, but sentence_model is "
                              "off. Fix: set POLICYBOT_SENTENCE_MODEL=shipped (or the sentence.json written beside "
                              "your calibration), or POLICYBOT_CALIBRATION=off.")
        self._loaded = _Loaded(index, Retriever(index, embeddings, settings, glossary))
        self._swap_lock = threading.Lock()

    # --- the index can change under a running server (uploads, removals) --------------------------------
    @property
    def index(self) -> Index:
        return self._loaded.index

    @property
    def retriever(self) -> Retriever:
        return self._loaded.retriever

    def use_index(self, index: Index) -> None:
        with self._swap_lock:
            self._loaded = _Loaded(index, Retriever(index, self.embeddings, self.settings, self.glossary))

    def _speaker_at(self, loaded: _Loaded, doc_id: str, offset: int) -> Speaker | None:
        if doc_id not in loaded.speakers:
            text = loaded.index.doc_text(doc_id)
            spans = paragraph_spans(text)
            loaded.speakers[doc_id] = ([s for s, _ in spans], attribute(text, spans))
        starts, speakers = loaded.speakers[doc_id]
        i = bisect.bisect_right(starts, offset) - 1
        return speakers[i] if 0 <= i < len(speakers) else None

    def _planted(self, loaded: _Loaded, doc_id: str, offset: int) -> bool:
        """True if ``offset`` lies in a paragraph that speaks to the assistant (see ``bot.reader.injection``)."""
        if doc_id not in loaded.planted:
            text = loaded.index.doc_text(doc_id)
            loaded.planted[doc_id] = planted_spans(text, paragraph_spans(text))
        return any(s <= offset < e for s, e in loaded.planted[doc_id])

    def _attach_source(self, loaded: _Loaded, item: evidence.Evidence) -> None:
        """Set who said the sentence and the span a citation quotes: the sentence, widened to include the
        speaker's name (and role) when they stand in the same paragraph, so the citation shows both."""
        item.cite_start, item.cite_end, item.cite_text = item.start, item.end, item.text
        speaker = self._speaker_at(loaded, item.doc_id, item.start)
        if speaker is None:
            return
        text = loaded.index.doc_text(item.doc_id)
        starts = loaded.speakers[item.doc_id][0]
        i = bisect.bisect_right(starts, item.start) - 1
        para_start = starts[i] if i >= 0 else 0
        para_end = starts[i + 1] if i + 1 < len(starts) else len(text)
        hits = [m.start() for m in re.finditer(re.escape(speaker.name), text[para_start:para_end])]
        if not hits:
            return  # the speaker is only implied ("we"): no attribution we could cite
        pos = para_start + min(hits, key=lambda h: abs(para_start + h - item.start))
        end = pos + len(speaker.name)
        role = speaker.role
        if role and text.find(role, end, end + len(role) + 40) >= 0:
            end = text.find(role, end) + len(role)
        elif role and text.endswith(role, 0, pos):  # the role written before the name (Chinese: 副主任 + name)
            pos -= len(role)
        else:
            role = ""
        start, stop = min(item.start, pos), max(item.end, end)
        if len(text[start:stop].split()) > 150:
            return
        item.speaker = Speaker(speaker.name, role)
        item.cite_start, item.cite_end, item.cite_text = start, stop, text[start:stop]

    def warm_up(self) -> None:
        """Load the embeddings and the model: after this the pipeline answers without loading anything."""
        if hasattr(self.embeddings, "warm_up"):
            self.embeddings.warm_up()
        self.sentence_vectors.get(["warm up"])
        self.model.warm_up()

    def prime(self) -> None:
        """Have the model read the prompt's fixed system part once, so the first question pays only for its own
        evidence (llama.cpp keeps the common prefix in its KV cache), and hash the model file for the answer
        trace. A server calls this after it reports ready: a question that comes first waits its turn."""
        prime = getattr(self.model, "prime", None)  # models without a local KV cache have nothing to prime
        if prime is not None:
            prime(self.prompt.render(tag="EVIDENCE", evidence="[1] -", question="-"))
        _ = self.model.model_hash

    # --- answering --------------------------------------------------------------------------------------
    def answer(self, question: str, history: list[Turn] | None = None, scope: Scope | None = None) -> Answer:
        final: Answer | None = None
        for event in self.stream(question, history, scope):
            if isinstance(event, Final):
                final = event.answer
        assert final is not None
        return final

    def stream(self, question: str, history: list[Turn] | None = None, scope: Scope | None = None) -> Iterator[Event]:
        started = time.perf_counter()
        question = clean_question(question, self.settings.max_question_chars)
        loaded = self._loaded
        trace = Trace(model_id=self.model.model_id, prompt_id=self.prompt.ref, prompt_hash=self.prompt.hash,
                      index_hash=loaded.index.manifest.index_hash)
        timings = trace.timings

        def lap(name: str, since: float) -> float:
            now = time.perf_counter()
            timings[name] = round(now - since, 4)
            return now

        yield Progress("searching the documents")
        g = self.gather(question, history, scope, timings, loaded)
        trace.standalone_question, trace.searched = g.standalone, g.searched
        trace.candidates = [Candidate(chunk_id=p.chunk.id, doc_id=p.doc_id, score=round(p.score, 5),
                                      vector_rank=p.vector_rank, keyword_rank=p.keyword_rank)
                            for p in g.found.passages]
        if g.p_answerable is not None and self.calibration is not None:
            trace.p_answerable, trace.calibration = round(g.p_answerable, 4), self.calibration.ref
        if self.sentence_model is not None:
            trace.calibration = f"{trace.calibration} {self.sentence_model.ref}".strip()
        standalone, expansions, chosen, ranked, verdict, wanted = (g.standalone, g.expansions, g.chosen, g.ranked,
                                                                   g.verdict, g.wanted)
        found, terms, searched = g.found, g.terms, g.searched
        t = time.perf_counter()
        if not g.answerable:
            trace.fallback = f"refused: {g.reason}"
            timings["total"] = round(time.perf_counter() - started, 4)
            yield Final(Answer(text=f"{self.settings.refusal_text} {searched}", citations=[], status="refused",
                               trace=trace, question=question))
            return

        def relevance(texts: list[str]) -> list[float]:
            return [float(x) for x in self.sentence_vectors.get(texts) @ found.query_vector]

        # The model reads each sentence cut to its best clauses: prompt reading sets the time to first token.
        # The grounding check still holds the draft to the whole sentences.
        cut_by = compose.clause_terms(standalone, expansions, chosen)
        shown = [compose.trim(e.text, cut_by, self.settings.prompt_evidence_words, wanted, relevance) for e in chosen]
        draft = ""
        try:
            draft = yield from self._compose(question, chosen, shown, trace, started)
        except ModelError as exc:
            log.warning("model unavailable, answering with quoted evidence: %s", exc)
            trace.fallback = f"model unavailable ({exc}); quoted evidence instead"
        t = lap("generate", t)
        # the verifier then reads each kept sentence against its citation (figures, names, negation, modality)
        support = [e.support_text for e in chosen]
        checked = verify.screen(ground.check(draft, support), support)
        trace.dropped_sentences = checked.dropped
        sentences = checked.sentences
        rejected = self._reject_draft(question, verdict.kind, terms, sentences, chosen)
        if sentences and rejected:
            trace.dropped_sentences += [s for s, _ in sentences]
            trace.fallback = f"the model's answer was {rejected}; quoted the evidence instead"
            sentences = []
        if not sentences:
            if checked.model_declined and verdict.kind != "open":
                trace.fallback = "refused: the model found no answer in the evidence"
                timings["total"] = round(time.perf_counter() - started, 4)
                yield Final(Answer(text=f"{self.settings.refusal_text} {searched}", status="refused",
                                   trace=trace, question=question))
                return
            trace.fallback = trace.fallback or ("the model's draft was not supported by the evidence; "
                                                "quoted the evidence instead")
            sentences = compose.quote_answer(standalone, expansions, chosen, wanted, relevance,
                                             self.settings.quote_words)
        lap("check", t)
        answer = self._assemble(question, standalone, expansions, sentences, chosen, ranked, trace)
        timings["total"] = round(time.perf_counter() - started, 4)
        yield Final(answer)

    def gather(self, question: str, history: list[Turn] | None = None, scope: Scope | None = None,
               timings: dict[str, float] | None = None, loaded: _Loaded | None = None) -> Gathered:
        """Retrieve, select evidence and decide whether the question is answerable from it: everything before
        the model writes. ``policybot calibrate`` reads the same state to fit the answerability decision."""
        loaded = loaded or self._loaded
        timings = {} if timings is None else timings
        t = time.perf_counter()
        standalone = condense(question, history)
        found = loaded.retriever.run(standalone, scope=scope)
        timings["retrieve"] = round(time.perf_counter() - t, 4)
        t = time.perf_counter()
        expansions = self.glossary.expansions(standalone)
        terms = evidence.query_terms(standalone, expansions)
        items = [e for e in evidence.candidates(found.passages) if not self._planted(loaded, e.doc_id, e.start)]
        for item in items:
            self._attach_source(loaded, item)
        kind = answerable.answer_type(question)
        wanted = None if kind == "open" else (lambda text: answerable.has_type(kind, text, question, strict=True))
        ranked = evidence.score(found.query_vector, terms, items, self.sentence_vectors, wanted,
                                lambda text: answerable.names_head(kind, text, question))
        top_logit = None
        if self.sentence_model is not None:
            ranked, top_logit = self.sentence_model.rerank(Question.of(question, kind, terms), ranked, found.passages)
        chosen = evidence.select(ranked, self.settings.evidence_sentences, terms)
        verdict = answerable.judge(question, terms, chosen, ranked, MIN_EVIDENCE_SCORE, MIN_MEANING)
        g = Gathered(question, standalone, found, expansions, terms, wanted, ranked, chosen, verdict,
                     self._searched(loaded.index, standalone, scope), answer_logit=top_logit)
        if self.calibration is not None:
            if self.calibration.asks_model:
                g.model_yes = model_judgement(self.model, self.judge_prompt, question, chosen)
            g.p_answerable = self.calibration.p_answerable(answerability_features(g))
            g.threshold = self.calibration.threshold
        timings["evidence"] = round(time.perf_counter() - t, 4)
        return g

    def _compose(self, question: str, chosen: list[evidence.Evidence], shown: list[str], trace: Trace,
                 started: float) -> Generator[Event, None, str]:
        """Stream the model's draft from the numbered evidence (``shown``: the text of each); returns the draft."""
        tag = f"EVIDENCE-{secrets.token_hex(4)}"
        lines = [e.prompt_line(i, text) for i, (e, text) in enumerate(zip(chosen, shown, strict=True), start=1)]
        budget = self.settings.n_ctx - self.settings.max_answer_tokens - 8
        while True:
            messages = self.prompt.render(tag=tag, evidence="\n".join(lines), question=question)
            trace.prompt_tokens = self.model.count_tokens(messages)
            if trace.prompt_tokens <= budget or len(lines) == 1:
                break
            lines.pop()
        parts: list[str] = []
        stream = self.model.stream_chat(messages, max_tokens=self.settings.max_answer_tokens,
                                        temperature=self.settings.temperature, stop=[tag, "\n\n"])
        try:
            for delta in stream:
                if not parts:
                    trace.ttft_s = round(time.perf_counter() - started, 4)
                parts.append(delta)
                yield Token(delta)
                if _rambling("".join(parts)):
                    break  # the draft repeats itself or runs past four sentences: stop paying for it
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        trace.completion_tokens = int(getattr(self.model, "last_usage", {}).get("completion_tokens", len(parts)))
        trace.model_hash = self.model.model_hash
        return "".join(parts)

    @staticmethod
    def _reject_draft(question: str, kind: str, terms: set[str], sentences: list[tuple[str, list[int]]],
                      chosen: list[evidence.Evidence]) -> str:
        """Why supported model sentences still do not answer well enough (empty string: they do).

        Supported is necessary, not sufficient: a tiny model also writes true but useless sentences. The draft
        must use the best evidence, give the kind of answer asked for, and keep most of what the best evidence
        says beyond the question's own words. Otherwise quoting the evidence is the better answer.
        """
        if not sentences:
            return ""
        text = " ".join(s for s, _ in sentences)
        if not any(n <= 2 for _, ns in sentences for n in ns):
            return "not based on the best evidence"
        if kind != "open" and not answerable.has_type(kind, text, question):
            return f"missing the {kind} the question asks for"
        said_by = set().union(*(stems(e.speaker.phrase()) for e in chosen if e.speaker))
        if len(stems(text) - terms - said_by - evidence.REPORTING) <= 2:
            return "only restating the question"
        best = stems(chosen[0].text) - terms
        if best and len(best & stems(text)) / len(best) < 0.4:
            return "leaving out most of the best evidence"
        return ""

    def _searched(self, index: Index, standalone: str, scope: Scope | None) -> str:
        docs = len(index.manifest.documents)
        where = f" within {', '.join(scope.doc_ids or scope.titles or scope.paths)}" if scope and not scope.is_empty() else ""
        return f"Searched {docs} document{'s' if docs != 1 else ''}{where} for: \u201c{standalone}\u201d."

    def _assemble(self, question: str, standalone: str, expansions: list[str],
                  sentences: list[tuple[str, list[int]]], chosen: list[evidence.Evidence], ranked: list[evidence.Evidence],
                  trace: Trace) -> Answer:
        """Renumber the cited evidence 1..k in order of first use and build the citations."""
        order: dict[int, int] = {}
        for _, ns in sentences:
            for n in ns:
                order.setdefault(n, len(order) + 1)
        text = " ".join(ground.cite(s, [order[n] for n in ns]) for s, ns in sentences)
        terms = evidence.query_terms(standalone, expansions)
        answer_stems = stems(text) | terms
        citations = []
        for old, new in order.items():
            item = chosen[old - 1]
            highlight = sorted({w for w in re.findall(r"[\w'-]+", item.cite_text) if stem(w) in answer_stems
                                and len(w) > 2}, key=str.lower)
            citations.append(Citation(n=new, doc_id=item.doc_id, title=item.title, path=item.path,
                                      text=item.cite_text or item.text, start=item.cite_start, end=item.cite_end,
                                      score=round(item.score, 4),
                                      chunk_id=item.chunk_id, paragraph=item.paragraph, highlight=highlight))
        # partial: less than half of what the question is about appears in the cited evidence (with the
        # heading it answers and who said it). Words no retrieved passage uses cannot be covered: ignored.
        seen = set().union(*(stems(e.support_text) for e in ranked)) if ranked else set()
        subject = {t for t in evidence.query_terms(question, []) if t not in answerable.TYPE_TERMS and t in seen}
        cited = set().union(*(stems(chosen[old - 1].support_text) for old in order)) if order else set()
        covered = len(subject & cited) / len(subject) if subject else 1.0
        status: Literal["answered", "partial"] = "answered" if covered >= 0.5 else "partial"
        return Answer(text=text, citations=citations, status=status, trace=trace, question=question)

    def health(self) -> dict[str, object]:
        index = self.index
        return {"model": self.model.health(), "index": {"generation": index.gen, "documents": len(index.manifest.documents),
                                                         "chunks": len(index.chunks), "index_hash": index.manifest.index_hash}}


def build_pipeline(settings: Settings, *, model: ChatModel | None = None, embeddings: Embeddings | None = None) -> Pipeline:
    """Compose the pipeline from settings: embeddings, index, glossary, model (loaded lazily)."""
    from bot.ingest.embeddings import build_embeddings
    from bot.llm.local import build_chat_model

    emb = embeddings or build_embeddings(settings.embedding_batch, settings.embedding_backend)
    index = Index.open(settings, emb)
    glossary = Glossary.load(settings.glossary_path)
    return Pipeline(settings, emb, model or build_chat_model(settings), glossary, index)


__all__ = ["BusyError", "Pipeline", "build_pipeline", "clean_question"]
