"""Answers as Slack Block Kit messages (and as Slack-compatible text for Mattermost/Rocket.Chat).

Everything that came from a document or the model goes through :func:`escape_mrkdwn` before it is placed in
our own fixed markup, so a document cannot make the bot post ``<!channel>``, ``<@U123>`` or a disguised link
``<http://evil|click>``: Slack only treats ``<...>`` as a control sequence, and after escaping no ``<`` or
``>`` from the content survives. Messages are posted with ``link_names`` off, so a literal ``@channel`` is
plain text too.

Slack limits respected: at most 50 blocks, at most 3000 characters of text per section (long answers are split
into several sections, never inside an ``&amp;`` entity), at most 10 elements per context block.
"""

from __future__ import annotations

import re
from typing import Any

from bot.answer import Answer, Citation

MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000
MAX_CONTEXT_ELEMENTS = 10
MAX_SOURCE_BLOCKS = 5
FALLBACK_CHARS = 3000
PASSAGE_CHARS = 160
REFUSAL_HEADLINE = ":grey_question: *The documents do not cover this.*"
PARTIAL_NOTE = ":warning: Part of the question is not covered by the documents."
MODEL_DOWN_NOTE = "_The language model is not available right now, so this answer quotes the documents directly._"

_ENTITIES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack reserves for control sequences: ``&``, ``<`` and ``>``."""
    for raw, entity in _ENTITIES:
        text = text.replace(raw, entity)
    return text


def unescape_mrkdwn(text: str) -> str:
    """Inverse of :func:`escape_mrkdwn` (``unescape_mrkdwn(escape_mrkdwn(s)) == s``)."""
    return re.sub(r"&(amp|lt|gt);", lambda m: {"amp": "&", "lt": "<", "gt": ">"}[m.group(1)], text)


def escape_markdown(text: str) -> str:
    """Escape for Slack-compatible Markdown servers (Mattermost, Rocket.Chat).

    On top of the mrkdwn entities: backslash, ``[`` and ``]`` are backslash-escaped (no ``[text](url)`` links or
    ``![img](url)`` images) and every ``@`` is followed by a word joiner, so ``@channel``/``@all``/``@user`` do
    not notify anyone.
    """
    text = text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
    return escape_mrkdwn(text).replace("@", "@\u2060")


def split_escaped(text: str, limit: int = MAX_SECTION_CHARS) -> list[str]:
    """Escape ``text`` and cut it into pieces of at most ``limit`` characters, preferring whitespace.

    Pieces never end inside an entity, so each piece is valid mrkdwn on its own.
    """
    pieces: list[str] = []
    current = ""
    for token in re.split(r"(\s+)", text):
        escaped = escape_mrkdwn(token)
        if len(current) + len(escaped) <= limit:
            current += escaped
            continue
        if current.strip():
            pieces.append(current)
        current = ""
        if len(escaped) <= limit:
            current = escaped if token.strip() else ""
            continue
        for char in token:  # a single word longer than the limit: cut between characters
            escaped_char = escape_mrkdwn(char)
            if len(current) + len(escaped_char) > limit:
                pieces.append(current)
                current = ""
            current += escaped_char
    if current.strip():
        pieces.append(current)
    return pieces or [""]


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def citation_location(citation: Citation) -> str:
    """Where the passage is: the paragraph when known, else the character offsets."""
    if citation.paragraph:
        return f"¶ {citation.paragraph}"
    return f"chars {citation.start}–{citation.end}"


def citation_line(citation: Citation) -> str:
    """One numbered source in mrkdwn: marker, title, location and the start of the passage, all escaped."""
    title = escape_mrkdwn(citation.title or citation.doc_id or citation.path)
    passage = escape_mrkdwn(_truncate(" ".join(citation.text.split()), PASSAGE_CHARS))
    return f"*[{citation.n}]* {title}, {citation_location(citation)}: _“{passage}”_"


def fallback_text(answer: Answer) -> str:
    """The notification / fallback ``text`` of the message: the answer alone, escaped and bounded."""
    prefix = "The documents do not cover this. " if answer.status == "refused" else ""
    prefix += f"{answer.note} " if answer.note else ""
    return split_escaped(prefix + answer.text, FALLBACK_CHARS)[0]


def answer_blocks(answer: Answer) -> dict[str, Any]:
    """A ``chat.postMessage``/``response_url`` payload: ``{"text": fallback, "blocks": [...]}``."""
    citations = sorted(answer.citations, key=lambda c: c.n)
    shown = citations[: MAX_CONTEXT_ELEMENTS * MAX_SOURCE_BLOCKS]
    context_blocks: list[dict[str, Any]] = []
    lines = [citation_line(c) for c in shown]
    if len(citations) > len(shown):
        lines[-1] += f" (and {len(citations) - len(shown)} more sources)"
    for i in range(0, len(lines), MAX_CONTEXT_ELEMENTS):
        elements = [{"type": "mrkdwn", "text": line} for line in lines[i : i + MAX_CONTEXT_ELEMENTS]]
        context_blocks.append({"type": "context", "elements": elements})

    notes: list[dict[str, Any]] = []
    if answer.status == "partial":
        notes.append({"type": "context", "elements": [{"type": "mrkdwn", "text": PARTIAL_NOTE}]})
    if answer.trace.fallback.startswith("model unavailable"):
        notes.append({"type": "context", "elements": [{"type": "mrkdwn", "text": MODEL_DOWN_NOTE}]})
    if answer.status == "refused" and answer.trace.searched and answer.trace.searched not in answer.text:
        searched = escape_mrkdwn(_truncate(answer.trace.searched, 500))
        notes.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"Searched: {searched}"}]})

    # The refusal headline is our own markup and holds no & < >, so escaping it is a no-op.
    body = f"{REFUSAL_HEADLINE}\n{answer.text}" if answer.status == "refused" else answer.text
    body = f"_{answer.note}_\n{body}" if answer.note else body
    sections_text = [piece for piece in split_escaped(body) if piece.strip()] or ["_(empty answer)_"]
    divider = 1 if context_blocks else 0
    room = MAX_BLOCKS - len(context_blocks) - len(notes) - divider
    if len(sections_text) > room:
        sections_text = sections_text[: room - 1] + ["_… (answer shortened to fit Slack's limits)_"]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": piece}} for piece in sections_text
    ]
    blocks.extend(notes)
    if context_blocks:
        blocks.append({"type": "divider"})
        blocks.extend(context_blocks)
    return {"text": fallback_text(answer), "blocks": blocks}


def webhook_message(answer: Answer) -> dict[str, Any]:
    """An inline reply for a Slack-compatible outgoing webhook (Mattermost, Rocket.Chat).

    Those servers take ``text`` (Markdown) and Slack-style ``attachments`` but not Block Kit, so the sources go
    in one attachment.
    """
    if answer.status == "refused":
        text = "**The documents do not cover this.** " + escape_markdown(answer.text)
    else:
        text = escape_markdown(answer.text)
        if answer.note:
            text = f"_{escape_markdown(answer.note)}_\n{text}"
        if answer.status == "partial":
            text += "\n_Part of the question is not covered by the documents._"
    message: dict[str, Any] = {"text": _truncate(text, 16_000), "response_type": "comment"}
    citations = sorted(answer.citations, key=lambda c: c.n)[:50]
    if citations:
        lines = []
        for c in citations:
            title = escape_markdown(c.title or c.doc_id or c.path)
            passage = escape_markdown(_truncate(" ".join(c.text.split()), PASSAGE_CHARS))
            lines.append(f"\\[{c.n}\\] {title}, {citation_location(c)}: “{passage}”")
        sources = "\n".join(lines)
        message["attachments"] = [{"fallback": "Sources", "title": "Sources", "text": sources}]
    return message
