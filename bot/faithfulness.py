"""Independent faithfulness metrics: what an answer asserts that its cited passages do not say.

This module is the eval's own reader of answers. It shares no code with the pipeline's grounding check
(``bot.ground``) or its text rules (``bot.text``): a bug there cannot hide here. It is strict by design:

- ``unsupported_claims``: every number, date, amount, name, list item and content word of an answer sentence
  must occur in the passages the sentence cites (words compared by a light stem, Chinese words as substrings).
  A new figure or name is unsupported whatever the overlap of the rest.
- ``polarity_flips``: each clause of the sentence is aligned with the cited clause it shares most words with;
  the two must agree in negation (odd or even count of negators) and in modality (obligation, permission,
  prohibition, condition), in English and Chinese.
- An answer is *invented* when any sentence has an unsupported claim or a flip.

What it cannot see: paraphrase is counted as unsupported (a synonym is a new word here), translation across
languages likewise, and a claim built only from words the passage uses in another relation ("A funds B" from
"B funds A") passes. The optional model judge (``bot.judge``) is the softer, learned second opinion.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

# --- characters, words, numbers --------------------------------------------------------------------------

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN_RE = re.compile(f"[{HAN}]")


def _words_list(text: str) -> list[str]:
    return text.split()


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_MARKERS = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'\u2019-]*[A-Za-z]|[A-Za-z]")
_NUMBER = re.compile(r"\d+(?:[,，]\d{3})*(?:\.\d+)?")
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
              "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10_000, "亿": 100_000_000}
_CN_NUMERAL = re.compile("[零〇一二两三四五六七八九十百千万亿]+")
_WORD_NUMBERS = {w: i for i, w in enumerate(_words_list(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty"))} | {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
                                                      "seventy": 70, "eighty": 80, "ninety": 90}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9, "trillion": 10**12}
MONTHS = _words("january february march april may june july august september october november december "
                   "jan feb mar apr jun jul aug sep sept oct nov dec")
_CURRENCY = _words("yuan rmb dollar dollars usd euro euros eur pound pounds gbp 元 美元 欧元")

# Function words carry no claim. Framing words are how an answer introduces a quote, not what it claims.
STOPWORDS = _words("""
a an the and or but nor so yet of in on at to for from by with as into onto upon about over under between
through during before after above below up down out off than then there here this that these those it its
itself they them their theirs we us our ours you your yours he him his she her hers i me my mine who whom whose
which what when where why how is are was were be been being am do does did done have has had having will would
shall should can could may might must also both each either every all any some such other another same own
very just only more most much many few less least not no never none s t
""")
FRAMING = _words("""
according say says said state states stated statement note notes noted mention mentions mentioned document
documents passage passages source sources text report reports reported quote quoted quotes accord explain
explains explained add adds added
根据 据 文件 原文 引用 来源 称 说 表示 指出 提到 介绍
""")
_ZH_STOP = _words("的 了 是 在 和 与 及 以及 等 对 为 将 把 被 也 都 而 或 并 其 之 中 上 下 这 那 该 此 有 于 由 从 向 "
                     "以 到 就 还 又 个 些 着 过 地 得 所 我们 你们 他们 它们 我 你 他 她 它 这些 那些 本")

# --- polarity and modality cues ---------------------------------------------------------------------------

NEGATORS_EN = _words("not no never none nor neither without cannot nothing nobody nowhere n't")
MODAL_EN: dict[str, tuple[str, ...]] = {
    "obligation": ("must", "shall", "required", "require", "requires", "obliged", "mandatory", "have to",
                   "has to", "need to", "needs to"),
    "permission": ("may", "can", "could", "might", "allowed", "permitted", "able to"),
    "prohibition": ("prohibited", "forbidden", "banned", "barred"),
    "condition": ("only if", "only when", "unless", "except", "provided that", "on condition", "only"),
}
NEGATORS_ZH = ("不", "未", "无", "非", "没", "勿", "毋")
_ZH_NOT_NEGATION = ("不断", "不仅", "不少", "不同", "不久", "不但", "不管", "不论", "无论", "非常", "未来", "除非",
                    "不过", "无人机", "无锡", "非洲", "是否")
MODAL_ZH: dict[str, tuple[str, ...]] = {
    "obligation": ("必须", "须", "应当", "应该", "需要", "要求", "务必"),
    "permission": ("可以", "允许", "能够", "准予", "有权"),
    "prohibition": ("禁止", "不得", "严禁", "不准", "不许", "不允许"),
    "condition": ("只有", "除非", "仅", "方可", "才能", "前提"),
}


def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def has_han(text: str) -> bool:
    return bool(_HAN_RE.search(text))


_IRREGULAR = {past: base for base, forms in (pair.split(":") for pair in _words_list(
    "arise:arose,arisen be:was,were,been beat:beaten become:became begin:began,begun break:broke,broken "
    "bring:brought build:built buy:bought choose:chose,chosen come:came do:did,done draw:drew,drawn drive:drove,"
    "driven eat:ate,eaten fall:fell,fallen feel:felt fight:fought find:found fly:flew,flown forbid:forbade,"
    "forbidden forget:forgot,forgotten get:got,gotten give:gave,given go:went,gone grow:grew,grown have:had "
    "hold:held keep:kept know:knew,known lay:laid lead:led leave:left lend:lent lose:lost make:made mean:meant "
    "meet:met pay:paid rise:rose,risen run:ran see:saw,seen seek:sought sell:sold send:sent shake:shook,shaken "
    "show:shown speak:spoke,spoken spend:spent stand:stood steal:stole,stolen strike:struck swear:swore,sworn "
    "take:took,taken teach:taught tell:told think:thought throw:threw,thrown understand:understood "
    "undertake:undertook,undertaken win:won withdraw:withdrew,withdrawn write:wrote,written"))
    for past in forms.split(",")}


def stem(word: str) -> str:
    """A light English stem: case, possessives, the common inflections ('industries' -> 'industry') and the
    irregular past forms ('took' -> 'take')."""
    w = word.lower().replace("\u2019", "'")
    if w.endswith("'s"):
        w = w[:-2]
    w = w.strip("'-")
    w = _IRREGULAR.get(w, w)
    for suffix, repl in (("ies", "y"), ("sses", "ss"), ("xes", "x"), ("ches", "ch"), ("shes", "sh")):
        if w.endswith(suffix) and len(w) > len(suffix) + 2:
            return w[: -len(suffix)] + repl
    if w.endswith("s") and not w.endswith(("ss", "us", "is")) and len(w) > 3:
        w = w[:-1]
    for suffix in ("ing", "ed"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)]
            if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "lsz":
                w = w[:-1]  # planning -> plan
            break
    return w[:-1] if w.endswith("e") and len(w) > 3 else w


def _cn_value(text: str) -> int | None:
    """The value of a Chinese numeral (三十五, 两千, 5万 handled by the caller); None if not a number."""
    if not text or any(c not in _CN_DIGITS and c not in _CN_UNITS for c in text):
        return None
    if all(c in _CN_DIGITS for c in text):
        return int("".join(str(_CN_DIGITS[c]) for c in text)) if len(text) > 1 else _CN_DIGITS[text]
    total, section, digit = 0, 0, 0
    for c in text:
        if c in _CN_DIGITS:
            digit = _CN_DIGITS[c]
        elif c in ("万", "亿"):
            section = (section + digit) * _CN_UNITS[c]
            total, section, digit = total + section, 0, 0
        else:
            section += (digit or 1) * _CN_UNITS[c]
            digit = 0
    return total + section + digit


def numbers(text: str) -> set[str]:
    """Every figure in the text as a canonical value ('10,000' and 'ten thousand' and '一万' give '10000')."""
    text = nfkc(text)
    found: set[str] = set()
    for m in _NUMBER.finditer(text):
        value = float(re.sub("[,，]", "", m.group()))
        tail = text[m.end(): m.end() + 10].lower().lstrip()
        scale = next((v for k, v in _SCALES.items() if tail.startswith(k)), 1)
        if tail[:1] in ("万", "亿"):
            scale = _CN_UNITS[tail[0]]
        found.add(_canon(value))
        if scale != 1:
            found.add(_canon(value * scale))
    for m in _CN_NUMERAL.finditer(text):
        cn = _cn_value(m.group())
        if cn is not None and not (m.group() in ("一", "万") and len(m.group()) == 1 and _is_word_part(text, m)):
            found.add(_canon(float(cn)))
    words = [w.lower() for w in _LATIN_WORD.findall(text)]
    for i, w in enumerate(words):
        if w in _WORD_NUMBERS:
            value = _WORD_NUMBERS[w]
            nxt = words[i + 1] if i + 1 < len(words) else ""
            found.add(_canon(float(value * _SCALES.get(nxt, 1))))
    return found


def _is_word_part(text: str, m: re.Match[str]) -> bool:
    """A lone 一 or 万 inside a word (一些, 统一, 万一) is not a figure."""
    before = text[m.start() - 1] if m.start() > 0 else ""
    after = text[m.end()] if m.end() < len(text) else ""
    return bool(_HAN_RE.match(before) or _HAN_RE.match(after))


def _canon(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


@lru_cache(maxsize=1)
def _posseg() -> Any:
    import jieba
    import jieba.posseg

    jieba.setLogLevel(60)
    return jieba.posseg


def zh_words(text: str) -> list[tuple[str, str]]:
    """Chinese words with jieba's part-of-speech flags (nr person, ns place, nt organisation, m numeral)."""
    return [(p.word, p.flag) for p in _posseg().cut(text) if p.word.strip()]


