"""The verifier's tokens: words, figures and Chinese characters, each marked with the polarity cues it carries.

A cue is a word that changes what a clause asserts without changing its topic: a negation ("not", 未), a
modal ("must", "may", 应当, 可以), a restriction or quantifier ("only", "all", 仅, 一律), a hedge ("mainly",
尽量) or a condition ("unless", "without", 除非, 经). Each cue carries a set of features; two texts agree on
polarity where their cues, at the same place in the aligned text, carry the same features.

English is split into words (light stemming; "n't", "cannot" and the prefix "non-" read as "not"); Chinese into jieba words whose
characters become tokens of their own (alignment by character survives different segmentations) but keep the
word's cues and part-of-speech tag (nr, ns, nt, nz: a person, place, organisation or other proper name).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from bot.lang.cjk import CJK_CLASS, jieba_module
from bot.lang.text import normalize, word_set
from bot.lang.words import CHINESE_STOPWORDS, ENGLISH_STOPWORDS, stem

NEG, OBLIGE, PERMIT, ADVISE, ONLY, ALL, HEDGE, IF = "neg", "oblige", "permit", "advise", "only", "all", "hedge", "if"
FLIPPING = frozenset({NEG, OBLIGE, PERMIT, ADVISE})  # cues whose loss turns a claim into its opposite
BOUNDING = frozenset({IF, ONLY})  # cues of a clause that bounds what the clause it goes with asserts
KIND = {NEG: "negation", OBLIGE: "modality", PERMIT: "modality", ADVISE: "modality", ONLY: "restriction",
        ALL: "quantifier", HEDGE: "hedge", IF: "condition"}

_EN_CUES: dict[str, frozenset[str]] = {}
for _words, _features in (
    ("not never no none nothing neither nor nobody", {NEG}), ("without", {NEG, IF}),
    ("must shall", {OBLIGE}), ("may might can could", {PERMIT}), ("should ought", {ADVISE}),
    ("only solely exclusively merely", {ONLY}), ("all every always fully entirely completely", {ALL}),
    ("mainly mostly primarily largely generally usually typically partly partially approximately roughly "
     "nearly almost", {HEDGE}), ("if unless except provided", {IF}),
):
    _EN_CUES.update(dict.fromkeys(_words.split(), frozenset(_features)))
_EN_PAIRS = {("at", "least"): HEDGE, ("at", "most"): HEDGE, ("up", "to"): HEDGE, ("more", "than"): HEDGE,
             ("less", "than"): HEDGE, ("fewer", "than"): HEDGE, ("subject", "to"): IF}

_ZH_CUES: dict[str, frozenset[str]] = {}
for _words, _features in (
    ("不 未 没 没有 无 非 勿 否 莫 未曾 不再 从未 绝不 决不 无故 毫无", {NEG}),
    ("无须 无需 毋须 毋需 不必 不用 不需 不需要", {NEG, OBLIGE}),
    ("不得 不能 不可 不准 不许 禁止 严禁 无法 不能够 不可以", {NEG, PERMIT}),
    ("不应 不应当 不应该 不宜 不要", {NEG, ADVISE}),
    ("应当 应 应该 必须 须 需 需要 要 务必 必 应缴", {OBLIGE}),
    ("可以 可 能 能够 允许 即可 得以 准予 有权", {PERMIT}),
    ("仅 只 仅仅 只有 仅限 唯有", {ONLY}), ("只能 仅可 只可", {ONLY, PERMIT}),
    ("一律 所有 全部 一切 均 凡是 总是 始终", {ALL}),
    ("尽量 尽可能 原则上 一般 主要 基本 基本上 大致 约 大约 左右 暂缓 酌情 力争", {HEDGE}),
    ("如果 若 如 除 除非 经 只要 否则 除外", {IF}),
):
    _ZH_CUES.update(dict.fromkeys(_words.split(), frozenset(_features)))
_ZH_NEGATORS = "不未无没非"
# words that open with a negating character but do not negate ("in future", "continuously", "regardless", "very")
_ZH_NOT_NEGATIONS = ("未来", "不断", "不仅", "不少", "不久", "不同", "不管", "不论", "不过", "无论", "非常", "无数")
ZH_NAME_TAGS = frozenset({"nr", "nrt", "nrfg", "ns", "nt", "nz"})
# Reporting words may be added to a sentence ("According to X, ...", "X 表示"): they carry no claim of their own.
REPORTING = word_set("according said say says stated state told tell noted note added add reported report explain "
                     "explained 表示 说 指出 称 据 认为 强调 介绍")
NUMBER_WORDS = {w: str(n) for n, w in enumerate(re.findall(
    r"\w+", "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty"))} | {"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60",
                                                      "seventy": "70", "eighty": "80", "ninety": "90"}
MONTHS_DAYS = word_set("January February March April May June July August September October November December "
                       "Monday Tuesday Wednesday Thursday Friday Saturday Sunday")
AMOUNTS = word_set("hundred thousand million billion trillion 百 千 万 亿 万元 亿元")
BOUNDARY = frozenset(",;:.?!，；：。？！¶")
_TOKEN = re.compile(rf"(?P<cjk>[{CJK_CLASS}]+)|(?P<num>\d+(?:[.,]\d+)*)|(?P<word>[^\W\d_{CJK_CLASS}]+"
                    rf"(?:['’][^\W\d_{CJK_CLASS}]+)*(?:-[^\W_{CJK_CLASS}]+)*)|(?P<punct>[,;:.?!，；：。？！¶])|(?P<sym>[$%€£¥、])")


@dataclass(frozen=True)
class Tok:
    """One token: ``key`` is what alignment compares; ``cues`` the polarity features it carries."""

    key: str
    surface: str
    content: bool = False
    cues: frozenset[str] = frozenset()
    word: str = ""  # the whole word (a Chinese character's jieba word)
    tag: str = ""  # jieba part of speech; "name" for a capitalised English name

    @property
    def boundary(self) -> bool:
        return self.key in BOUNDARY


def _english(surface: str, first: bool) -> list[Tok]:
    lower = surface.lower().replace("’", "'")
    if lower in ("cannot", "can't"):
        return [Tok("can", surface, cues=_EN_CUES["can"]), Tok("not", surface, cues=_EN_CUES["not"])]
    if lower.endswith("n't"):
        base = {"won": "will", "shan": "shall", "ca": "can"}.get(lower[:-3], lower[:-3])
        return [Tok(base, surface, cues=_EN_CUES.get(base, frozenset())), Tok("not", surface, cues=_EN_CUES["not"])]
    if lower.startswith("non-") and len(lower) > 5:  # "non-personal data": not personal data
        return [Tok("not", surface[:3], cues=_EN_CUES["not"]), *_english(surface[4:], False)]
    lower = re.sub(r"'s$", "", lower)
    if surface in MONTHS_DAYS and not (first and surface == "May"):
        return [Tok(lower, surface, content=True, word=surface, tag="date")]  # "in May" is a month, not a modal
    if lower in NUMBER_WORDS:
        return [Tok(NUMBER_WORDS[lower], surface, content=True, word=surface, tag="number")]
    cues = _EN_CUES.get(lower, frozenset())
    content = not cues and lower not in ENGLISH_STOPWORDS
    tag = "name" if surface[:1].isupper() and not first else ""
    return [Tok(lower if "-" in lower else stem(lower), surface, content, cues, surface, tag)]


def _zh_cue(word: str) -> tuple[int, frozenset[str]]:
    """How many leading characters of a jieba word are a cue, and its features."""
    if word in _ZH_CUES:
        return len(word), _ZH_CUES[word]
    if len(word) > 1 and word[0] in _ZH_NEGATORS and not word.startswith(_ZH_NOT_NEGATIONS):
        head = word[:2] if word[:2] in _ZH_CUES else word[0]
        return len(head), _ZH_CUES.get(head, frozenset({NEG}))
    return 0, frozenset()


def _chinese(run: str) -> list[Tok]:
    import jieba.posseg

    jieba_module()
    out: list[Tok] = []
    for pair in jieba.posseg.cut(run):
        word, tag = pair.word, pair.flag
        n, cues = _zh_cue(word)
        content = word not in CHINESE_STOPWORDS and not cues
        out += [Tok(ch, ch, content or i >= n, cues if i < n else frozenset(), word, tag)
                for i, ch in enumerate(word)]
    return out


def tokens(text: str) -> list[Tok]:
    """The tokens of ``text`` in order (quotes and brackets dropped; clause punctuation kept as boundaries)."""
    return list(_tokens(text))


@functools.lru_cache(maxsize=512)
def _tokens(text: str) -> tuple[Tok, ...]:  # the same evidence is read once per draft sentence
    text = normalize(text).replace("\n", " ¶ ")
    out: list[Tok] = []
    for m in _TOKEN.finditer(text):
        if m.group("cjk"):
            out += _chinese(m.group())
        elif m.group("num"):
            out.append(Tok(m.group().replace(",", ""), m.group(), True, tag="number"))
        elif m.group("word"):
            first = not out or out[-1].boundary
            if m.group().lower() == "no" and re.match(r"\.?\s?\d", text[m.end() : m.end() + 3]):
                out.append(Tok("no", m.group()))  # "No. 1", "No1": a number sign, not a negation
                continue
            out += _english(m.group(), first)
        elif m.group("punct"):
            out.append(Tok(m.group(), m.group()))
        else:
            out.append(Tok(m.group(), m.group(), m.group() in "$%€£¥"))
    return tuple(_mark_pairs(out))


def _mark_pairs(toks: list[Tok]) -> list[Tok]:
    """Give the first word of a two-word cue ("up to", "at least") the pair's features too."""
    for i in range(1, len(toks)):
        pair = (toks[i - 1].key, toks[i].surface.lower())
        if pair in _EN_PAIRS:
            feature = frozenset({_EN_PAIRS[pair]})
            toks[i - 1] = Tok(toks[i - 1].key, toks[i - 1].surface, False, feature, toks[i - 1].word)
            toks[i] = Tok(toks[i].key, toks[i].surface, False, feature, toks[i].word)
    return toks
