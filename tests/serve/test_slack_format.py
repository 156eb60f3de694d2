"""Block Kit formatting: escaping that no document can get around, Slack's limits, plain refusals."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.answer import Answer, Citation, Trace
from bot.serve.chat.slack_format import (
    MAX_BLOCKS,
    MAX_CONTEXT_ELEMENTS,
    MAX_SECTION_CHARS,
    answer_blocks,
    escape_markdown,
    escape_mrkdwn,
    split_escaped,
    unescape_mrkdwn,
    webhook_message,
)

ENTITY = re.compile(r"&(amp|lt|gt);")
HOSTILE = st.text(alphabet=st.sampled_from(list("<>&|!@#:/ab \n[]()*_~`")) | st.characters(), max_size=400)


def citation(n: int, text: str = "The plan names five clusters.", title: str = "Guangdong plan", paragraph: int = 3) -> Citation:
    return Citation(n=n, doc_id="guangdong", title=title, path="guangdong.txt", text=text, start=100, end=100 + len(text),
                    score=0.5, paragraph=paragraph)


def mrkdwn_texts(message: dict[str, Any]) -> list[str]:
    texts = [message["text"]]
    for block in message["blocks"]:
        if block["type"] == "section":
            texts.append(block["text"]["text"])
        elif block["type"] == "context":
            texts.extend(e["text"] for e in block["elements"])
    return texts


def assert_no_live_markup(text: str) -> None:
    assert "<" not in text and ">" not in text
    assert "&" not in ENTITY.sub("", text), "every & is part of an entity"


# --- escaping ---------------------------------------------------------------------------------------------
def test_escape_turns_slack_control_characters_into_entities() -> None:
    assert escape_mrkdwn("<!channel> & <@U1> <http://evil|click>") == (
        "&lt;!channel&gt; &amp; &lt;@U1&gt; &lt;http://evil|click&gt;"
    )
    assert escape_mrkdwn("&lt;") == "&amp;lt;", "text that already looks escaped is escaped again"


@given(HOSTILE)
def test_escaped_text_has_no_raw_control_characters_and_round_trips(text: str) -> None:
    escaped = escape_mrkdwn(text)
    assert_no_live_markup(escaped)
    assert unescape_mrkdwn(escaped) == text


@given(HOSTILE, st.integers(min_value=5, max_value=60))
def test_splitting_never_cuts_an_entity_and_keeps_every_word(text: str, limit: int) -> None:
    pieces = split_escaped(text, limit)
    for piece in pieces:
        assert len(piece) <= limit
        assert_no_live_markup(piece)
    joined = "".join(unescape_mrkdwn(p) for p in pieces)
    assert re.sub(r"\s", "", joined) == re.sub(r"\s", "", text), "only whitespace at the cuts is dropped"


@given(text=HOSTILE, passages=st.lists(HOSTILE, max_size=30), titles=HOSTILE,
       status=st.sampled_from(["answered", "partial", "refused"]), searched=HOSTILE)
@settings(max_examples=150, deadline=None)
def test_nothing_from_a_document_or_the_model_becomes_live_markup(
    text: str, passages: list[str], titles: str, status: str, searched: str
) -> None:
    answer = Answer(text=text, status=status, trace=Trace(searched=searched),  # type: ignore[arg-type]
                    citations=[citation(i + 1, p, titles) for i, p in enumerate(passages)])
    message = answer_blocks(answer)
    for piece in mrkdwn_texts(message):
        assert_no_live_markup(piece)
    assert len(message["blocks"]) <= MAX_BLOCKS
    for block in message["blocks"]:
        if block["type"] == "section":
            assert 0 < len(block["text"]["text"]) <= MAX_SECTION_CHARS
        if block["type"] == "context":
            assert 1 <= len(block["elements"]) <= MAX_CONTEXT_ELEMENTS
    json.dumps(message)  # serialisable as a Slack payload


# --- layout -----------------------------------------------------------------------------------------------
def test_answer_then_divider_then_numbered_sources_with_locations() -> None:
    answer = Answer(text="Five clusters are planned [1], led by two departments [2].", status="answered",
                    citations=[citation(1), citation(2, "Two departments explained it.", "Press conference", paragraph=0)])
    message = answer_blocks(answer)
    kinds = [b["type"] for b in message["blocks"]]
    assert kinds == ["section", "divider", "context"]
    assert message["blocks"][0]["text"]["text"] == answer.text, "markers [n] are kept"
    sources = [e["text"] for e in message["blocks"][2]["elements"]]
    assert sources[0].startswith("*[1]* Guangdong plan, ¶ 3")
    assert sources[1].startswith("*[2]* Press conference, chars 100–129")
    assert message["text"] == answer.text


def test_long_answers_are_split_into_sections_within_slack_limits() -> None:
    text = " ".join(f"Sentence {i} says a & b < c [1]." for i in range(900))
    message = answer_blocks(Answer(text=text, status="answered", citations=[citation(1)]))
    sections = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]
    assert len(sections) > 3 and all(len(s) <= MAX_SECTION_CHARS for s in sections)
    assert " ".join(unescape_mrkdwn(s) for s in sections).split() == text.split()
    assert len(message["text"]) <= 3000


def test_answers_too_long_for_fifty_blocks_are_shortened_with_a_note() -> None:
    text = "word " * 60_000
    message = answer_blocks(Answer(text=text, status="answered", citations=[citation(i) for i in range(1, 80)]))
    assert len(message["blocks"]) == MAX_BLOCKS
    assert "shortened" in json.dumps(message)


def test_many_sources_fill_context_blocks_of_ten_and_say_how_many_more() -> None:
    message = answer_blocks(Answer(text="x [1]", status="answered", citations=[citation(i) for i in range(1, 26)]))
    contexts = [b for b in message["blocks"] if b["type"] == "context"]
    assert [len(b["elements"]) for b in contexts] == [10, 10, 5]
    many = answer_blocks(Answer(text="x [1]", status="answered", citations=[citation(i) for i in range(1, 200)]))
    assert "(and 149 more sources)" in json.dumps(many)


def test_refusals_say_plainly_that_the_documents_do_not_cover_the_question() -> None:
    refusal = Answer(text="The documents do not say.", status="refused", trace=Trace(searched="guangdong (12 passages)"))
    message = answer_blocks(refusal)
    first = message["blocks"][0]["text"]["text"]
    assert first.startswith(":grey_question:") and "do not cover" in first and "The documents do not say." in first
    assert "divider" not in [b["type"] for b in message["blocks"]]
    assert "Searched: guangdong (12 passages)" in json.dumps(message)
    assert "do not cover" in message["text"]


def test_partial_answers_carry_a_note() -> None:
    message = answer_blocks(Answer(text="Five clusters [1].", status="partial", citations=[citation(1)]))
    assert "not covered" in json.dumps(message)


# --- Slack-compatible servers (Mattermost, Rocket.Chat) ------------------------------------------------------
def test_markdown_escaping_defuses_mentions_links_and_images() -> None:
    text = escape_markdown("@channel see [click](http://evil) ![x](http://evil/p.png) <!here> \\[")
    assert "@channel" not in text and "[click](" not in text and "![x](" not in text and "<" not in text
    assert "\\[click\\](http://evil)" in text


def test_webhook_message_has_comment_text_and_sources_attachment() -> None:
    message = webhook_message(Answer(text="Five clusters [1].", status="answered", citations=[citation(1)]))
    assert message["response_type"] == "comment"
    assert message["text"] == "Five clusters \\[1\\]."
    assert message["attachments"][0]["text"].startswith("\\[1\\] Guangdong plan, ¶ 3")
    refusal = webhook_message(Answer(text="The documents do not say.", status="refused"))
    assert "do not cover" in refusal["text"] and "attachments" not in refusal