# --- sentences and clauses ---------------------------------------------------------------------------------

_SENT_END = re.compile(r"(?<=[.!?][\"”’')])\s+|(?<=[.!?])\s+|(?<=[。！？；;][”’」』])|(?<=[。！？；;])(?![”’」』])")
_ABBREVIATION = re.compile(r"(?:\b(?:No|Nos|Mr|Mrs|Ms|Dr|Prof|St|Art|Sec|vs|etc|e\.g|i\.e|U\.S|U\.K|Inc|Ltd|Co)|\b[A-Z])\.$")


def split_sentences(text: str) -> list[str]:
    """Sentences of an answer or passage: at . ! ? followed by space (not after 'No.', 'e.g.', 'U.S.' or an
    initial), and at 。！？；. A decimal point is never followed by a space, so '3.5' stays whole."""
    out: list[str] = []
    for piece in (s.strip() for s in _SENT_END.split(text) if s and s.strip()):
        if out and _ABBREVIATION.search(out[-1]):
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return [s for s in out if re.search(r"\w", _MARKERS.sub("", s))]


_CLAUSE_CUT = re.compile(r"[,，;；:：]\s*|\s*(?:…|\.\.\.)\s*|\s+(?:but|whereas|while|although)\s+", re.IGNORECASE)
_CONDITION_LEAD = re.compile(r"^(?:but\s+)?(?:only|unless|except|provided|if|without|not|除非|仅|只有|但|不得|须)",
                             re.IGNORECASE)


