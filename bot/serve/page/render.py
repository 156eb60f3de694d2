"""Renders answers, sources and documents for the page as sanitised HTML.

Everything that comes from a document, the model or the user passes through :func:`html.escape` here,
and nothing is left for Markdown to interpret: each chat message is one HTML block (a ``<div>`` with no
blank line inside), so Markdown images, raw links and autolinks in model output stay plain text. The only
tags on the page are the ones written in this module.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence

from bot.answer import Answer, Citation, DocumentInfo
from bot.lang.cjk import CJK_CHAR
from bot.reader.refusal import is_searched_sentence

MARKER = re.compile(r"\[(\d{1,3})\]")
_URL_SCHEME = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{1,15}):(?=//)")
MODEL_DOWN = "The language model is not available right now, so this answer quotes the documents directly."
STATUS_LABEL = {"answered": "answered", "partial": "partial answer", "refused": "refused"}


def escape_text(text: str) -> str:
    """Escape ``text`` for HTML and neutralise everything a Markdown renderer could turn into markup.

    ``://`` after a scheme is written with a character entity so no autolinker sees a URL, Markdown
    punctuation becomes entities, and line breaks become ``<br>`` so the message stays one HTML block.
    """
    out = html.escape(text.replace("\x00", ""), quote=True)
    out = _URL_SCHEME.sub(lambda m: m.group(1) + "&#58;", out)
    for char, entity in (("[", "&#91;"), ("]", "&#93;"), ("(", "&#40;"), (")", "&#41;"), ("!", "&#33;"),
                         ("*", "&#42;"), ("_", "&#95;"), ("`", "&#96;"), ("$", "&#36;"), ("~", "&#126;")):
        out = out.replace(char, entity)
    return out.replace("\r\n", "\n").replace("\n", "<br>")


def _block(css_class: str, inner: str) -> str:
    return f'<div class="{css_class}">{inner}</div>'


def badge(status: str) -> str:
    label = STATUS_LABEL.get(status, status)
    return f'<span class="pb-badge pb-badge-{html.escape(status)}">{html.escape(label)}</span>'


def source_anchor(turn: int, n: int) -> str:
    return f"pb-src-{turn}-{n}"


def question_html(question: str) -> str:
    return _block("pb-question", escape_text(question))


def progress_html(message: str) -> str:
    return _block("pb-progress", '<span class="pb-spinner" aria-hidden="true"></span>' + escape_text(message))


def draft_html(text: str) -> str:
    """The model's draft while it streams, before the grounding check."""
    meta = _block("pb-meta", '<span class="pb-badge pb-badge-draft">drafting, not yet checked</span>')
    return _block("pb-answer pb-draft", meta + _block("pb-text", escape_text(text)))


def notice_html(message: str) -> str:
    """A friendly error or limit message in place of an answer."""
    return _block("pb-answer pb-notice", _block("pb-text", escape_text(message)))


def _cited_text(text: str, citations: Sequence[Citation], turn: int) -> str:
    by_n = {c.n: c for c in citations}
    parts: list[str] = []
    pos = 0
    for match in MARKER.finditer(text):
        parts.append(escape_text(text[pos : match.start()]))
        cite = by_n.get(int(match.group(1)))
        if cite is None:
            parts.append(escape_text(match.group(0)))
        else:
            hover = html.escape(f"{cite.title}: {cite.text}", quote=True)
            parts.append(
                f'<a class="pb-cite" href="#{source_anchor(turn, cite.n)}" title="{hover}">&#91;{cite.n}&#93;</a>'
            )
        pos = match.end()
    parts.append(escape_text(text[pos:]))
    return "".join(parts)


def searched_line(answer: Answer, question: str = "") -> str:
    """What was searched, as one line: the pipeline's own sentence ("Searched 3 documents for: …") as it is,
    anything else after "Searched: "; empty when nothing is known."""
    searched = answer.trace.searched or answer.trace.standalone_question or answer.question or question
    if not searched:
        return ""
    return searched if is_searched_sentence(searched) else f"Searched: {searched}"


def answer_html(answer: Answer, turn: int) -> str:
    """The checked answer: status badge, text with each ``[n]`` linked to its source, refusal details.

    A refusal's text ends with what was searched; that sentence is shown once, on its own line below it."""
    meta = _block("pb-meta", badge(answer.status))
    text = answer.text
    searched = answer.trace.searched
    if answer.status == "refused" and searched and text.rstrip().endswith(searched):
        text = text.rstrip()[: -len(searched)].rstrip()
    body = _block("pb-text", _cited_text(text, answer.citations, turn))
    if answer.note:
        body = _block("pb-note", escape_text(answer.note)) + body
    extra = ""
    if answer.trace.fallback.startswith("model unavailable"):
        extra += _block("pb-model-down", MODEL_DOWN)
    if answer.status == "refused" and (line := searched_line(answer)):
        extra += _block("pb-searched", escape_text(line))
    return _block(f"pb-answer pb-status-{html.escape(answer.status)}", meta + body + extra)


def highlight_passage(text: str, words: Iterable[str]) -> str:
    """Escape ``text`` and wrap each occurrence of ``words`` in ``<mark>`` (word boundaries for Latin)."""
    patterns = []
    for word in sorted({w.strip() for w in words if w and w.strip()}, key=len, reverse=True):
        escaped = re.escape(word)
        patterns.append(escaped if CJK_CHAR.search(word) else rf"(?<!\w){escaped}(?!\w)")
    if not patterns:
        return escape_text(text)
    regex = re.compile("|".join(patterns), re.IGNORECASE)
    parts: list[str] = []
    pos = 0
    for match in regex.finditer(text):
        parts.append(escape_text(text[pos : match.start()]))
        parts.append(f"<mark>{escape_text(match.group(0))}</mark>")
        pos = match.end()
    parts.append(escape_text(text[pos:]))
    return "".join(parts)


