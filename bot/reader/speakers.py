"""Who said it: attribution of a document's paragraphs to named speakers and their roles.

Press-conference reports quote officials: ``"...," Maria Lopez said.``, ``Ahmed Khan, director of the
Planning Department of ..., said that ...``, ``said Chen Wei, deputy director of ...``; in Chinese, a name
(jieba's person tag) followed by 表示, 指出, 说 or 介绍, with the role written before it. A paragraph whose
speaker is not named but speaks as "we" continues the previous paragraph's speaker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.lang.cjk import CJK_CLASS, chinese_names, has_cjk

_WORD = r"[A-Z][a-z]+(?:-[A-Z]?[a-z]+)?"
NAME = rf"{_WORD}(?: {_WORD}){{1,2}}"
_VERBS = r"(?:said|says|introduced|emphasized|emphasised|stated|noted|explained|added|pointed out|stressed)"
_ROLE = r"(?P<role>[^\"“”.;:]{4,160}?)"
_PATTERNS = [
    re.compile(rf"(?P<name>{NAME}), {_ROLE},? {_VERBS}\b"),
    re.compile(rf"\b{_VERBS} (?P<name>{NAME}), {_ROLE}(?:[.,]|$)"),
    re.compile(rf"(?P<name>{NAME}) {_VERBS}\b"),
    re.compile(rf"\b{_VERBS} (?P<name>{NAME})\b"),
]
_NOT_NAME_WORDS = {
    "Province", "Provincial", "Department", "Industry", "Information", "Technology", "Ministry",
    "Commission", "Planning", "Division", "Science", "The", "Future", "Evening", "News", "Daily", "Times", "Post", "Action",
    "Plan", "Group", "Leading", "Council", "State", "National", "Office", "Bureau", "Committee", "Electronic",
    "Open", "Press", "Conference", "Meeting", "First", "New", "Year", "Development", "Reform", "He", "She",
    "They", "We", "It", "This", "That", "Regarding", "At", "In", "On", "For",
}
_FIRST_PERSON = re.compile(r"\b(we|our|us)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Speaker:
    name: str
    role: str = ""

    def phrase(self) -> str:
        return f"{self.name}, {self.role}" if self.role else self.name


def _clean_role(role: str) -> str:
    role = role.strip(" ,")
    role = re.sub(r"^(?:the|The)\s+", "", role)
    parts = role.split(" of the ")
    if len(parts) > 2:
        role = " of the ".join(parts[:2])
    return role.strip()


def _is_name(name: str) -> bool:
    return not any(word in _NOT_NAME_WORDS for word in name.split())


def known_roles(text: str) -> dict[str, str]:
    """Name -> role for every "Name, role, said" / "said Name, role" in the document."""
    roles: dict[str, str] = {}
    for pattern in _PATTERNS[:2]:
        for match in pattern.finditer(text):
            name = match.group("name")
            if _is_name(name) and name not in roles and len(match.group("role").split()) >= 2:
                roles[name] = _clean_role(match.group("role"))
    return roles


_ZH_VERBS = re.compile(r"(?:在[^，。；：“”]{0,12}?)?(?:表示|指出|说|介绍|强调|认为|透露)")
_ZH_ROLE = re.compile(rf"[{CJK_CLASS}]{{2,24}}$")


def chinese_speaker(paragraph: str) -> Speaker | None:
    """Who speaks in a Chinese paragraph: a person's name (jieba's ``nr`` tag) directly followed by 表示, 指出,
    说, 介绍, 强调 (…在会上表示), with the role written just before the name (…厅副厅长 + name)."""
    for name in dict.fromkeys(w for w, tag in chinese_names(paragraph) if tag == "nr"):
        for match in re.finditer(re.escape(name), paragraph):
            if _ZH_VERBS.match(paragraph, match.end()):
                before = _ZH_ROLE.search(paragraph[max(0, match.start() - 24):match.start()])
                return Speaker(name, before.group(0) if before else "")
    return None


def paragraph_speaker(paragraph: str, roles: dict[str, str]) -> Speaker | None:
    if has_cjk(paragraph):
        zh = chinese_speaker(paragraph)
        if zh is not None:
            return zh
    for pattern in _PATTERNS:
        for match in pattern.finditer(paragraph):
            name = match.group("name")
            if _is_name(name):
                return Speaker(name, roles.get(name, ""))
    return None


def attribute(text: str, paragraphs: list[tuple[int, int]]) -> list[Speaker | None]:
    """The speaker of each paragraph span of ``text`` (None when nobody is quoted)."""
    roles = known_roles(text)
    out: list[Speaker | None] = []
    previous: Speaker | None = None
    for start, end in paragraphs:
        para = text[start:end]
        speaker = paragraph_speaker(para, roles)
        if speaker is None and previous is not None and _FIRST_PERSON.search(para):
            speaker = previous
        out.append(speaker)
        previous = speaker
    return out
