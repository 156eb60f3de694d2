"""Text handling shared by ingestion, retrieval and the grounding check.

``normalize`` makes one canonical form of a document (offsets of chunks and citations point into it),
``sentence_spans`` finds English and Chinese sentences, ``tokenize`` makes BM25 / overlap tokens
(jieba for Chinese runs), ``numbers`` extracts numerals so copied figures can be checked exactly.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from typing import Any, Literal


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


# --- language -------------------------------------------------------------------------------------

_CJK_CLASS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_CJK_RUN = re.compile(f"[{_CJK_CLASS}]+")


_CJK_CHAR = re.compile(f"[{_CJK_CLASS}]")
_LETTER = re.compile(r"[^\W\d_]")


def is_cjk(ch: str) -> bool:
    return _CJK_CHAR.match(ch) is not None


def count_cjk(text: str) -> int:
    """Number of CJK ideographs in ``text``."""
    return len(_CJK_CHAR.findall(text))


def detect_lang(text: str) -> Literal["zh", "en"]:
    """ "zh" when CJK ideographs make up at least 20% of the letters, else "en"."""
    cjk = count_cjk(text)
    return "zh" if cjk and cjk >= 0.2 * len(_LETTER.findall(text)) else "en"


# --- tokens ---------------------------------------------------------------------------------------

ENGLISH_STOPWORDS = word_set("""a an the and or but nor if then than so as of at by for from in into on onto to with without about
    over under between through during before after above below up down out off again further once
    is are was were be been being am do does did doing have has had having will would shall should can
    could may might must i me my we us our ours you your he him his she her it its they them their
    this that these those there here what which who whom whose when where why how all any both each
    few more most other some such no not only own same too very just also s t d ll m re ve""")
CHINESE_STOPWORDS = word_set("""的 了 和 是 在 有 也 就 都 而 及 与 或 这 那 之 其 此 该 为 以 于 对 把 被 让 给 从 向 等 着 过 吗 呢 吧 啊
    呀 个 们 我 你 他 她 它 我们 你们 他们 什么 哪些 哪个 怎么 怎样 如何 为什么 是否 一个 这个 那个 这些 那些
    并 但 还 又 即 将 所 则 如 若 因为 所以 由于 以及 或者 还是 就是 可以 已经 进行 关于 请问""")
STOPWORDS = ENGLISH_STOPWORDS | CHINESE_STOPWORDS

_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_LATIN_TOKEN = re.compile(rf"(?P<num>{_NUMBER})|(?P<word>[^\W\d_]+)")
_NUMBER_RE = re.compile(rf"(?<![\d.]){_NUMBER}")


@functools.cache
def _jieba() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


@functools.lru_cache(maxsize=4096)
def chinese_names(text: str) -> tuple[tuple[str, str], ...]:
    """The names in the Chinese runs of ``text``, with jieba's part-of-speech tag: ``nr`` a person, ``ns`` a
    place, ``nt`` an organisation, ``nz`` another proper name (two characters or more)."""
    import jieba.posseg

    _jieba()
    out: list[tuple[str, str]] = []
    for run in _CJK_RUN.finditer(text):
        out.extend((p.word, p.flag) for p in jieba.posseg.cut(run.group())
                   if p.flag in ("nr", "ns", "nt", "nz") and len(p.word) >= 2)
    return tuple(out)


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is", "ous")):
        return word[:-1]
    return word


def _latin_tokens(segment: str) -> list[str]:
    out: list[str] = []
    for match in _LATIN_TOKEN.finditer(segment):
        if match.group("num"):
            out.append(match.group("num").replace(",", ""))
        else:
            out.append(_singular(match.group("word")))
    return out


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", text.translate(_FULLWIDTH)).lower()


def tokenize(text: str) -> list[str]:
    """Search tokens: lowercase words and numbers (digits joined), jieba words for Chinese; stopwords removed."""
    text = _fold(text)
    tokens: list[str] = []
    pos = 0
    for run in _CJK_RUN.finditer(text):
        tokens.extend(_latin_tokens(text[pos : run.start()]))
        tokens.extend(w for w in _jieba().lcut_for_search(run.group()) if w.strip())
        pos = run.end()
    tokens.extend(_latin_tokens(text[pos:]))
    return [t for t in tokens if t not in STOPWORDS]


def content_words(text: str) -> set[str]:
    """The distinct search tokens of ``text`` (stopwords already removed; numbers included)."""
    return set(tokenize(text))


_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_BIG = {"万": 10_000, "亿": 100_000_000}
_CN_NUMBER = re.compile("[零〇一二两三四五六七八九十百千万亿]+(?=[个家项大条种座批位年名次])")


def chinese_numeral(numeral: str) -> int | None:
    """Value of a Chinese numeral such as 五, 十二, 三百五十, 两万; None if malformed."""
    total = section = digit = 0
    for ch in numeral:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        elif ch in _CN_UNITS:
            section += (digit or 1) * _CN_UNITS[ch]
            digit = 0
        elif ch in _CN_BIG:
            total += (section + digit) * _CN_BIG[ch]
            section = digit = 0
        else:
            return None
    value = total + section + digit
    return value if value or numeral in ("零", "〇") else None


def numbers(text: str) -> set[str]:
    """All numerals, normalised: "10,000,000,000" -> "10000000000"; Chinese 五个/二十项 -> "5"/"20"."""
    text = text.translate(_FULLWIDTH)
    found = {m.group().replace(",", "") for m in _NUMBER_RE.finditer(text)}
    for match in _CN_NUMBER.finditer(text):
        value = chinese_numeral(match.group())
        if value is not None:
            found.add(str(value))
    return found
