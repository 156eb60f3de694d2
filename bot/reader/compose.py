"""Quoted answers: the best evidence, verbatim, trimmed to the clauses that answer, with who said it.

Used when no sentence of the model's draft survives the grounding check (always true of some questions with
the tiny default model), and after a model's answer to a typed question that leaves out an answer the quote
holds (:func:`supplement`). Quoting cannot invent anything; trimming long sentences to their relevant clauses
keeps answers short (DESIGN.md: one whole sentence is ~57 words and holds half the facts).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.lang.cjk import count_cjk, has_cjk
from bot.lang.text import ends_sentence
from bot.lang.words import stems
from bot.reader.answer_types import unasked
from bot.reader.evidence import (
    Evidence,
    comparable,
    needs_next,
    query_terms,
    successor,
    terms_of,
    without_footnotes,
)
from bot.reader.verify_polarity import BOUNDING, FLIPPING, ONLY
from bot.reader.verify_polarity import tokens as polarity_tokens

W_CLAUSE_MEANING = 4.0  # one question word shared counts as a quarter of full closeness in meaning
QUOTE_WORDS = 60  # the default of the ``quote_words`` setting
_CLAUSE = re.compile(r"(?<=[;；])\s*|(?<=[,，])\s+(?=(?:and |while |but |which |as well as )?[a-z])")
_QUOTES = "\"“”'‘’"


def words(text: str) -> int:
    cjk = count_cjk(text)
    return cjk + len(re.findall(r"[A-Za-z0-9]+(?:[-'’][A-Za-z0-9]+)*", text))


def _clauses(text: str) -> list[str]:
    parts = [p for p in re.split(r"(?<=[;；])\s*", text) if p.strip()]
    return parts if len(parts) > 1 else [text]


Relevance = Callable[[list[str]], list[float]]  # clause texts -> closeness in meaning to the question (cosine)


def trim(text: str, terms: set[str], budget: int, wanted: Callable[[str], bool] | None = None,
         relevance: Relevance | None = None, keep_lead: bool = False) -> str:
    """The sentence, or if longer than ``budget`` words, its best clause(s) in order, joined by "…".

    Clauses holding the kind of answer asked for (``wanted``: a date, a number, a name) come first, then
    clauses sharing the most words with the question and, given ``relevance``, closest to it in meaning
    (which finds "failure tolerance and error correction" for "make room for mistakes"). ``keep_lead`` keeps
    the opening clause first: a sentence that goes on from the one before starts with its point."""
    if words(text) <= budget:
        return text
    cut = _trim(text, terms, budget, wanted, relevance, keep_lead)
    if wanted is not None and wanted(text) and not wanted(cut) and words(text) <= LONGEST_QUOTE:
        return text  # a cut that loses the kind of answer asked for (the list, the date) is not made
    return cut


LONGEST_QUOTE = 75  # a sentence holding the asked-for answer is quoted whole up to this many words


def _trim(text: str, terms: set[str], budget: int, wanted: Callable[[str], bool] | None,
          relevance: Relevance | None, keep_lead: bool) -> str:
    clauses = _clauses(text)
    if len(clauses) == 1:
        clauses = [p for p in _CLAUSE.split(text) if p and p.strip()]
    close = relevance(clauses) if relevance is not None else [0.0] * len(clauses)

    def rank(i: int) -> tuple[int, float, int]:
        lead = 1 if i == 0 else 0  # the opening clause usually carries the sentence's subject
        fit = len(terms & stems(clauses[i])) + lead + W_CLAUSE_MEANING * close[i]
        return (-int(bool(wanted and wanted(clauses[i]))), -fit, i)

    scored = sorted(range(len(clauses)), key=rank)
    if keep_lead:
        scored = [0, *[i for i in scored if i != 0]]
    keep: list[int] = []
    used = 0
    for i in scored:
        size = words(clauses[i])
        if keep and used + size > budget:
            continue
        keep.append(i)
        used += size
        if used >= budget * 0.6:
            break
    keep.sort()
    if not keeps_meaning(clauses, keep):
        if 0 not in keep:
            keep = [0, *keep]  # the opening clause carries the negation or the modal: keep it
        if not keeps_meaning(clauses, keep):
            return text  # a cut would change what the sentence asserts: quote it whole
    pieces = []
    for j, i in enumerate(keep):
        piece = clauses[i].strip()
        if j + 1 == len(keep) or keep[j + 1] != i + 1:
            piece = piece.rstrip(",，")  # the clause that followed was left out (a ";" stays: it bounds the clause)
        if j and keep[j - 1] != i - 1:
            piece = "… " + piece
        pieces.append(piece)
    out = " ".join(pieces)
    if keep[-1] != len(clauses) - 1:
        out += " …"
    return out


_SCOPING = FLIPPING | {ONLY}  # cues that reach over the clauses after them


def keeps_meaning(clauses: list[str], keep: list[int]) -> bool:
    """Does quoting only the ``keep`` clauses keep what the sentence asserts? Not when a dropped clause before
    the first kept one holds a negation, a modal or "only" (they reach over what follows: "we will not sell,
    lease, publish or share ..."), nor when a dropped clause holds a condition ("except as set forth ...",
    "unless ...", 除非), nor when a kept condition would follow another clause than in the sentence: the
    verifier's polarity rules, applied to the cut."""
    cues = [{c for tok in polarity_tokens(clause) for c in tok.cues} for clause in clauses]
    lead = set().union(*cues[: keep[0]])
    dropped = set().union(*(cues[i] for i in range(len(clauses)) if i not in keep))
    # a kept condition after a gap would bound the kept clause before the gap, not the one it followed
    moved = any(cues[i] & BOUNDING and i - 1 not in keep for i in keep[1:])
    return not (lead & _SCOPING or dropped & BOUNDING or moved)


