"""The faithfulness metrics' own text rules: characters, words, stems, figures, sentences and clauses.

Part of the eval's independent reader (``bot.evaluate.faithfulness``): nothing here is shared with the pipeline's text
rules (``bot.lang.text``) or its grounding check (``bot.reader.ground``), so a bug in one cannot hide in the other.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

# --- characters, words, numbers --------------------------------------------------------------------------

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
HAN_RE = re.compile(f"[{HAN}]")


def _words_list(text: str) -> list[str]:
    return text.split()


def word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


MARKERS = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")  # "[2023]" is a year, not a marker (as the reader reads them)
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'\u2019-]*[A-Za-z]|[A-Za-z]")
_NUMBER = re.compile(r"\d+(?:[,，]\d{3})*(?:\.\d+)?")
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
              "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10_000, "亿": 100_000_000}
CN_NUMERAL = re.compile("[零〇一二两三四五六七八九十百千万亿]+")
WORD_NUMBERS = {w: i for i, w in enumerate(_words_list(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty"))} | {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
                                                      "seventy": 70, "eighty": 80, "ninety": 90}
SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9, "trillion": 10**12}
MONTHS = word_set("january february march april may june july august september october november december "
                   "jan feb mar apr jun jul aug sep sept oct nov dec")
CURRENCY = word_set("yuan rmb dollar dollars usd euro euros eur pound pounds gbp 元 美元 欧元")

# Function words carry no claim. Framing words are how an answer introduces a quote, not what it claims.
STOPWORDS = word_set("""
a an the and or but nor so yet of in on at to for from by with as into onto upon about over under between
through during before after above below up down out off than then there here this that these those it its
itself they them their theirs we us our ours you your yours he him his she her hers i me my mine who whom whose
which what when where why how is are was were be been being am do does did done have has had having will would
shall should can could may might must also both each either every all any some such other another same own
very just only more most much many few less least not no never none s t
""")
FRAMING = word_set("""
according say says said state states stated statement note notes noted mention mentions mentioned document
documents passage passages source sources text report reports reported quote quoted quotes accord explain
explains explained add adds added
根据 据 文件 原文 引用 来源 称 说 表示 指出 提到 介绍
""")
ZH_STOP = word_set("的 了 是 在 和 与 及 以及 等 对 为 将 把 被 也 都 而 或 并 其 之 中 上 下 这 那 该 此 有 于 由 从 向 "
                     "以 到 就 还 又 个 些 着 过 地 得 所 我们 你们 他们 它们 我 你 他 她 它 这些 那些 本")

def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def has_han(text: str) -> bool:
    return bool(HAN_RE.search(text))


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
        scale = next((v for k, v in SCALES.items() if tail.startswith(k)), 1)
        if tail[:1] in ("万", "亿"):
            scale = _CN_UNITS[tail[0]]
        found.add(_canon(value))
        if scale != 1:
            found.add(_canon(value * scale))
    for m in CN_NUMERAL.finditer(text):
        cn = _cn_value(m.group())
        if cn is not None and not (m.group() in ("一", "万") and len(m.group()) == 1 and _is_word_part(text, m)):
            found.add(_canon(float(cn)))
    words = [w.lower() for w in LATIN_WORD.findall(text)]
    for i, w in enumerate(words):
        if w in WORD_NUMBERS:
            value = WORD_NUMBERS[w]
            nxt = words[i + 1] if i + 1 < len(words) else ""
            found.add(_canon(float(value * SCALES.get(nxt, 1))))
    return found


def _is_word_part(text: str, m: re.Match[str]) -> bool:
    """A lone 一 or 万 inside a word (一些, 统一, 万一) is not a figure."""
    before = text[m.start() - 1] if m.start() > 0 else ""
    after = text[m.end()] if m.end() < len(text) else ""
    return bool(HAN_RE.match(before) or HAN_RE.match(after))


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
    return [s for s in out if re.search(r"\w", MARKERS.sub("", s))]


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


_ENUMERATOR = re.compile(r"\(?(?:\d{1,3}|[a-zA-Z]|[一二三四五六七八九十]{1,3})[.)、．]\)?")


# a sentence's end (full stop, semicolon, or the ellipsis of a cut quote) followed by its citation markers
_MARKERS_AFTER_END = re.compile(r"((?:[.!?。！？；;][\"”’')」』]?\s*)?…|[.!?。！？；;][\"”’')」』]?)((?:\s*\[\d{1,3}(?:\s*,\s*\d{1,3})*\])+)")
# "… you use [1] You can …": a new sentence; only after a citation marker, not after a bracketed word or year
# ("[Note] The …", "[2023] The …")
_AFTER_MARKER = re.compile(r"(?:(?<=[\[,\s]\d\])|(?<=[\[,\s]\d\d\])|(?<=[\[,\s]\d\d\d\]))\s+(?=[A-Z\"“‘\u4e00-\u9fff])")


def sentence_citations(text: str) -> list[tuple[str, list[int]]]:
    """(sentence without markers, cited numbers). Markers after the full stop (or a semicolon), after the
    ellipsis that ends a cut quote ("…; … [1]"), or standing alone belong to the sentence before them; a
    marker followed by a capitalised word, a quote mark or a Chinese character ends its sentence even without a
    full stop (a quoted list item), when what follows cites passages of its own."""
    result: list[tuple[str, list[int]]] = []
    segments: list[str] = []
    for segment in _AFTER_MARKER.split(text):  # text after a marker is its own sentence only if it cites its own
        if segments and not MARKERS.search(segment):
            segments[-1] = f"{segments[-1]} {segment}"
        else:
            segments.append(segment)
    for segment in segments:
        moved = _MARKERS_AFTER_END.sub(r"\2\1", segment)
        for piece in split_sentences(moved) if moved.strip() else []:
            cited = [int(n) for group in MARKERS.findall(piece) for n in group.split(",")]
            body = " ".join(MARKERS.sub(" ", piece).split())
            body = re.sub(r"\s+([.,;:!?。！？；，])", r"\1", body)
            if not re.search(r"\w", body) or _ENUMERATOR.fullmatch(body):  # "1." heading a list item states nothing
                if result:
                    result[-1][1].extend(cited)
                continue
            result.append((body, cited))
    return result


