"""Chinese and other CJK text: the one ideograph class, language detection, jieba, names and numerals.

Every stage that asks "is this Chinese?" uses ``CJK_CLASS`` / ``has_cjk`` / ``han_share`` from here;
``jieba_module`` loads jieba once; ``chinese_names`` gives its nr/ns/nt/nz tags; ``chinese_numeral`` reads 五/二十.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any, Literal

CJK_CLASS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
CJK_RUN = re.compile(f"[{CJK_CLASS}]+")


CJK_CHAR = re.compile(f"[{CJK_CLASS}]")
_LETTER = re.compile(r"[^\W\d_]")


def is_cjk(ch: str) -> bool:
    return CJK_CHAR.match(ch) is not None


def count_cjk(text: str) -> int:
    """Number of CJK ideographs in ``text``."""
    return len(CJK_CHAR.findall(text))


def detect_lang(text: str) -> Literal["zh", "en"]:
    """ "zh" when CJK ideographs make up at least 20% of the letters, else "en"."""
    cjk = count_cjk(text)
    return "zh" if cjk and cjk >= 0.2 * len(_LETTER.findall(text)) else "en"




def has_cjk(text: str) -> bool:
    """True if ``text`` holds at least one CJK ideograph."""
    return CJK_CHAR.search(text) is not None


def han_share(text: str) -> float:
    """Share of the word characters of ``text`` that are CJK ideographs (the reader's language test)."""
    letters = re.findall(r"\w", text)
    return sum(bool(CJK_CHAR.match(c)) for c in letters) / len(letters) if letters else 0.0


@functools.cache
def jieba_module() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


@functools.lru_cache(maxsize=4096)
@functools.lru_cache(maxsize=4096)
def tagged_words(text: str) -> tuple[tuple[str, str], ...]:
    """jieba's words of two characters or more in the Chinese runs of ``text``, with their part-of-speech tags.
    Cached: a candidate sentence is read by the answer-type test, the answerability test and the sentence model
    of the same question."""
    import jieba.posseg

    jieba_module()
    return tuple((p.word, p.flag) for run in CJK_RUN.finditer(text) for p in jieba.posseg.cut(run.group())
                 if len(p.word) >= 2)


def chinese_names(text: str) -> tuple[tuple[str, str], ...]:
    """The names in the Chinese runs of ``text``, with jieba's part-of-speech tag: ``nr`` a person, ``ns`` a
    place, ``nt`` an organisation, ``nz`` another proper name (two characters or more)."""
    return tuple(pair for pair in tagged_words(text) if pair[1] in ("nr", "ns", "nt", "nz"))


def chinese_nouns(text: str) -> list[str]:
    """The nouns (jieba's n* tags, two characters or more) of the Chinese runs of ``text``, in order."""
    return [word for word, flag in tagged_words(text) if flag.startswith("n")]


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


def chinese_counts(text: str) -> set[str]:
    """The values of the Chinese numerals that count something in ``text`` (五个 -> "5", 二十项 -> "20")."""
    values = (chinese_numeral(m.group()) for m in _CN_NUMBER.finditer(text))
    return {str(v) for v in values if v is not None}
