"""Negation and modality: does an answer clause say the same "not", "may", "must", "only if" as its source?

Part of the eval's independent reader (``bot.evaluate.faithfulness``). Each clause of an answer sentence is aligned with
the cited clause it shares most words with (character pairs for Chinese); the two must agree in negation (odd or
even count of negators) and in modality (obligation, permission, prohibition, condition).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from bot.evaluate.faithfulness_text import (
    HAN,
    LATIN_WORD,
    STOPWORDS,
    clauses,
    has_han,
    nfkc,
    split_sentences,
    stem,
    word_set,
)

# --- polarity and modality cues ---------------------------------------------------------------------------

NEGATORS_EN = word_set("not no never none nor neither without cannot nothing nobody nowhere n't")
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



@dataclass(frozen=True)
class Flip:
    """A clause whose negation or modality differs from the cited clause it aligns with."""

    clause: str
    passage_clause: str
    answer_cues: tuple[str, ...]
    passage_cues: tuple[str, ...]
    citation: int


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
    keys = {stem(w) for w in LATIN_WORD.findall(folded) if w.lower() not in STOPWORDS}
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