def location_text(cite: Citation) -> str:
    where = [f"¶ {cite.paragraph}"] if cite.paragraph else []
    where.append(f"characters {cite.start}–{cite.end}")
    where.append(cite.path or cite.doc_id)
    return " · ".join(where)


def _source_items(answer: Answer, turn: int) -> str:
    items = []
    for cite in sorted(answer.citations, key=lambda c: c.n):
        head = _block("pb-source-title", f"&#91;{cite.n}&#93; " + escape_text(cite.title or cite.doc_id))
        passage = f'<blockquote class="pb-passage">{highlight_passage(cite.text, cite.highlight)}</blockquote>'
        loc = _block("pb-loc", escape_text(location_text(cite)))
        items.append(f'<li class="pb-source" id="{source_anchor(turn, cite.n)}">{head}{passage}{loc}</li>')
    return '<ol class="pb-source-list">' + "".join(items) + "</ol>"


def _turn_sources(question: str, answer: Answer, turn: int) -> str:
    if answer.citations:
        return _source_items(answer, turn)
    return _block("pb-no-sources", "No passage was cited. " + escape_text(searched_line(answer, question)))


def sources_html(turns: Sequence[tuple[str, Answer | None]]) -> str:
    """The sources panel: the latest answer's passages first, earlier answers folded below."""
    answered = [(i, q, a) for i, (q, a) in enumerate(turns) if a is not None]
    if not answered:
        return _block("pb-sources pb-empty", "<p>The passages behind each answer appear here.</p>")
    latest_i, latest_q, latest = answered[-1]
    parts = [
        '<h3 class="pb-sources-head">Sources</h3>',
        _block("pb-sources-question", escape_text(latest_q)),
        _turn_sources(latest_q, latest, latest_i),
    ]
    for i, question, answer in reversed(answered[:-1]):
        summary = f"<summary>{escape_text(question)}</summary>"
        parts.append(f'<details class="pb-earlier">{summary}{_turn_sources(question, answer, i)}</details>')
    return _block("pb-sources", "".join(parts))


def documents_html(docs: Sequence[DocumentInfo]) -> str:
    if not docs:
        return _block("pb-docs pb-empty", "<p>No documents are indexed yet. Upload one below.</p>")
    rows = "".join(
        "<tr>"
        f"<td>{escape_text(d.title or d.doc_id)}</td><td><code>{escape_text(d.doc_id)}</code></td>"
        f"<td>{d.chunks}</td><td>{escape_text(d.indexed_at[:19].replace('T', ' '))}</td>"
        "</tr>"
        for d in docs
    )
    head = "<thead><tr><th>Title</th><th>Id</th><th>Chunks</th><th>Indexed at (UTC)</th></tr></thead>"
    return _block("pb-docs", f'<table class="pb-docs-table">{head}<tbody>{rows}</tbody></table>')


def status_html(message: str, ok: bool = True) -> str:
    return _block("pb-status " + ("pb-ok" if ok else "pb-fail"), escape_text(message))


PAGE_CSS = """
.pb-badge { display:inline-block; font-size:0.75em; padding:1px 8px; border-radius:10px; font-weight:600;
  text-transform:uppercase; letter-spacing:0.03em; margin-bottom:4px; }
.pb-badge-answered { background:#dcfce7; color:#166534; }
.pb-badge-partial { background:#fef3c7; color:#92400e; }
.pb-badge-refused { background:#e5e7eb; color:#374151; }
.pb-badge-draft { background:#e0e7ff; color:#3730a3; }
.pb-status-refused .pb-text { font-style:italic; color:#4b5563; }
.pb-status-refused { border-left:4px solid #9ca3af; padding-left:8px; }
.pb-status-partial { border-left:4px solid #f59e0b; padding-left:8px; }
.pb-note { font-size:0.85em; color:#4b5563; font-style:italic; margin-bottom:2px; }
.pb-searched { font-size:0.85em; color:#6b7280; margin-top:4px; }
.pb-draft .pb-text { color:#6b7280; }
.pb-notice { border-left:4px solid #ef4444; padding-left:8px; }
.pb-cite { text-decoration:none; font-weight:600; cursor:help; }
.pb-source { margin-bottom:10px; }
.pb-source:target { background:#fef9c3; border-radius:4px; }
.pb-source-title { font-weight:600; }
.pb-passage { margin:4px 0; padding-left:8px; border-left:3px solid #d1d5db; }
.pb-passage mark { background:#fde68a; padding:0 1px; }
.pb-loc { font-size:0.8em; color:#6b7280; }
.pb-sources-question { font-style:italic; margin-bottom:6px; }
.pb-docs-table { width:100%; border-collapse:collapse; }
.pb-docs-table th, .pb-docs-table td { text-align:left; padding:4px 8px; border-bottom:1px solid #e5e7eb; }
.pb-status.pb-fail { color:#b91c1c; }
.pb-spinner { display:inline-block; width:0.8em; height:0.8em; margin-right:6px; border:2px solid #9ca3af;
  border-top-color:transparent; border-radius:50%; animation:pb-spin 1s linear infinite; }
@keyframes pb-spin { to { transform:rotate(360deg); } }
"""
