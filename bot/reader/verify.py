"""The verifier that reads: an answer sentence must say what its cited passages say, not just share their words.

``verify(sentence, cited)`` aligns the sentence's tokens (:mod:`bot.reader.verify_polarity`) with the cited passages'
in order and rejects the sentence, with a reason per fault, when

1. a number, date or amount is not copied exactly ("number 2035 not in the cited passage");
2. it brings a word, name or list item the passages do not have ("new name 'X'", "new list item 'Y'"):
   English words compared after light stemming, Chinese jieba words as substrings, names by capitalisation
   or jieba's nr/ns/nt/nz tags; reporting words ("according to", "said", 表示) may be added;
3. between two aligned stretches, or before the first, the sentence and the passage carry different negation,
   modality, restriction, quantifier, hedge or condition cues ("negation differs from [1]: 'not' vs '—'");
4. it stops before a condition that bounds the clause it copies ("... without your consent", "only if ...").

A verbatim clause of a passage always passes. ``Verdict.support`` is the share of the sentence's content tokens
aligned in order with the passages (0..1): a feature for a calibrated support score, not a threshold.
``screen`` applies the verifier to the grounding check's kept sentences (the pipeline calls it after
:func:`bot.reader.ground.check`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from bot.lang.cjk import is_cjk
from bot.lang.words import numbers
from bot.reader.ground import MARKER, Checked
from bot.reader.verify_polarity import (
    AMOUNTS,
    BOUNDING,
    FLIPPING,
    KIND,
    REPORTING,
    ZH_NAME_TAGS,
    Tok,
    tokens,
)

_LIST_SEPARATORS = frozenset({",", "、", "and", "or", "和", "或者", "及", "以及"})
_CLAUSE_JOINERS = frozenset({"and", "but", "or", "while", "whereas"})


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reasons: list[str] = field(default_factory=list)
    support: float = 0.0


def _cues(toks: Sequence[Tok]) -> frozenset[str]:
    return frozenset().union(*(t.cues for t in toks)) if toks else frozenset()


def _cue_words(toks: Sequence[Tok]) -> str:
    words = list(dict.fromkeys(t.word or t.surface for t in toks if t.cues))
    return " ".join(words) or "—"


def _align(sent: list[Tok], passage: list[Tok]) -> list[tuple[int, int]]:
    """Aligned (sentence index, passage index) pairs, in order; a lone function word anchors nothing."""
    matcher = SequenceMatcher(None, [t.key for t in sent], [t.key for t in passage], autojunk=False)
    pairs: list[tuple[int, int]] = []
    for a, b, size in matcher.get_matching_blocks():
        block = sent[a : a + size]
        if size >= 3 or any(t.content for t in block):
            pairs += [(a + k, b + k) for k in range(size)]
    return pairs


def _split(passage: list[Tok], lo: int, hi: int, joiners: bool = False) -> tuple[list[Tok], list[Tok]] | None:
    """(up to the first clause boundary, after the last one), or None when the gap has no boundary.

    A conjunction is a boundary when ``joiners`` is set or when what follows it carries its own cue ("... and
    may be deleted"); "do not sell or rent" stays one stretch, its negation covering both verbs.
    """
    gap = passage[lo:hi]
    cut = [k for k, t in enumerate(gap) if t.boundary or (t.key in _CLAUSE_JOINERS and (
        joiners or t.key in ("but", "while", "whereas") or (lo + k + 1 < len(passage) and passage[lo + k + 1].cues)))]
    return (gap[: cut[0]], gap[cut[-1] + 1 :]) if cut else None


_ITEM_SEPARATORS = frozenset({",", "、"})  # English list commas and the Chinese enumeration comma (not ，)


def _list_start(passage: list[Tok], j: int) -> int:
    """Where a list of short items that runs into ``passage[j]`` begins: "will not sell, lease, publish or share"
    copied from "publish" begins at "not sell" (the negation covers every item), so the clause leading into
    the copy is read from there. Items are at most two tokens; anything longer is a clause of its own."""
    k = j
    while k >= 2 and passage[k - 1].key in _ITEM_SEPARATORS:
        sep = start = k - 1
        while start > 0 and sep - start < 2 and not passage[start - 1].boundary:
            start -= 1  # the item before the separator: up to two tokens
        if start == sep:
            break
        k = start
        if start == 0 or passage[start - 1].key not in _ITEM_SEPARATORS:
            break
    return k


def _list_lead(passage: list[Tok], lo: int, j: int, clause: int) -> list[Tok] | None:
    """When the copy resumes at ``passage[j]`` inside a list (``clause``: the tokens since the last boundary), the
    tokens from the clause that leads into the list up to ``j``; None when ``j`` starts no list item."""
    start = max(_list_start(passage, j), lo)
    if start >= j - clause:
        return None
    lead = _split(passage, lo, start)
    return (lead[1] if lead else passage[lo:start]) + passage[start:j]


def _kinds(features: frozenset[str]) -> str:
    """ "negation differs", "modality and negation differ"."""
    kinds = sorted({KIND[f] for f in features})
    joined = ", ".join(kinds[:-1]) + " and " + kinds[-1] if len(kinds) > 1 else kinds[0]
    return f"{joined} {'differ' if len(kinds) > 1 else 'differs'}"


def _conditions(toks: Sequence[Tok]) -> frozenset[str]:
    return _cues(toks) & BOUNDING


def _polarity(sent: list[Tok], passage: list[Tok], pairs: list[tuple[int, int]], owner: list[int]) -> list[str]:
    """Compare the cues of the sentence and the passage in each stretch between aligned tokens."""
    if not pairs:
        return []
    reasons = []
    prev_i, prev_j = -1, -1
    for i, j in [*pairs, (len(sent), len(passage))]:
        s_gap = sent[prev_i + 1 : i]
        if prev_j < 0:  # before the first aligned token: the passage's clause that leads into it
            split = _split(passage, 0, j)
            p_gap = split[1] if split else passage[:j]
            required = allowed = _cues(p_gap)
            listed = _list_lead(passage, 0, j, len(p_gap))
            if listed is not None:
                required, allowed, p_gap = required | _cues(listed) & FLIPPING, allowed | _cues(listed), listed
        elif j == len(passage):  # after the last: a condition bounding the copied clause must be kept
            split = _split(passage, prev_j + 1, len(passage), joiners=True)
            p_gap = [] if passage[prev_j].boundary else split[0] if split else passage[prev_j + 1 :]
            required, allowed = _conditions(p_gap), _cues(p_gap)
        else:
            p_gap = passage[prev_j + 1 : j]
            split = _split(passage, prev_j + 1, j)
            if split:  # the sentence skips clauses: keep the condition after, and the cues leading into j
                required, allowed = _conditions(split[0]) | _cues(split[1]), _cues(p_gap)
                listed = _list_lead(passage, prev_j + 1, j, len(split[1]))
                if listed is not None:
                    required |= _cues(listed) & FLIPPING
            else:
                required = allowed = _cues(p_gap)
        got = _cues(s_gap)
        if not (required <= got <= allowed):
            n = owner[min(max(prev_j, j if j < len(passage) else prev_j, 0), len(owner) - 1)]
            reasons.append(f"{_kinds((required - got) | (got - allowed))} from [{n}]: "
                           f"'{_cue_words(s_gap)}' vs '{_cue_words(p_gap)}'")
        if i < len(sent) and j < len(passage) and sent[i].cues != passage[j].cues:
            reasons.append(f"{_kinds(sent[i].cues ^ passage[j].cues)} from [{owner[j]}]: "
                           f"'{sent[i].word}' vs '{passage[j].word}'")
        prev_i, prev_j = i, j
    return reasons


def _is_new(tok: Tok, keys: set[str], text: str) -> bool:
    if not tok.content or tok.tag == "number" or tok.key in keys or tok.surface.lower() in REPORTING:
        return False
    lower = tok.surface.lower()
    if lower in text or lower.replace("-", " ") in text:
        return False
    return not any(abs(len(k) - len(tok.key)) <= 3 and min(len(k), len(tok.key)) >= 4
                   and (k.startswith(tok.key) or tok.key.startswith(k)) for k in keys)


def _label(run: list[Tok], in_list: bool) -> str:
    phrase = (" " if run[0].surface.isascii() else "").join(t.surface for t in run)
    if any(t.tag == "date" or t.tag == "t" for t in run):
        return f"date '{phrase}' not in the cited passage"
    if any(t.key in AMOUNTS or t.word in AMOUNTS for t in run):
        return f"amount '{phrase}' not in the cited passage"
    if any(t.tag == "name" or t.tag in ZH_NAME_TAGS for t in run):
        return f"new name '{phrase}'"
    return f"new list item '{phrase}'" if in_list else f"new word '{phrase}'"


def _vocabulary(sent: list[Tok], passage: list[Tok], text: str) -> list[str]:
    """Words, names and list items of the sentence that no cited passage has."""
    keys = {t.key for t in passage}
    flat = text.lower()
    squeezed = "".join(flat.split())
    new: list[int] = []
    k = 0
    while k < len(sent):
        tok = sent[k]
        if is_cjk(tok.surface):  # a Chinese word: its content characters, as a substring
            end = k
            while end < len(sent) and sent[end].word == tok.word and is_cjk(sent[end].surface):
                end += 1
            part = "".join(t.surface for t in sent[k:end] if t.content)
            if part and tok.word not in REPORTING and part not in squeezed:
                new += [m for m in range(k, end) if sent[m].content]
            k = end
            continue
        if _is_new(tok, keys, flat):
            new.append(k)
        k += 1
    runs: list[list[int]] = []
    for m in new:
        if runs and m == runs[-1][-1] + 1:
            runs[-1].append(m)
        else:
            runs.append([m])
    return [_label([sent[m] for m in run], _in_list(sent, run)) for run in runs]


def _in_list(sent: list[Tok], run: list[int]) -> bool:
    """Is the run in a short item of an enumeration ("A, B and C")? The item lies between separators."""
    cuts = [k for k, t in enumerate(sent) if t.key in _LIST_SEPARATORS or t.boundary]
    before = [k for k in cuts if k < run[0]]
    after = [k for k in cuts if k > run[-1]] or [len(sent)]
    items = sum(sent[k].key in _LIST_SEPARATORS for k in cuts)
    return items >= 2 and bool(before) and sent[before[-1]].key in _LIST_SEPARATORS and after[0] - before[-1] <= 7


def verify(sentence: str, cited: Sequence[str] | Mapping[int, str]) -> Verdict:
    """Does ``cited`` (the passages the sentence cites, numbered from 1 unless given as a mapping) support it?"""
    passages = dict(cited) if isinstance(cited, Mapping) else {n: p for n, p in enumerate(cited, start=1)}
    body = MARKER.sub("", sentence).strip()
    sent = tokens(body)
    passage: list[Tok] = []
    owner: list[int] = []
    for n, text in passages.items():
        part = [Tok("¶", "¶")] * bool(passage) + tokens(text)
        passage += part
        owner += [n] * len(part)
    joined = "\n".join(passages.values())
    written = {t.key: t.surface for t in sent if t.tag == "number"} | {x: x for x in numbers(body)}
    copied = numbers(joined) | {t.key for t in passage if t.tag == "number"}
    reasons = [f"number {written[x]} not in the cited passage" for x in sorted(set(written) - copied)]
    reasons += _vocabulary(sent, passage, joined)
    pairs = _align(sent, passage)
    reasons += _polarity(sent, passage, pairs, owner)
    content = [k for k, t in enumerate(sent) if t.content]
    aligned = {i for i, _ in pairs}
    support = sum(k in aligned for k in content) / len(content) if content else 0.0
    reasons = list(dict.fromkeys(reasons))
    return Verdict(not reasons, reasons, round(support, 4))


def screen(checked: Checked, evidence: list[str]) -> Checked:
    """The grounding check's result with every sentence the verifier rejects dropped (reasons in ``dropped``).

    A rejected sentence is kept when one other evidence passage, alone, passes it; it then cites that one.
    """
    out = Checked(dropped=list(checked.dropped), model_declined=checked.model_declined)
    for sentence, cited in checked.sentences:
        verdict = verify(sentence, {n: evidence[n - 1] for n in cited})
        if verdict.ok:
            out.sentences.append((sentence, cited))
            continue
        other = next((n for n in range(1, len(evidence) + 1)
                      if n not in cited and verify(sentence, {n: evidence[n - 1]}).ok), None)
        if other is not None:
            out.sentences.append((sentence, [other]))
        else:
            out.dropped.append(f"{sentence} (verifier: {'; '.join(verdict.reasons)})")
    return out