def clauses(sentence: str) -> list[str]:
    """Clauses at commas, semicolons, colons and 'but'; a clause that opens with a condition or a negation
    ('only if', 'unless', 'except', 'not', 除非 …) stays with the clause before, since it qualifies it."""
    parts = [p.strip() for p in _CLAUSE_CUT.split(sentence) if p and p.strip()]
    merged: list[str] = []
    for part in parts:
        if merged and _CONDITION_LEAD.match(part):
            merged[-1] = f"{merged[-1]}, {part}"
        else:
            merged.append(part)
    return merged or [sentence]


def sentence_citations(text: str) -> list[tuple[str, list[int]]]:
    """(sentence without markers, cited numbers). Markers after the full stop or standing alone belong to
    the sentence before them."""
    moved = re.sub(r"([.!?。！？；][\"”’')」』]?)((?:\s*\[\d+(?:\s*,\s*\d+)*\])+)", r"\2\1", text)
    result: list[tuple[str, list[int]]] = []
    for piece in split_sentences(moved) if moved.strip() else []:
        cited = [int(n) for group in _MARKERS.findall(piece) for n in group.split(",")]
        body = " ".join(_MARKERS.sub(" ", piece).split())
        body = re.sub(r"\s+([.,;:!?。！？；，])", r"\1", body)
        if not re.search(r"\w", body):
            if result:
                result[-1][1].extend(cited)
            continue
        result.append((body, cited))
    return result


# --- what a text asserts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """One thing a sentence asserts that its cited passages do not contain."""

    kind: str  # number, date, amount, name, list_item, content, citation
    text: str
    citations: tuple[int, ...] = ()


@dataclass(frozen=True)
class Flip:
    """A clause whose negation or modality differs from the cited clause it aligns with."""

    clause: str
    passage_clause: str
    answer_cues: tuple[str, ...]
    passage_cues: tuple[str, ...]
    citation: int


@dataclass
class _Evidence:
    raw: str
    lower: str
    compact: str  # no whitespace, NFKC, lowercase: for Chinese substrings
    stems: set[str]
    figures: set[str]

    @classmethod
    def of(cls, text: str) -> _Evidence:
        folded = nfkc(text)
        return cls(folded, folded.lower(), re.sub(r"\s+", "", folded.lower()),
                   {stem(w) for w in _LATIN_WORD.findall(folded)}, numbers(folded))

    def has_word(self, word: str) -> bool:
        if has_han(word):
            return re.sub(r"\s+", "", nfkc(word).lower()) in self.compact
        return stem(word) in self.stems


