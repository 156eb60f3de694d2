"""Questions that name their document: "example.com privacy policy: do you share my data?".

A question whose leading part, cut off by a colon or a comma, names an indexed document by its whole title
("<title> privacy policy: ...", "According to the <title>, ...") says where to look in that part, and what it
asks in the rest. Retrieval is scoped to that document (to every document of that title) and the evidence is
scored against the rest: otherwise the words that name the document pick out the sentences that repeat its
name (its heading, "This privacy policy applies to ...") over the ones that answer. A title named inside the
question itself ("What did <agency> announce in March?") is left to retrieval: many documents may mention
what is one document's title (an issuing agency's name heads each of its notices).

Only whole titles count, matched on word boundaries (anywhere, for Chinese), and only titles long enough
not to be an ordinary word of a question (:data:`MIN_TITLE_CHARS`); the rest must still be a question of
:data:`MIN_ASKED_WORDS` words or more.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bot.answer import Scope
from bot.lang.cjk import has_cjk
from bot.retrieve.followup import question_words

MIN_TITLE_CHARS = 6  # shorter titles ("Notes", "FAQ") are words a question uses for other things
MIN_ASKED_WORDS = 3  # what is left must still be a question (Latin words; Chinese at two characters a word)
_SITE = re.compile(r"(?<![\w@.-])((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,})(?![\w-])", re.IGNORECASE)
_LEAD = re.compile(r"^(?P<lead>[^:：,，?？]+)[:：,，]\s*(?P<rest>\S.*)$", re.DOTALL)


@dataclass(frozen=True)
class Named:
    """The documents a question names, and what it asks once the naming part is set aside."""

    doc_ids: tuple[str, ...]
    asked: str

    @property
    def scope(self) -> Scope:
        return Scope(doc_ids=self.doc_ids)


def _lead(question: str) -> tuple[str, str] | None:
    """(the leading part, the rest) when a colon or a comma sets off a leading part and the rest is a question."""
    match = _LEAD.match(question.strip())
    if match is None or question_words(match.group("rest")) < MIN_ASKED_WORDS:
        return None
    return match.group("lead"), match.group("rest").strip()


def _mentions(question: str, title: str) -> re.Match[str] | None:
    if has_cjk(title):
        return re.search(re.escape(title), question)
    return re.search(rf"(?<![\w.-]){re.escape(title)}(?![\w-])", question, re.IGNORECASE)


def named_documents(question: str, titles: Mapping[str, str]) -> Named | None:
    """The indexed documents whose whole title the question names in a leading part of its own (``titles``:
    doc id -> title, stripped), with the question cut to what it asks; None when it names none that way."""
    parts = _lead(question)
    if parts is None:
        return None
    where, rest = parts
    folded = where.lower()
    hits: list[tuple[str, int]] = []
    for doc_id, title in titles.items():
        if len(title) < (3 if has_cjk(title) else MIN_TITLE_CHARS) or title.lower() not in folded:
            continue  # (the plain test first: a corpus may have thousands of titles)
        if _mentions(where, title):
            hits.append((doc_id, len(title)))
    if not hits:
        return None
    longest = max(n for _, n in hits)  # "example.com" and "shop.example.com" both match: the longer one
    return Named(tuple(sorted(d for d, n in hits if n == longest)), rest)


def unindexed_site(question: str, titles: Mapping[str, str], knows: Callable[[str], bool]) -> str | None:
    """The web address ("example.org") that the question's leading part names when no indexed document has it
    in its title and no indexed text uses its name (``knows``: a word some chunk holds). Answering such a
    question from another site's documents would be a confident wrong quote: the reader refuses and says so."""
    parts = _lead(question)
    if parts is None:
        return None
    for match in _SITE.finditer(parts[0]):
        site = re.sub(r"^www\.", "", match.group(1).lower())
        names = site.split(".")[:-1]  # without the top-level domain
        if any(site in title.lower() for title in titles.values()) or any(knows(name) for name in names):
            continue
        return site
    return None