def attributed(item: Evidence, text: str) -> str:
    """'According to Name, role, "quote"' when a named person said it and the quoted text does not name them."""
    text = without_footnotes(text)
    if item.speaker is None or item.speaker.name.split()[-1] in text:
        return text
    body = text.strip().strip(_QUOTES).strip()
    if has_cjk(body):  # in the quote's own language, the name only (the citation has the role)
        return f"{item.speaker.name}表示：\u201c{body}\u201d"
    return f"According to {item.speaker.phrase()}, \u201c{body}\u201d"


def clause_terms(question: str, expansions: list[str], evidence: list[Evidence]) -> set[str]:
    """The words clauses are ranked by: the question's own words that the evidence uses. Glossary expansions
    ("industrial" for "industry") would count one word several times; but a Chinese question over English text
    shares no own words with it, and then its expansions are what it has."""
    used_words = set().union(*(terms_of(e.text) for e in evidence))
    return (query_terms(question, []) & used_words) or query_terms(question, expansions)


def quote_answer(question: str, expansions: list[str], evidence: list[Evidence],
                 wanted: Callable[[str], bool] | None = None,
                 relevance: Relevance | None = None, budget: int = QUOTE_WORDS,
                 runner_up: float = 0.0) -> list[tuple[str, list[int]]]:
    """Evidence sentences (attributed) with their evidence numbers (1-based): the best, trimmed to ``budget``
    words, and further ones within what is left of it.

    When the sentence model cannot tell the two best sentences apart (the second's ``p_answer`` is at least
    ``runner_up`` times the first's; 0 turns this off), the second is quoted too, within a budget of its own
    (so the answer may reach twice ``budget``), unless the best sentence already says all of it: the reader
    says both rather than guess."""
    terms = clause_terms(question, expansions, evidence)
    best = evidence[0]
    first = attributed(best, trim(best.text, terms, budget, wanted, relevance))
    out = [(first, [1])]
    used = words(first)
    follows = len(evidence) > 1 and needs_next(best, terms) and successor(best, evidence) is evidence[1]
    for n, item in enumerate(evidence[1:], start=2):
        carries = n == 2 and follows  # the best sentence is a lead-in; this one goes on with it
        if (item.score < 0.7 * best.score and not carries) or used >= budget - 12:
            break
        extra = attributed(item, trim(item.text, terms, budget - used, wanted, relevance, keep_lead=carries))
        if used + words(extra) <= budget and (carries or (terms & stems(item.text)) - (terms & stems(best.text))):
            out.append((extra, [n]))
            used += words(extra)
    if (runner_up and len(evidence) > 1 and all(n != [2] for _, n in out) and _close(evidence[0], evidence[1], runner_up)
            and comparable(evidence[1].text) not in comparable(best.text)):  # the best already says all of it
        out.insert(1, (attributed(evidence[1], trim(evidence[1].text, terms, budget, wanted, relevance)), [2]))
    return out


def _close(best: Evidence, second: Evidence, ratio: float) -> bool:
    return best.p_answer is not None and second.p_answer is not None and second.p_answer >= ratio * best.p_answer


_WRAPPER = re.compile("^According to [^\u201c]*, \u201c(.*)\u201d$|^[^\u201c]*表示：\u201c(.*)\u201d$", re.S)  # attributed()


def supplement(written: list[tuple[str, list[int]]], quoted: list[tuple[str, list[int]]],
               wanted: Callable[[str], bool] | None) -> tuple[list[tuple[str, list[int]]], int]:
    """The answer's sentences, and how many quoted pieces follow the model's: with no sentence of the model's, the
    quote (:func:`quote_answer`); else the model's sentences, then each quoted piece in their language, citing
    evidence they do not cite, whose own text (without the "According to X" wrapper) holds an answer of the kind
    asked for (``wanted``: a name, a date, a figure) once the names and figures the model wrote are masked out.
    A model that copies one of two sentences the reader cannot tell apart (the runner-up) does not lose the
    other's answer; an open question keeps the model's answer."""
    if not written:
        return quoted, 0
    if wanted is None:
        return written, 0
    cited = {n for _, ns in written for n in ns}
    said = " ".join(s for s, _ in written)

    def holds_more(piece: str) -> bool:
        wrapped = _WRAPPER.match(piece)
        body = next(g for g in wrapped.groups() if g is not None) if wrapped else piece
        return has_cjk(body) == has_cjk(said) and wanted(unasked(body, said))

    extra = [(s, ns) for s, ns in quoted if not set(ns) & cited and holds_more(s)]
    last, ns = written[-1]
    if extra and not ends_sentence(last):  # "… 7月6日至8日 [1]" runs into what follows unless it ends
        written = [*written[:-1], (last + ("。" if has_cjk(last) else "."), ns)]
    return written + extra, len(extra)
