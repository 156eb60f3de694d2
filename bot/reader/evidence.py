"""Evidence selection: from the retrieved passages, the few sentences that answer the question.

Each sentence of each retrieved chunk is scored by meaning (cosine of MiniLM vectors, cached per sentence)
and by words (share of the question's terms, glossary expansions included). A sentence that is itself a
question (a heading such as "Why were these five industries chosen?") is never evidence, but lends its
score to the sentence that follows it. Each evidence sentence knows who said it (see ``bot.reader.speakers``).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from langchain_core.embeddings import Embeddings

from bot.lang.cjk import CJK_CHAR, CJK_CLASS, count_cjk
from bot.lang.text import sentence_spans
from bot.lang.words import content_words, stems
from bot.reader.speakers import Speaker
from bot.retrieve.hybrid import Passage

W_MEANING, W_WORDS, W_RANK, W_TYPE = 0.55, 0.45, 0.05, 0.2
W_HEAD = 0.2  # more, when the typed answer is in terms of the question's own noun (see answer_types.names_head)
QUESTION_WORDS = {"what", "why", "how", "who", "whom", "whose", "when", "where", "which", "many", "much",
                   "does", "did", "do", "is", "are", "was", "were", "will", "would", "can", "could", "should",
                   "the", "a", "an", "of", "in", "on", "for", "to", "and", "or", "about", "say", "said", "tell",
                   "me", "please", "according", "document", "documents"}


@dataclass
class Evidence:
    """One candidate sentence with its source location (offsets into the normalised document)."""

    doc_id: str
    title: str
    path: str
    chunk_id: str
    paragraph: int
    start: int
    end: int
    text: str
    passage_rank: int
    score: float = 0.0
    meaning: float = 0.0
    words: float = 0.0
    typed: bool = False  # holds the kind of answer asked for (see ``score``)
    anchored: bool = False  # and in terms of the question's own noun
    p_answer: float | None = None  # the fitted sentence model's probability that this is the answer
    heading_meaning: float = 0.0  # closeness in meaning and words of the question heading it answers, if any
    heading_words: float = 0.0
    speaker: Speaker | None = None
    after_heading: str = ""
    cite_start: int = -1
    cite_end: int = -1
    cite_text: str = ""

    @property
    def support_text(self) -> str:
        """What the grounding check may rely on: the cited span (sentence plus who said it) and its heading."""
        return f"{self.after_heading} {self.cite_text or self.text}".strip()

    def prompt_line(self, n: int, text: str | None = None) -> str:
        """The numbered line the model reads: who said it, then ``text`` (default: the whole sentence)."""
        who = f" ({self.speaker.name} said)" if self.speaker else ""  # the name only: every token costs time
        return f"[{n}]{who} {without_footnotes(self.text if text is None else text)}"


_FOOTNOTE = re.compile(r"\s*\[\d{1,3}\]")
_BRACKETED_NUMBER = re.compile(r"\[(\d{4,})\]")


def without_footnotes(text: str) -> str:
    """The text without the source's own footnote markers ("... programme[3][4], ..."): in an answer or a prompt
    they would read as citations of evidence that does not exist. A longer bracketed number is part of the text
    (the year of a document number, "国办发[2020]10号") and keeps its place in other brackets, 〔2020〕 in Chinese
    (the official form) and (2020) otherwise, for the same reason. A citation still quotes the source exactly."""
    text = _FOOTNOTE.sub("", text)
    return _BRACKETED_NUMBER.sub(r"〔\1〕" if CJK_CHAR.search(text) else r"(\1)", text)


def terms_of(text: str) -> set[str]:
    """Content-word stems of the Latin text and the jieba words (two characters or more) of the Chinese."""
    return stems(text) | {w for w in content_words(text) if CJK_CHAR.search(w) and len(w) >= 2}


def query_terms(question: str, expansions: list[str]) -> set[str]:
    """The question's content-word stems (and Chinese words) plus its glossary expansions.

    An expansion that only lengthens a word already asked ("Ontario Province" for "Ontario", "industrial"
    for "industry") adds no new way of saying it, and would count the same idea twice: it is left out."""
    own = terms_of(question)
    extra: set[str] = set()
    for phrase in expansions:
        phrase_terms = terms_of(phrase)
        if phrase_terms & own:
            continue
        extra |= {s for s in phrase_terms if not any(s[:6] == o[:6] for o in own)}
    return {t for t in own | extra if t not in QUESTION_WORDS}


class SentenceVectors:
    """A bounded cache of sentence vectors, so a passage's sentences are embedded once per process."""

    def __init__(self, embeddings: Embeddings, capacity: int = 50_000) -> None:
        self.embeddings, self.capacity = embeddings, capacity
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def get(self, texts: list[str]) -> np.ndarray:
        keys = [hashlib.blake2b(t.encode(), digest_size=12).hexdigest() for t in texts]
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in self._cache))
        if missing:
            for text, vec in zip(missing, self.embeddings.embed_documents(missing), strict=True):
                self._cache[hashlib.blake2b(text.encode(), digest_size=12).hexdigest()] = np.asarray(vec, np.float32)
            while len(self._cache) > self.capacity:
                self._cache.popitem(last=False)
        return np.stack([self._cache[k] for k in keys]) if keys else np.zeros((0, 384), np.float32)