def _list_items(sentence: str) -> list[str]:
    """Items of an enumeration ('a, b and c', 'a、b和c'): three or more short parts."""
    parts = re.split(r"\s*(?:,|，|、|;|；)\s*(?:and\s+|or\s+)?|\s+(?:and|or)\s+|和|及|与|以及", sentence)
    parts = [p.strip() for p in parts if p and p.strip()]
    return parts if len(parts) >= 3 and all(len(p) <= 80 for p in parts[1:-1]) else []


def _is_name(word: str, position: int) -> bool:
    return word[:1].isupper() and (position > 0 or word.lower() not in STOPWORDS | FRAMING)


def unsupported_claims(sentence: str, passages: Iterable[str], citations: tuple[int, ...] = ()) -> list[Claim]:
    """What ``sentence`` asserts that none of ``passages`` contains (see the module docstring)."""
    evidence = [_Evidence.of(p) for p in passages]
    if not evidence:
        return [Claim("citation", sentence, citations)]
    folded = nfkc(sentence)
    claims: list[Claim] = []
    have_figures = set().union(*(e.figures for e in evidence))
    for value in sorted(numbers(folded) - have_figures):
        claims.append(Claim(_figure_kind(folded, value), value, citations))

    def found(word: str) -> bool:
        return any(e.has_word(word) for e in evidence)

    missing_words: list[tuple[str, str]] = []
    latin = _LATIN_WORD.findall(re.sub(f"[{HAN}]+", " ", folded))
    for i, word in enumerate(latin):
        low = word.lower()
        if low in STOPWORDS or low in FRAMING or low in _WORD_NUMBERS or low in _SCALES or found(word):
            continue
        kind = "date" if low in MONTHS else "amount" if low in _CURRENCY else "name" if _is_name(word, i) else "content"
        missing_words.append((kind, word))
    if has_han(folded):
        for word, flag in zh_words(re.sub(r"[A-Za-z0-9]+", " ", folded)):
            if not has_han(word) or word in _ZH_STOP or word in FRAMING or flag[:1] in ("x", "w", "u", "p", "c", "y", "e", "o"):
                continue
            if flag.startswith("m") and _CN_NUMERAL.fullmatch(word):
                continue  # a figure: compared by value above
            if not found(word):
                kind = "name" if flag.startswith(("nr", "ns", "nt", "nz")) else "content"
                missing_words.append((kind, word))
    items = _list_items(folded)
    reported: set[str] = set()
    for item in items[1:]:  # the first part also holds the sentence's lead-in: its words are reported alone
        gaps = [w for _, w in missing_words if w in item]
        if gaps:
            claims.append(Claim("list_item", item, citations))
            reported.update(gaps)
    claims += [Claim(kind, word, citations) for kind, word in missing_words if word not in reported]
    return claims


def _figure_kind(sentence: str, value: str) -> str:
    low = sentence.lower()
    if any(c in low for c in _CURRENCY) or "%" in low or "元" in sentence:
        return "amount"
    if len(value) == 4 and value.startswith(("19", "20")):
        return "date"
    return "number"


# --- negation and modality ---------------------------------------------------------------------------------


def polarity(clause: str) -> tuple[int, frozenset[str], tuple[str, ...]]:
    """(negator count mod 2, modal classes, the cues found) of one clause, English or Chinese."""
    text = nfkc(clause).lower().replace("\u2019", "'")
    text = re.sub(r"\bno\.?\s*(?=\d)", "number ", text)  # "No. 1", "No1": a number, not a negation
    cues: list[str] = []
    negations = 0
    modal: set[str] = set()
    words: list[str] = []
    for w in re.findall(r"[a-z]+(?:'[a-z]+)?", text):
        if w.endswith("n't"):
            negations += 1
            cues.append(w)
            base = {"can't": "can", "won't": "will", "shan't": "shall"}.get(w, w[:-3])
            words.append(base)
        elif w == "cannot":
            negations += 1
            cues.append(w)
            words.append("can")
        else:
            if w in NEGATORS_EN:
                negations += 1
                cues.append(w)
            words.append(w)
    joined = " " + " ".join(words) + " "
    for kind, phrases in MODAL_EN.items():
        for phrase in phrases:
            if f" {phrase} " in joined:
                modal.add(kind)
                cues.append(phrase)
                break
    if has_han(text):
        zh = text
        for compound in ("不仅", "不但"):
            zh = zh.replace(compound, " ")
        for kind, phrases in MODAL_ZH.items():
            for phrase in sorted(phrases, key=len, reverse=True):
                if phrase in zh:
                    modal.add(kind)
                    cues.append(phrase)
                    break
        for phrase in MODAL_ZH["prohibition"]:
            zh = zh.replace(phrase, " ")  # 不得 is counted as a prohibition, not also as a negation
        for compound in _ZH_NOT_NEGATION:
            zh = zh.replace(compound, " ")
        for char in NEGATORS_ZH:
            count = zh.count(char)
            negations += count
            cues += [char] * count
    return negations % 2, frozenset(modal), tuple(cues)


