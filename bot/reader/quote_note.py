"""Say, in the question's language, that an answer in another language is a quote.

The reader answers from the documents' own words. When they are in another language than the question (an
English question over a Chinese notice, a Chinese question over an English policy), the tiny default model
cannot translate them faithfully, so the answer stays the cited quote and a short note before it says, in the
question's language, that what follows is quoted and in which language. Languages are ``bot.lang.cjk.detect_lang``'s.
"""

from __future__ import annotations

from bot.lang.cjk import detect_lang

_NOTES = {("en", "zh"): "Quoted from the documents, in Chinese:", ("zh", "en"): "以下为文件原文（英文）："}


def quote_note(question: str, sentences: list[str]) -> str:
    """The note to put before the answer ``sentences`` (without their citation markers) when they are not in
    ``question``'s language, else ""."""
    body = " ".join(sentences)
    return _NOTES.get((detect_lang(question), detect_lang(body)), "") if body.strip() else ""


def without_note(text: str) -> str:
    """``text`` without a quote note on its first line: a client that sends an earlier answer back as history
    sends the note with it, and the note is not part of what was answered."""
    first, sep, rest = text.partition("\n")
    return rest if sep and first.strip() in _NOTES.values() else text