def candidates(passages: list[Passage]) -> list[Evidence]:
    """Every sentence of the passages, once, in passage order (speakers are attached by the pipeline)."""
    seen: set[tuple[str, int]] = set()
    out: list[Evidence] = []
    for rank, passage in enumerate(passages):
        chunk = passage.chunk
        for s, e in _merge_speech_tails(chunk.text, sentence_spans(chunk.text)):
            key = (chunk.doc_id, chunk.start + s)
            if key in seen:
                continue
            seen.add(key)
            out.append(Evidence(chunk.doc_id, chunk.title, chunk.path, chunk.id, chunk.paragraph,
                                chunk.start + s, chunk.start + e, chunk.text[s:e], rank))
    return out


_SPEECH_TAIL = re.compile(r"^[\"”’]?\s*([A-Z][a-z]+ ){1,3}(said|says|added|noted|stated|explained)\b|^(said|says) ", re.I)


def _merge_speech_tails(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Join a short 'the minister said.' to the quotation before it: together they are one statement."""
    out: list[tuple[int, int]] = []
    for s, e in spans:
        piece = text[s:e]
        if len(piece.split()) <= 6 and _SPEECH_TAIL.search(piece):
            if out and "\n\n" not in text[out[-1][1]:s]:
                out[-1] = (out[-1][0], e)
            continue  # a bare "X said." at a chunk edge says nothing by itself
        out.append((s, e))
    return out


def _is_heading(text: str) -> bool:
    """A question heading ("Why were these five industries chosen?") or a short label line without an end
    mark ("三、提前部署复产复工安全生产工作", "北京市市场监督管理局"): it names what follows, it does not state it."""
    body = text.strip()
    if body.endswith(("?", "？")):
        return len(body.split()) <= 25
    if re.search(r"[。！？.!;；:：\"”」』)）]$", body):
        return False
    return count_cjk(body) <= 30 and len(re.findall(r"[A-Za-z]+", body)) <= 12


def _is_fragment(text: str) -> bool:
    """A by-line tail or label such as "(City Evening Post)": too short to state anything."""
    return len(re.findall(r"\w+", text)) < 4 and not re.search(rf"[{CJK_CLASS}]{{4}}", text)


def score(question_vec: np.ndarray, terms: set[str], items: list[Evidence], vectors: SentenceVectors,
          wanted: Callable[[str], bool] | None = None, anchored: Callable[[str], bool] | None = None,
          ) -> list[Evidence]:
    """Score every candidate; return the non-heading ones, best first. ``wanted`` marks sentences that hold
    the kind of answer asked for (a date for "when", a number for "how many"), which get a bonus; ``anchored``
    those whose answer names the question's own noun ("12 regional training centres"), which get more."""
    if not items:
        return []
    mat = vectors.get([e.text for e in items])
    meaning = mat @ question_vec
    bags = [terms_of(f"{e.after_heading} {e.text} {e.speaker.phrase() if e.speaker else ''}") for e in items]
    # a word found in few candidate sentences tells more than one found in all of them (local IDF)
    # (squared, so that words in most candidates count for little next to a rare, specific one such as "2035")
    df = {t: sum(t in bag for bag in bags) for t in terms}
    weight = {t: math.log((len(items) + 1) / (0.5 + n)) ** 2 for t, n in df.items() if n}
    # A term no candidate uses cannot tell them apart, but still counts in the total, as much as the rarest
    # term that is used: otherwise a question whose only matching word is common ("province") would score a
    # full match on every sentence holding that word.
    rarest = math.log((len(items) + 1) / 1.5) ** 2
    # (Chinese words of a question over English text are the exception: the glossary carries those across.)
    total = sum(weight.values()) + rarest * sum(1 for t, n in df.items() if not n and not CJK_CHAR.search(t))
    for i, item in enumerate(items):
        item.meaning = float(meaning[i])
        item.words = sum(weight.get(t, 0.0) for t in terms & bags[i]) / total if total else 0.0
        item.score = W_MEANING * item.meaning + W_WORDS * item.words + W_RANK / (1 + item.passage_rank)
        if wanted is not None and wanted(item.text):
            item.typed = True
            item.score += W_TYPE
            if anchored is not None and anchored(item.text):
                item.anchored = True
                item.score += W_HEAD
    ordered = sorted(items, key=lambda e: (e.doc_id, e.start))
    for prev, nxt in zip(ordered, ordered[1:], strict=False):
        if _is_heading(prev.text) and not _is_heading(nxt.text) and prev.doc_id == nxt.doc_id:
            if prev.score > nxt.score:
                nxt.score = 0.5 * (prev.score + nxt.score) + 0.05
            nxt.after_heading = prev.text
            nxt.heading_meaning, nxt.heading_words = prev.meaning, prev.words
    return sorted((e for e in items if not _is_heading(e.text) and not _is_fragment(e.text)), key=lambda e: -e.score)


def restates(item: Evidence, terms: set[str]) -> bool:
    """True if the sentence says little beyond the question's own words ("X said that the pilot scheme
    will be extended" for "how will the pilot scheme be extended?"): the answer is in what follows."""
    said_by = stems(item.speaker.phrase()) if item.speaker else set()
    return len(stems(item.text) - terms - said_by - REPORTING) <= 2


REPORTING = {"said", "say", "says", "noted", "added", "stated", "introduced", "emphasized", "promoted", "will"}


def needs_next(item: Evidence, terms: set[str]) -> bool:
    """A best sentence that restates the question, or is short (a lead-in such as "The director said that the
    pilot scheme will be extended"), is read together with the sentence after it."""
    return restates(item, terms) or len(re.findall(r"\w+", item.text)) < SHORT_WORDS


SHORT_WORDS = 20


def successor(item: Evidence, ranked: list[Evidence]) -> Evidence | None:
    """The candidate sentence that directly follows ``item`` in its document, if it was retrieved."""
    after = [e for e in ranked if e.doc_id == item.doc_id and e.start >= item.end]
    nxt = min(after, key=lambda e: e.start, default=None)
    return nxt if nxt is not None and nxt.start - item.end <= 4 else None


def comparable(text: str) -> str:
    """The sentence as near-duplicates compare: lowercased, punctuation and spacing folded."""
    return re.sub(r"\W+", " ", text.lower()).strip()


def select(ranked: list[Evidence], n: int, terms: set[str] | None = None) -> list[Evidence]:
    """The best ``n`` evidence sentences, without near-duplicates. When the best one only restates the
    question or is a short lead-in (see :func:`needs_next`), the sentence after it comes second."""
    chosen: list[Evidence] = []
    for item in ranked:
        norm = comparable(item.text)
        if any(norm == comparable(c.text) for c in chosen):
            continue
        chosen.append(item)
        if len(chosen) == n:
            break
    if terms is not None and len(chosen) > 1 and needs_next(chosen[0], terms):
        nxt = successor(chosen[0], ranked)
        if nxt is not None:
            chosen = [chosen[0], nxt, *[c for c in chosen[1:] if c is not nxt]][:n]
    return chosen
