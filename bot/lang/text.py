"""Canonical text and its spans: normalisation, paragraphs and sentences (English and Chinese).

``normalize`` makes one canonical form of a document (offsets of chunks and citations point into it);
``paragraph_spans`` and ``sentence_spans`` find its paragraphs and its English and Chinese sentences.
"""

from __future__ import annotations

import re
import unicodedata

from bot.lang.cjk import is_cjk


def word_set(words: str) -> frozenset[str]:
    """A frozenset of the whitespace-separated words (for readable word lists)."""
    return frozenset(words.split())


# --- normalisation ---------------------------------------------------------------------------------

# Chinese sentence punctuation that stays full-width (sentence splitting relies on it).
_KEEP_FULLWIDTH = frozenset("！？；：，")
_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F) if chr(cp) not in _KEEP_FULLWIDTH}
_FULLWIDTH[0x3000] = 0x20
_NEWLINE_LIKE = {"\r": "\n", "\u2028": "\n", "\x85": "\n", "\x0b": "\n", "\x0c": "\n\n", "\u2029": "\n\n"}
_SPACES = re.compile(r" {2,}")
_BLANK_LINES = re.compile(r"\n{3,}")


def _clean_char(ch: str) -> str:
    if ch == "\n":
        return ch
    if ch in _NEWLINE_LIKE:
        return _NEWLINE_LIKE[ch]
    if ch.isspace():
        return " "
    if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn"):
        return ""  # control, format (zero-width, bidi overrides), surrogates, private use, unassigned
    return ch


def normalize(text: str) -> str:
    """Canonical text: NFC, half-width ASCII, no control characters, tidy spaces, paragraphs split by "\\n\\n"."""
    text = text.replace("\r\n", "\n").translate(_FULLWIDTH)
    text = "".join(_clean_char(ch) for ch in text)
    text = unicodedata.normalize("NFC", text)
    lines = [_SPACES.sub(" ", line).strip(" ") for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip("\n")


# --- sentences ------------------------------------------------------------------------------------

_FULL_TERMINALS = frozenset("。！？；")  # end a sentence wherever they stand (Chinese text has no spaces)
_TERMINALS = _FULL_TERMINALS | frozenset(".!?")
_CLOSERS = frozenset("”’\"')]}」』）】》〉")
_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n\s*")
# never end a sentence after these (lowercase, without the final '.')
_ABBREVIATIONS = word_set(
    "mr mrs ms dr prof st jr sr no nos vs fig figs art arts sec gen gov sen rep rev hon col lt sgt capt "
    "e.g i.e cf approx ca dept est u.s u.k u.n p.r.c a.k.a op vol pp ed eds ph.d"
)
# end a sentence after these only when the next word is capitalised
_SOFT_ABBREVIATIONS = word_set("etc inc ltd co corp jan feb mar apr jun jul aug sep sept oct nov dec a.m p.m")


def _is_abbreviation(text: str, dot: int, floor: int, after: int) -> bool:
    """True if the '.' at ``dot`` ends an abbreviation, an initial or a list number, not a sentence."""
    word_start = dot
    while word_start > floor and not text[word_start - 1].isspace():
        word_start -= 1
    word = text[word_start:dot].lstrip("\"'“‘([{").lower()
    if word in _ABBREVIATIONS:
        return True
    if len(word) == 1 and word.isalpha() and text[dot - 1].isupper():
        return True  # an initial: "J. Smith"
    if word.isdigit() and len(word) <= 2 and not text[floor:word_start].strip():
        return True  # a list number opening the sentence: "1. First"
    return word in _SOFT_ABBREVIATIONS and not _next_visible(text, after, len(text)).isupper()


def _next_visible(text: str, pos: int, hi: int) -> str:
    while pos < hi and text[pos].isspace():
        pos += 1
    return text[pos] if pos < hi else ""


def _ends_sentence(text: str, i: int, j: int, start: int, hi: int) -> bool:
    """Does the terminal run text[i:j] (punctuation plus closing quotes) end the sentence begun at ``start``?"""
    run = text[i:j]
    if any(c in _FULL_TERMINALS for c in run):
        return True
    at_gap = j >= hi or text[j].isspace()
    if at_gap and _next_visible(text, j, hi).islower():
        return False  # '"Is it done?" he asked.' and unknown abbreviations go on in lower case
    if "!" in run or "?" in run:
        return at_gap or is_cjk(text[j])
    return at_gap and not (text[i + 1 : i + 2] != "." and _is_abbreviation(text, i, start, j))


def _sentences_in(text: str, lo: int, hi: int, out: list[tuple[int, int]]) -> None:
    start = i = lo
    while i < hi:
        if text[i] not in _TERMINALS:
            i += 1
            continue
        j = i + 1
        while j < hi and text[j] in _TERMINALS:
            j += 1
        while j < hi and text[j] in _CLOSERS:
            j += 1
        if _ends_sentence(text, i, j, start, hi):
            _add_span(text, start, j, out)
            start = j
        i = j
    _add_span(text, start, hi, out)


def _add_span(text: str, start: int, end: int, out: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        out.append((start, end))


def ends_sentence(text: str) -> bool:
    """True if ``text`` ends as a sentence does: with 。！？； or .!? (closing quotes and brackets after it allowed)."""
    body = text.rstrip().rstrip("".join(_CLOSERS))
    return bool(body) and body[-1] in _TERMINALS


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """Spans of the paragraphs (separated by blank lines), without surrounding whitespace."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _PARAGRAPH_BREAK.finditer(text):
        _add_span(text, start, match.start(), spans)
        start = match.end()
    _add_span(text, start, len(text), spans)
    return spans


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans (start, end): split on 。！？； anywhere, on .!? before whitespace, and at paragraph breaks.

    Spans carry no surrounding whitespace and only whitespace lies between them, so no text is lost.
    """
    spans: list[tuple[int, int]] = []
    for lo, hi in paragraph_spans(text):
        _sentences_in(text, lo, hi, spans)
    return spans



def fold_width(text: str) -> str:
    """Full-width Latin letters, digits and punctuation as ASCII (the Chinese sentence marks stay full-width)."""
    return text.translate(_FULLWIDTH)
