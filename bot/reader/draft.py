"""The model's draft: streamed from the numbered evidence, stopped when it rambles, and judged after the checks.

``write_draft`` renders the answer prompt (dropping the weakest evidence line while it does not fit the context)
and streams the model's tokens; ``reject_draft`` says why supported sentences still do not answer well enough.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Generator

from bot.answer import Event, Token, Trace
from bot.lang.text import ends_sentence, sentence_spans
from bot.lang.words import stems
from bot.llm.contract import ChatModel
from bot.llm.prompts import Prompt
from bot.reader import answer_types
from bot.reader.evidence import REPORTING, Evidence
from bot.reader.ground import MARKER
from bot.settings import Settings


def rambling(draft: str) -> bool:
    """True when a growing draft repeats a sentence or runs past four: stop paying for it."""
    sentences = [draft[a:b].strip().lower() for a, b in sentence_spans(draft)]
    complete = sentences[:-1]  # the last one may still be growing
    return len(complete) >= 4 or len(set(complete)) < len(complete)


def fence_tag(question: str, lines: list[str]) -> str:
    """The tag that opens and closes the evidence: a digest of the question and of every evidence line.

    A document cannot hold the tag that will fence it, since the tag is a digest of a text that holds the
    document's own line (and of the question and the other passages, which its author does not know); sentences
    that look like a fence are dropped from the evidence anyway (``injection``). Unlike a random tag, the same
    question over the same evidence gives the same prompt, so an eval run at temperature 0 is reproducible."""
    digest = hashlib.sha256("\x1f".join([question, *lines]).encode("utf-8")).hexdigest()
    return f"EVIDENCE-{digest[:8]}"


def write_draft(model: ChatModel, prompt: Prompt, settings: Settings, question: str, chosen: list[Evidence],
                shown: list[str], trace: Trace, started: float) -> Generator[Event, None, str]:
    """Stream the model's draft from the numbered evidence (``shown``: the text of each); returns the draft."""
    lines = [e.prompt_line(i, text) for i, (e, text) in enumerate(zip(chosen, shown, strict=True), start=1)]
    tag = fence_tag(question, lines)
    budget = settings.n_ctx - settings.max_answer_tokens - 8
    while True:
        messages = prompt.render(tag=tag, evidence="\n".join(lines), question=question)
        trace.prompt_tokens = model.count_tokens(messages)
        if trace.prompt_tokens <= budget or len(lines) == 1:
            break
        lines.pop()
    parts: list[str] = []
    stream = model.stream_chat(messages, max_tokens=settings.max_answer_tokens,
                               temperature=settings.temperature, stop=[tag, "\n\n"])
    cut_short = False
    try:
        for delta in stream:
            if not parts:
                trace.ttft_s = round(time.perf_counter() - started, 4)
            parts.append(delta)
            yield Token(delta)
            if rambling("".join(parts)):
                cut_short = True
                break  # the draft repeats itself or runs past four sentences: stop paying for it
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    usage = getattr(model, "last_usage", {}) or {}
    trace.completion_tokens = int(usage.get("completion_tokens", len(parts)))
    trace.model_hash = model.model_hash
    draft = "".join(parts)
    finish = usage.get("finish_reason")  # backends that do not say are judged by the token count
    at_limit = finish == "length" if finish else trace.completion_tokens >= settings.max_answer_tokens
    return whole_sentences(draft) if cut_short or at_limit else draft


def whole_sentences(draft: str) -> str:
    """A draft stopped before the model ended it, without its unfinished last sentence: "they are subject to
    the third-" would be checked, and quoted, as if the model had meant it. Sentences as ``sentence_spans``
    finds them; a citation marker after the full stop belongs to its sentence."""
    ends = {b for _, b in sentence_spans(draft)} | {m.end() for m in MARKER.finditer(draft)}
    whole = [b for b in ends if ends_sentence(MARKER.sub("", draft[:b]))]
    return draft[: max(whole)] if whole else ""


def reject_draft(question: str, kind: str, terms: set[str], sentences: list[tuple[str, list[int]]],
                 chosen: list[Evidence]) -> str:
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
    if kind != "open" and not answer_types.has_type(kind, text, question):
        return f"missing the {kind} the question asks for"
    said_by = set().union(*(stems(e.speaker.phrase()) for e in chosen if e.speaker))
    if len(stems(text) - terms - said_by - REPORTING) <= 2:
        return "only restating the question"
    best = stems(chosen[0].text) - terms
    if best and len(best & stems(text)) / len(best) < 0.4:
        return "leaving out most of the best evidence"
    return ""
