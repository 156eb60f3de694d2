"""Bilingual glossary: query expansion across Chinese and English, and fixes for translation artefacts.

The file (``glossary.tsv`` in the docs folder by default, setting ``glossary_file``) belongs to the corpus, is
user-editable and is not indexed as a document. Each line is a group of equivalent terms separated by tabs;
``#`` starts a comment. When a question contains one term of a group, the other terms are added to the search
query (never to the question the model sees).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bot.lang.cjk import CJK_CHAR
from bot.lang.text import normalize


def _has_cjk(term: str) -> bool:
    return bool(CJK_CHAR.search(term))


@dataclass(frozen=True)
class Glossary:
    groups: tuple[tuple[str, ...], ...] = ()

    @classmethod
    def load(cls, path: Path) -> Glossary:
        if not path.is_file():
            return cls()
        groups = []
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            terms = tuple(normalize(t).strip() for t in line.split("\t") if t.strip())
            if len(terms) >= 2:
                groups.append(terms)
        return cls(tuple(groups))

    def _matches(self, term: str, text: str, lowered: str) -> bool:
        if _has_cjk(term):
            return term in text
        return re.search(rf"(?<![\w-]){re.escape(term.lower())}(?![\w-])", lowered) is not None

    def expansions(self, query: str) -> list[str]:
        """Terms to add to ``query``: the equivalents of every glossary term it contains."""
        text = normalize(query)
        lowered = text.lower()
        added: list[str] = []
        for group in self.groups:
            if any(self._matches(term, text, lowered) for term in group):
                added.extend(t for t in group if not self._matches(t, text, lowered) and t not in added)
        return added

    def expand(self, query: str) -> str:
        extra = self.expansions(query)
        return f"{query} {' '.join(extra)}" if extra else query

    def __len__(self) -> int:
        return len(self.groups)
