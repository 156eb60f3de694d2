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


def searched_sentence(question: str, docs: int, of: int | None = None, within: Sequence[str] = ()) -> str:
    """What a refusal says was searched: ``docs`` documents (``of`` the index's, when a scope chose them),
    ``within`` the named scope, for ``question``; in the question's language."""
    names = ", ".join(dict.fromkeys(within))
    if detect_lang(question) == "zh":
        where = (f"（共{of}份）" if of is not None else "") + (f"，范围：{'、'.join(dict.fromkeys(within))}" if names else "")
        return f"已检索{docs}份文件{where}，问题：\u201c{question}\u201d。"
    where = ((f" of {of}," if of is not None else "") + (f" within {names}" if names else "")).rstrip(",")
    return f"Searched {docs} document{'s' if docs != 1 else ''}{where} for: \u201c{question}\u201d."


def no_document_about(site: str, question: str) -> str:
    """The refusal's reason when the question names a web site no indexed document is about."""
    return f"索引中没有关于 {site} 的文件。" if detect_lang(question) == "zh" else f"No indexed document is about {site}."
