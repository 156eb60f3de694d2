"""The answer as the user sees it: cited sentences renumbered 1..k, citations with highlights, and whether the
cited evidence covers what the question is about (``answered``) or only part of it (``partial``).
"""

from __future__ import annotations

import re
from typing import Literal

from bot.answer import Answer, Citation, Trace
from bot.lang.words import stem, stems
from bot.reader import answer_types, evidence, ground
from bot.reader.evidence import Evidence
from bot.reader.quote_note import quote_note


def assemble(question: str, standalone: str, expansions: list[str], sentences: list[tuple[str, list[int]]],
             chosen: list[Evidence], ranked: list[Evidence], trace: Trace) -> Answer:
    """Renumber the cited evidence 1..k in order of first use and build the citations."""
    order: dict[int, int] = {}
    for _, ns in sentences:
        for n in ns:
            order.setdefault(n, len(order) + 1)
    text = " ".join(ground.cite(s, [order[n] for n in ns]) for s, ns in sentences)
    note = quote_note(question, [s for s, _ in sentences])
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
    subject = {t for t in evidence.query_terms(question, []) if t not in answer_types.TYPE_TERMS and t in seen}
    cited = set().union(*(stems(chosen[old - 1].support_text) for old in order)) if order else set()
    covered = len(subject & cited) / len(subject) if subject else 1.0
    status: Literal["answered", "partial"] = "answered" if covered >= 0.5 else "partial"
    return Answer(text=text, citations=citations, status=status, trace=trace, question=question, note=note)
