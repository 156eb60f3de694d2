"""The refusal in the question's language: "the documents do not say", and what was searched.

A question asked in Chinese is refused in Chinese (``refusal_text_zh``), one asked in English in English
(``refusal_text``); the language is the question's own, by ``bot.lang.cjk.detect_lang``, never the documents'.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.lang.cjk import detect_lang
from bot.settings import Settings


def refusal_sentence(settings: Settings, question: str) -> str:
    """The fixed refusal sentence for ``question``'s language."""
    return settings.refusal_text_zh if detect_lang(question) == "zh" else settings.refusal_text


_OPENINGS = {"en": ("Searched ", "No indexed document is about "), "zh": ("已检索", "索引中没有关于 ")}


def searched_sentence(question: str, docs: int, of: int | None = None, within: Sequence[str] = ()) -> str:
    """What a refusal says was searched: ``docs`` documents (``of`` the index's, when a scope chose them),
    ``within`` the named scope, for ``question``; in the question's language."""
    unique = list(dict.fromkeys(within))
    if detect_lang(question) == "zh":
        where = (f"（共{of}份）" if of is not None else "") + (f"，范围：{'、'.join(unique)}" if unique else "")
        return f"{_OPENINGS['zh'][0]}{docs}份文件{where}，问题：\u201c{question}\u201d。"
    parts = ([f"of {of}"] if of is not None else []) + ([f"within {', '.join(unique)}"] if unique else [])
    where = f" {', '.join(parts)}" if parts else ""
    return f"{_OPENINGS['en'][0]}{docs} document{'s' if docs != 1 else ''}{where} for: \u201c{question}\u201d."


def no_document_about(site: str, question: str) -> str:
    """The refusal's reason when the question names a web site no indexed document is about."""
    if detect_lang(question) == "zh":
        return f"{_OPENINGS['zh'][1]}{site} 的文件。"
    return f"{_OPENINGS['en'][1]}{site}."


def is_searched_sentence(text: str) -> bool:
    """Is ``text`` one of the sentences above (in either language), not a bare question to be labelled?"""
    return text.startswith(tuple(o for openings in _OPENINGS.values() for o in openings))
