"""The very thing a question counts or lists, and whether a text counts or names it (EN).

"How many regional training centres ..." counts centres, qualified by "regional training"; "what are the three
transport programmes" asks for three programmes. ``answer_types`` asks these to tell a count of the thing asked
about from any number in the sentence.
"""

from __future__ import annotations

import re

NUMBER_WORDS = r"(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|hundreds?|thousands?|millions?|billions?|trillions?|dozens?|several|a number of)"

LIST_QUESTION = re.compile(r"\b(?:what|which) (?:are|were) the (two|three|four|five|six|seven|eight|nine|ten|\d{1,2})\b|"
                   r"\b(?:which|what) (two|three|four|five|six|seven|eight|nine|ten)\b|"
                   r"\b(?:name|list) the (two|three|four|five|six|seven|eight|nine|ten|\d{1,2})\b", re.I)
_SMALL = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}


def list_size(question: str) -> int:
    """N for "what are the N X?" (a question answered by an enumeration), else 0."""
    match = LIST_QUESTION.search(question)
    if not match:
        return 0
    word = next(g for g in match.groups() if g).lower()
    return _SMALL.get(word) or int(word)


_HEAD = re.compile(r"\bhow (?:many|much) (?:of (?:the )?)?((?:[A-Za-z][\w-]* ?){1,7})|"
                   r"\bwhat (?:\w+ )??([A-Za-z][\w-]*) (?:value|amount|figure|size)\b", re.I)
_HEAD_STOP = {"do", "does", "did", "is", "are", "was", "were", "will", "would", "can", "could", "should", "has",
              "have", "had", "be", "been", "in", "of", "for", "on", "at", "by", "to", "from", "with", "per", "that",
              "which", "who", "there", "it", "they", "we", "you", "he", "she"}
_NOT_HEADS = {"money", "funding", "capital", "more", "the", "a", "an", "total", "overall", "exact", "other"}


def phrase_head(text: str) -> str:
    """The last word of the noun phrase that opens ``text`` ("regional training centres do ..." -> centres)."""
    phrase: list[str] = []
    for word in re.findall(r"[A-Za-z][\w-]*", text)[:7]:
        if word.lower() in _HEAD_STOP or (phrase and re.search(r"[a-z]ed$", word)):
            break  # an auxiliary, a preposition or a past-tense verb ends the noun phrase
        phrase.append(word.lower())
    return phrase[-1] if phrase else ""


def head_term(question: str) -> str:
    """The thing a "how many X" / "what X value" question counts (EN only), singular and lower case: the
    last word of the noun phrase, so "how many regional training centres do ..." counts centres."""
    match = _HEAD.search(question)
    if not match:
        return ""
    word = phrase_head(match.group(1)) if match.group(1) else (match.group(2) or "").lower()
    if not word or word in _NOT_HEADS:
        return ""
    return head_stem(word)


def list_head(question: str) -> str:
    """The things a list question asks for ("what are the three transport programmes" -> programme)."""
    match = LIST_QUESTION.search(question)
    return head_stem(phrase_head(question[match.end():])) if match else ""


def times_named(text: str, head: str) -> int:
    return len(re.findall(rf"(?<![\w-]){re.escape(head)}(?:e?s)?(?![\w-])", text, re.I)) if head else 0


def head_stem(word: str) -> str:
    """A counted head as a regex stem: "industries" -> "industri", matched as ``industri(?:e?s)?``."""
    return re.sub(r"(?<=[a-z])(es|s)$", "", word) if len(word) > 4 else word


def mentions(text: str, head: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(head)}(?:e?s)?(?![\w-])", text, re.I) is not None


def counts(text: str, head: str, modifiers: tuple[str, ...] = ()) -> bool:
    """True if ``text`` puts a number before ``head`` ("12 regional training centres", "five parks"); given
    ``modifiers`` (the question's "regional training"), the counted phrase must carry each of them."""
    number = rf"(?:(?!(?:19|20)\d\d\b)\d[\d,.]*|{NUMBER_WORDS})"  # a year is not a count
    for match in re.finditer(rf"\b{number}\b(?P<between>(?:[\s-]+[\w-]+){{0,5}}?)[\s-]+{re.escape(head)}(?:e?s)?(?![\w-])",
                             text, re.I):
        between = {w.lower()[:6] for w in re.findall(r"[\w-]+", match.group("between"))}
        if all(m[:6] in between for m in modifiers):
            return True
    return False


def head_modifiers(question: str) -> tuple[str, ...]:
    """The words before the head of a "how many X" phrase ("regional", "training" in "how many regional
    training centres"), without the ones that only qualify the count ("other", "more")."""
    match = _HEAD.search(question)
    if not match or not match.group(1):
        return ()
    words = re.findall(r"[A-Za-z][\w-]*", match.group(1))
    head = phrase_head(match.group(1))
    phrase = [w.lower() for w in words[: [w.lower() for w in words].index(head)]] if head in (w.lower() for w in words) else []
    return tuple(w for w in phrase if w not in _NOT_HEADS and w not in _HEAD_STOP and w != "and")
