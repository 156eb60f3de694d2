"""The sources of one index generation as the reader sees them: who speaks in each paragraph, which paragraphs
speak to the assistant (planted instructions), and the span a citation quotes.

Cached per document and swapped whole with the index generation when documents are added or removed.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from bot.answer import Scope
from bot.ingest.index import Index
from bot.lang.text import paragraph_spans
from bot.reader.evidence import Evidence
from bot.reader.injection import planted_spans
from bot.reader.refusal import searched_sentence
from bot.reader.speakers import Speaker, attribute
from bot.retrieve.hybrid import Retriever
from bot.retrieve.named import Named, named_documents, unindexed_site


@dataclass
class Loaded:
    """What a question needs from the current index generation; swapped whole on re-index."""

    index: Index
    retriever: Retriever
    speakers: dict[str, tuple[list[int], list[Speaker | None]]] = field(default_factory=dict)
    planted: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    titles: dict[str, str] | None = None

    def speaker_at(self, doc_id: str, offset: int) -> Speaker | None:
        if doc_id not in self.speakers:
            text = self.index.doc_text(doc_id)
            spans = paragraph_spans(text)
            self.speakers[doc_id] = ([s for s, _ in spans], attribute(text, spans))
        starts, speakers = self.speakers[doc_id]
        i = bisect.bisect_right(starts, offset) - 1
        return speakers[i] if 0 <= i < len(speakers) else None

    def is_planted(self, doc_id: str, offset: int) -> bool:
        """True if ``offset`` lies in a paragraph that speaks to the assistant (see ``bot.reader.injection``)."""
        if doc_id not in self.planted:
            text = self.index.doc_text(doc_id)
            self.planted[doc_id] = planted_spans(text, paragraph_spans(text))
        return any(s <= offset < e for s, e in self.planted[doc_id])

    def attach_source(self, item: Evidence) -> None:
        """Set who said the sentence and the span a citation quotes: the sentence, widened to include the
        speaker's name (and role) when they stand in the same paragraph, so the citation shows both."""
        item.cite_start, item.cite_end, item.cite_text = item.start, item.end, item.text
        speaker = self.speaker_at(item.doc_id, item.start)
        if speaker is None:
            return
        text = self.index.doc_text(item.doc_id)
        starts = self.speakers[item.doc_id][0]
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

    def _titles(self) -> dict[str, str]:
        if self.titles is None:
            self.titles = {d: r.title.strip() for d, r in self.index.manifest.documents.items()}
        return self.titles

    def named(self, question: str) -> Named | None:
        """The indexed documents the question names by title (see ``bot.retrieve.named``)."""
        return named_documents(question, self._titles())

    def unindexed_site(self, question: str) -> str | None:
        """The web address the question's lead names that no indexed document has (see ``bot.retrieve.named``)."""
        return unindexed_site(question, self._titles(), self.index.keywords.knows)

    def searched(self, standalone: str, scope: Scope | None) -> str:
        """What a refusal says was searched: how many documents, within which scope, for which question."""
        titles = self._titles()
        if scope and scope.doc_ids:  # by title where the index knows it: "example.com", not "policy_example_com"
            names = [titles.get(d) or d for d in scope.doc_ids]
            return searched_sentence(standalone, len(scope.doc_ids), len(titles), names)
        within = (scope.titles or scope.paths) if scope and not scope.is_empty() else []
        return searched_sentence(standalone, len(titles), None, within)
