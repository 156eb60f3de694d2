"""Words: stopwords, search tokens, singular forms, match stems, capitalised names and numerals.

``tokenize`` makes BM25 / overlap tokens (jieba for Chinese runs), ``stems`` the match keys of the grounding
check and the evidence scores, ``capitalised_names`` the names a sentence introduces, ``numbers`` the figures that
must be copied exactly.
"""

from __future__ import annotations

import re
import unicodedata

from bot.lang.cjk import CJK_RUN, chinese_counts, has_cjk, jieba_module
from bot.lang.text import fold_width, word_set

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


def singular(word: str) -> str:
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
            out.append(singular(match.group("word")))
    return out


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", fold_width(text)).lower()


def tokenize(text: str) -> list[str]:
    """Search tokens: lowercase words and numbers (digits joined), jieba words for Chinese; stopwords removed."""
    text = _fold(text)
    tokens: list[str] = []
    pos = 0
    for run in CJK_RUN.finditer(text):
        tokens.extend(_latin_tokens(text[pos : run.start()]))
        tokens.extend(w for w in jieba_module().lcut_for_search(run.group()) if w.strip())
        pos = run.end()
    tokens.extend(_latin_tokens(text[pos:]))
    return [t for t in tokens if t not in STOPWORDS]


def content_words(text: str) -> set[str]:
    """The distinct search tokens of ``text`` (stopwords already removed; numbers included)."""
    return set(tokenize(text))


def numbers(text: str) -> set[str]:
    """All numerals, normalised: "10,000,000,000" -> "10000000000"; Chinese 五个/二十项 -> "5"/"20"."""
    text = fold_width(text)
    return {m.group().replace(",", "") for m in _NUMBER_RE.finditer(text)} | chinese_counts(text)


def stem(word: str) -> str:
    """The match key of an English word: a crude suffix strip ("industries" -> "industry", "planned" -> "plann").

    Not a word to show: ``singular`` makes the tokens of the keyword index; ``stem`` makes the keys by which the
    grounding check and the evidence scores compare a sentence with a passage (both sides stemmed alike).
    """
    w = word.lower().strip("'’")
    for suffix, repl, min_len in (("ies", "y", 5), ("ing", "", 6), ("ed", "", 5), ("es", "", 5), ("s", "", 4)):
        if w.endswith(suffix) and len(w) >= min_len:
            return w[: -len(suffix)] + repl
    return w


def stems(text: str) -> set[str]:
    """The stems of the English content words of ``text`` (Chinese words left out)."""
    return {stem(w) for w in content_words(text) if not has_cjk(w)}


_NAME = re.compile(r"\b[A-Z][a-zA-Z'’-]+")
_NOT_NAMES = word_set("""The This These That Those It Its They Their He She His Her In On By For And But According A An
    As At To Of With I We Our If When Why How What Who Which Where Yes No""")


def without_possessive(word: str) -> str:
    """The word without an English possessive 's ("Jones's" -> "Jones", "Jones’s" -> "Jones", "Jones" unchanged)."""
    return word[:-2] if word.endswith(("'s", "’s")) else word


def capitalised_names(sentence: str) -> set[str]:
    """The capitalised words of an English sentence that name someone or something, lowercased (possessive
    dropped); a capitalised first word counts only when another capitalised word follows it."""
    found = set()
    for match in _NAME.finditer(sentence):
        word = match.group(0)
        if word in _NOT_NAMES:
            continue
        if match.start() == 0 and not re.match(r"\s+[A-Z]", sentence[match.end():]):
            continue
        found.add(without_possessive(word.lower()))
    return found
