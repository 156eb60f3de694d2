"""The one answer pipeline behind every front end (CLI, page, webhooks, HTTP API, eval runner).

``Pipeline.stream`` runs the stages in order, each in its own module:
  gather      condense a follow-up (``retrieve.followup``), hybrid retrieval (``retrieve.hybrid``), evidence
              sentences and their sources (``evidence``, ``sources``), answerability (``answerable``, or the
              calibrated ``calibration`` over the ``sentence_model``'s scores)
  draft       the model writes from the numbered evidence, streamed (``draft``)
  check       each sentence against its citation: grounding (``ground``), then the verifier (``verify``)
  fall back   nothing survives: quote the best evidence, cut to its answering clauses (``compose``); else a
              quoted sentence holding an answer of the kind asked that the model did not write follows it
  assemble    renumber the citations, highlight, answered or partial (``assemble``)
A question whose evidence does not hold the kind of answer asked for is refused, saying what was searched.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Generator, Iterator

from langchain_core.embeddings import Embeddings

from bot.answer import Answer, Candidate, Event, Final, Progress, Scope, Trace, Turn
from bot.errors import BusyError, ConfigError, ModelError, UserInputError
from bot.ingest.index import Index
from bot.llm.contract import ChatModel
from bot.llm.prompts import Prompt, load_prompt
from bot.reader import answer_types, answerable, compose, evidence, ground, refusal, verify
from bot.reader.assemble import assemble
from bot.reader.calibration import answerability_features, load_calibration
from bot.reader.declines import DeclinePolicy, check_setting, load_policy
from bot.reader.draft import reject_draft, write_draft
from bot.reader.gathered import Gathered
from bot.reader.sentence_model import Question, load_sentence_model, model_judgement
from bot.reader.sources import Loaded
from bot.retrieve.followup import condense
from bot.retrieve.glossary import Glossary
from bot.retrieve.hybrid import Retriever
from bot.settings import Settings

log = logging.getLogger(__name__)

MIN_EVIDENCE_SCORE = 0.18  # below this nothing retrieved is about the question (seed dev set: answerable >= 0.197)
MIN_MEANING = 0.30
_CONTROL = re.compile(r"[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


def _lap(trace: Trace, name: str, since: float) -> float:
    now = time.perf_counter()
    trace.timings[name] = round(now - since, 4)
    return now


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
        self._loaded = Loaded(index, Retriever(index, embeddings, settings, glossary))
        self._swap_lock = threading.Lock()
        check_setting(settings.declines)  # a broken declines file is named at start
        self._declines: DeclinePolicy | None = None

    @property
    def declines(self) -> DeclinePolicy:
        """Whether a declining draft is believed, for the running model (read once: it hashes the model file)."""
        self._declines = self._declines or load_policy(self.settings.declines, self.model.model_hash)
        return self._declines

    # --- the index can change under a running server (uploads, removals) --------------------------------
    @property
    def index(self) -> Index:
        return self._loaded.index

    @property
    def retriever(self) -> Retriever:
        return self._loaded.retriever

    def use_index(self, index: Index) -> None:
        with self._swap_lock:
            self._loaded = Loaded(index, Retriever(index, self.embeddings, self.settings, self.glossary))

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
        return [e.answer for e in self.stream(question, history, scope) if isinstance(e, Final)][-1]

    def stream(self, question: str, history: list[Turn] | None = None, scope: Scope | None = None) -> Iterator[Event]:
        """The stages in order: gather the evidence and decide answerability, let the model draft from it, check
        every sentence (grounding, then the verifier), fall back to quoting the evidence, assemble the answer."""
        started = time.perf_counter()
        question = clean_question(question, self.settings.max_question_chars)
        loaded = self._loaded
        trace = Trace(model_id=self.model.model_id, prompt_id=self.prompt.ref, prompt_hash=self.prompt.hash,
                      index_hash=loaded.index.manifest.index_hash)
        yield Progress("searching the documents")
        g = self.gather(question, history, scope, trace.timings, loaded)
        self._trace_gathered(trace, g)
        if not g.answerable:
            yield Final(self._refusal(g, trace, f"refused: {g.reason}", started))
            return
        t = time.perf_counter()
        draft = yield from self._draft(g, trace, started)
        t = _lap(trace, "generate", t)
        sentences, declined = self._checked(g, draft, trace)
        if not sentences and declined:
            trace.declines = self.declines.describe(g.verdict.kind)
            if self.declines.honours(g.verdict.kind):
                yield Final(self._refusal(g, trace, "refused: the model found no answer in the evidence", started))
                return
            trace.fallback = f"the model declined, a decline {trace.declines}; quoted the evidence instead"
        quoted = [] if sentences and g.wanted is None else compose.quote_answer(  # an open question keeps the model's
            g.standalone, g.expansions, g.chosen, g.wanted, self._relevance(g), self.settings.quote_words,
            self.settings.runner_up_quote)
        if not sentences:
            trace.fallback = trace.fallback or ("the model's draft was not supported by the evidence; "
                                                "quoted the evidence instead")
        sentences, trace.supplemented = compose.supplement(sentences, quoted, g.wanted)
        _lap(trace, "check", t)
        answer = assemble(question, g.standalone, g.expansions, sentences, g.chosen, g.ranked, trace)
        trace.timings["total"] = round(time.perf_counter() - started, 4)
        yield Final(answer)

    def _trace_gathered(self, trace: Trace, g: Gathered) -> None:
        trace.standalone_question, trace.searched = g.standalone, g.searched
        trace.answer_type = g.verdict.kind
        if g.scope is not None:
            trace.scope = list(g.scope.doc_ids or g.scope.titles or g.scope.paths)
        trace.candidates = [Candidate(chunk_id=p.chunk.id, doc_id=p.doc_id, score=round(p.score, 5),
                                      vector_rank=p.vector_rank, keyword_rank=p.keyword_rank)
                            for p in g.found.passages]
        if g.p_answerable is not None and self.calibration is not None:
            trace.p_answerable, trace.calibration = round(g.p_answerable, 4), self.calibration.ref
        if self.sentence_model is not None:
            trace.calibration = f"{trace.calibration} {self.sentence_model.ref}".strip()

    def _refusal(self, g: Gathered, trace: Trace, why: str, started: float) -> Answer:
        """The plain "the documents do not say", with what was searched; ``why`` goes to the trace."""
        trace.fallback = why
        trace.timings["total"] = round(time.perf_counter() - started, 4)
        text = f"{refusal.refusal_sentence(self.settings, g.question)} {g.searched}"
        return Answer(text=text, citations=[], status="refused", trace=trace, question=g.question)

    def _relevance(self, g: Gathered) -> Callable[[list[str]], list[float]]:
        def relevance(texts: list[str]) -> list[float]:
            return [float(x) for x in self.sentence_vectors.get(texts) @ g.found.query_vector]

        return relevance

    def _draft(self, g: Gathered, trace: Trace, started: float) -> Generator[Event, None, str]:
        """The model's streamed draft ("" when the model is unavailable: the evidence is quoted instead)."""
        # The model reads each sentence cut to its best clauses: prompt reading sets the time to first token.
        # The grounding check still holds the draft to the whole sentences.
        cut_by = compose.clause_terms(g.standalone, g.expansions, g.chosen)
        relevance = self._relevance(g)
        shown = [compose.trim(e.text, cut_by, self.settings.prompt_evidence_words, g.wanted, relevance)
                 for e in g.chosen]
        try:
            return (yield from write_draft(self.model, self.prompt, self.settings, g.question, g.chosen, shown, trace,
                                           started))
        except ModelError as exc:
            log.warning("model unavailable, answering with quoted evidence: %s", exc)
            trace.fallback = f"model unavailable ({exc}); quoted evidence instead"
            return ""

    def _checked(self, g: Gathered, draft: str, trace: Trace) -> tuple[list[tuple[str, list[int]]], bool]:
        """The draft's sentences that its citations support (grounding check, then the verifier that reads
        figures, names, negation and modality) and that answer well enough; and whether the model declined."""
        support = [e.support_text for e in g.chosen]
        checked = verify.screen(ground.check(draft, support), support)
        trace.dropped_sentences = checked.dropped
        sentences = checked.sentences
        rejected = reject_draft(g.question, g.verdict.kind, g.terms, sentences, g.chosen)
        if sentences and rejected:
            trace.dropped_sentences += [s for s, _ in sentences]
            trace.fallback = f"the model's answer was {rejected}; quoted the evidence instead"
            sentences = []
        trace.model_declined = checked.model_declined
        return sentences, checked.model_declined

    def gather(self, question: str, history: list[Turn] | None = None, scope: Scope | None = None,
               timings: dict[str, float] | None = None, loaded: Loaded | None = None) -> Gathered:
        """Retrieve, select evidence and decide whether the question is answerable from it: everything before
        the model writes. ``policybot calibrate`` reads the same state to fit the answerability decision."""
        loaded = loaded or self._loaded
        timings = {} if timings is None else timings
        t = time.perf_counter()
        standalone = condense(question, history)
        asked = question
        named = site = None
        if scope is None or scope.is_empty():  # the caller's scope wins over one the question names
            named = loaded.named(standalone)
            if named is not None:  # "<title> privacy policy: ...": search that document for what is asked
                if standalone == question:  # and read the question without its lead ("...: Does ...")
                    asked = named.asked
                scope, standalone = named.scope, named.asked
            else:
                site = loaded.unindexed_site(standalone)
        found = loaded.retriever.run(standalone, scope=scope)
        timings["retrieve"] = round(time.perf_counter() - t, 4)
        t = time.perf_counter()
        expansions = self.glossary.expansions(standalone)
        terms = evidence.query_terms(standalone, expansions)
        items = [e for e in evidence.candidates(found.passages) if not loaded.is_planted(e.doc_id, e.start)]
        for item in items:
            loaded.attach_source(item)
        kind = answer_types.answer_type(asked)
        wanted = None if kind == "open" else (lambda text: answer_types.has_type(kind, text, asked, strict=True))
        ranked = evidence.score(found.query_vector, terms, items, self.sentence_vectors, wanted,
                                lambda text: answer_types.names_head(kind, text, asked))
        top_logit = None
        if self.sentence_model is not None:  # its scores are always read; its order where it was found to win
            learned, top_logit = self.sentence_model.rerank(Question.of(asked, kind, terms), ranked, found.passages)
            if kind != "open" or self.settings.sentence_order == "all" or self.calibration is not None:
                ranked = learned
        chosen = evidence.select(ranked, self.settings.evidence_sentences, terms)
        verdict = answerable.judge(asked, terms, chosen, ranked, MIN_EVIDENCE_SCORE, MIN_MEANING)
        g = Gathered(question, standalone, found, expansions, terms, wanted, ranked, chosen, verdict,
                     loaded.searched(standalone, scope), answer_logit=top_logit, scope=scope, asked=asked)
        if site is not None:  # the question names a site no indexed document is about: never quote another's
            g.verdict = answerable.Verdict(False, kind, f"no indexed document is about {site}")
            g.searched = f"{refusal.no_document_about(site, standalone)} {g.searched}"
        elif self.calibration is not None:
            if self.calibration.asks_model:
                g.model_yes = model_judgement(self.model, self.judge_prompt, question, chosen)
            g.p_answerable = self.calibration.p_answerable(answerability_features(g))
            g.threshold = self.calibration.threshold
        timings["evidence"] = round(time.perf_counter() - t, 4)
        return g

    def health(self) -> dict[str, object]:
        index = self.index
        return {"model": self.model.health(), "index": {"generation": index.gen, "documents": len(index.manifest.documents),
                                                         "chunks": len(index.chunks), "index_hash": index.manifest.index_hash}}


def build_pipeline(settings: Settings, *, model: ChatModel | None = None, embeddings: Embeddings | None = None) -> Pipeline:
    """Compose the pipeline from settings: embeddings, index, glossary, model (loaded lazily)."""
    from bot.ingest.embeddings import build_embeddings
    from bot.llm.build import build_chat_model

    emb = embeddings or build_embeddings(settings.embedding_batch, settings.embedding_backend)
    index = Index.open(settings, emb)
    glossary = Glossary.load(settings.glossary_path)
    return Pipeline(settings, emb, model or build_chat_model(settings), glossary, index)


__all__ = ["BusyError", "Pipeline", "build_pipeline", "clean_question"]