def _content_keys(text: str) -> set[str]:
    folded = nfkc(text)
    keys = {stem(w) for w in _LATIN_WORD.findall(folded) if w.lower() not in STOPWORDS}
    han = re.sub(f"[^{HAN}]", "", folded)
    keys |= {han[i: i + 2] for i in range(len(han) - 1)}
    return keys


def polarity_flips(sentence: str, passages: Mapping[int, str]) -> list[Flip]:
    """Clauses of ``sentence`` whose negation or modality differs from the clause they align with in the
    cited passages. Alignment: most shared content words (character pairs for Chinese); on a tie, a clause
    that agrees wins (the benefit of the doubt)."""
    candidates = [(n, c) for n, p in passages.items() for s in split_sentences(p) for c in clauses(s)]
    flips: list[Flip] = []
    for clause in clauses(sentence):
        keys = _content_keys(clause)
        if not keys or not candidates:
            continue
        scored = [(len(keys & _content_keys(c)), n, c) for n, c in candidates]
        best = max(s for s, _, _ in scored)
        if best == 0:
            continue
        mine = polarity(clause)
        tied = [(n, c) for s, n, c in scored if s == best]
        if any(polarity(c)[:2] == mine[:2] for _, c in tied):
            continue
        n, c = tied[0]
        flips.append(Flip(clause, c, mine[2], polarity(c)[2], n))
    return flips


# --- answers ---------------------------------------------------------------------------------------------


@dataclass
class SentenceCheck:
    sentence: str
    citations: list[int]
    unsupported: list[Claim] = field(default_factory=list)
    flips: list[Flip] = field(default_factory=list)
    supported_citations: list[int] = field(default_factory=list)

    @property
    def faithful(self) -> bool:
        return not self.unsupported and not self.flips


@dataclass
class AnswerCheck:
    sentences: list[SentenceCheck]

    @property
    def invented(self) -> bool:
        return any(not s.faithful for s in self.sentences)

    @property
    def unsupported_claims(self) -> int:
        return sum(len(s.unsupported) for s in self.sentences)

    @property
    def polarity_flips(self) -> int:
        return sum(len(s.flips) for s in self.sentences)

    def to_json(self) -> list[dict[str, Any]]:
        return [{"sentence": s.sentence, "citations": s.citations,
                 "unsupported": [{"kind": c.kind, "text": c.text, "citations": list(c.citations)} for c in s.unsupported],
                 "flips": [{"clause": f.clause, "passage_clause": f.passage_clause, "answer_cues": list(f.answer_cues),
                            "passage_cues": list(f.passage_cues), "citation": f.citation} for f in s.flips]}
                for s in self.sentences if not s.faithful]


def check_answer(text: str, passages: Mapping[int, str]) -> AnswerCheck:
    """Check every sentence of an answer against the passages its ``[n]`` markers cite. A sentence without a
    marker is checked against all of the answer's passages; a marker with no passage is itself a claim."""
    checks: list[SentenceCheck] = []
    for sentence, cited in sentence_citations(text):
        numbers_cited = list(dict.fromkeys(cited))
        dangling = [n for n in numbers_cited if n not in passages]
        own = {n: passages[n] for n in numbers_cited if n in passages} or (dict(passages) if not cited else {})
        check = SentenceCheck(sentence, numbers_cited)
        check.unsupported = [Claim("citation", f"[{n}]", (n,)) for n in dangling]
        check.unsupported += unsupported_claims(sentence, own.values(), tuple(own))
        check.flips = polarity_flips(sentence, own)
        check.supported_citations = [n for n in numbers_cited if n in passages
                                     and not unsupported_claims(sentence, [passages[n]])
                                     and not polarity_flips(sentence, {n: passages[n]})]
        checks.append(check)
    return AnswerCheck(checks)
