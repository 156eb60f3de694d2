"""How the HTTP API writes an ``Answer``: JSON without secrets, server-sent events, and plain text with sources.

The API only formats what the pipeline returns (DESIGN.md section 2): the JSON is the ``Answer`` contract
itself, with any configured secret value that could have reached a string replaced (a guard: the trace holds
model and prompt ids, hashes, timings and retrieval candidates, never settings).
"""

from __future__ import annotations

import json
from typing import Any

from bot.answer import Answer
from bot.reader.quote_note import without_note
from bot.settings import SECRET_FIELDS, Settings

REDACTED = "(redacted)"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no proxy buffering of events
SOURCES_HEADING = "Sources:"


def _secrets(settings: Settings) -> list[str]:
    values = [getattr(settings, name).get_secret_value() for name in SECRET_FIELDS]
    values += [token.split(":")[0].strip() for token in settings.api_tokens.get_secret_value().split(",")]
    return sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)


def _scrub(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: _scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, secrets) for v in value]
    return value


def public_answer(answer: Answer, settings: Settings) -> dict[str, Any]:
    """The ``Answer`` as JSON for a client: text, citations (passage and offsets), status, trace."""
    return dict(_scrub(answer.to_json_dict(), _secrets(settings)))


def sse(event: str, data: Any) -> str:
    """One server-sent event; ``data`` is JSON on a single line."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


def sources_text(answer: Answer) -> str:
    """The numbered sources under an answer, one line each: title, passage, where it is."""
    lines = []
    for cite in sorted(answer.citations, key=lambda c: c.n):
        passage = " ".join(cite.text.split())
        where = f"{cite.path or cite.doc_id}, characters {cite.start}-{cite.end}"
        lines.append(f"[{cite.n}] {cite.title or cite.doc_id}: \u201c{passage}\u201d ({where})")
    return "\n".join(lines)


def answer_text(answer: Answer) -> str:
    """The checked answer with its ``[n]`` markers, then the sources list (none for a refusal)."""
    sources = sources_text(answer)
    text = f"{answer.note}\n{answer.text}" if answer.note else answer.text
    return f"{text}\n\n{SOURCES_HEADING}\n{sources}" if sources else text


def without_sources(text: str) -> str:
    """An earlier assistant message as it was answered: without the sources list :func:`answer_text` appended
    and without the quote note it put first."""
    head, sep, _ = text.partition(f"\n\n{SOURCES_HEADING}\n")
    return without_note(head if sep else text)
