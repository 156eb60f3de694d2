"""An answer quoted in another language than the question says so, in the question's language (bot.reader.quote_note).

The note is a field of the answer (``Answer.note``), not a sentence of its text: it is no claim, so it carries no
citation and the eval's faithfulness and word counts read only the cited text. Every front end shows it first.
"""

from __future__ import annotations

from bot.answer import Answer, Citation, Trace
from bot.lang.cjk import has_cjk
from bot.reader.assemble import assemble
from bot.reader.evidence import Evidence
from bot.reader.quote_note import quote_note
from bot.serve.api.format import answer_text, without_sources
from bot.serve.chat.slack_format import answer_blocks, fallback_text, webhook_message
from bot.serve.page.render import answer_html

CHINESE = "企业可通过政务服务热线反映融资需求。"
ENGLISH = "Enterprises can report their financing needs through the service hotline."


def _evidence(text: str) -> Evidence:
    return Evidence(doc_id="d1", title="Notice", path="docs/notice.txt", chunk_id="c1", paragraph=0, start=0,
                    end=len(text), text=text, passage_rank=0, cite_start=0, cite_end=len(text), cite_text=text)


def test_a_quote_in_the_other_language_gets_a_note_in_the_questions_language() -> None:
    english_note = quote_note("How can enterprises report financing needs?", [CHINESE])
    assert english_note and not has_cjk(english_note) and "Chinese" in english_note
    chinese_note = quote_note("企业如何反映融资需求？", [ENGLISH])
    assert chinese_note and has_cjk(chinese_note) and "英文" in chinese_note


def test_an_answer_in_the_questions_language_has_no_note() -> None:
    assert quote_note("How can enterprises report financing needs?", [ENGLISH]) == ""
    assert quote_note("企业如何反映融资需求？", [CHINESE]) == ""
    # a Chinese name inside an English question and answer does not make either Chinese
    assert quote_note("What did 国家发展改革委 say about financing needs?",
                      ["The 国家发展改革委 said enterprises can report financing needs through the hotline."]) == ""
    assert quote_note("How can enterprises report financing needs?", []) == ""


def test_the_assembled_answer_keeps_the_note_out_of_its_cited_text() -> None:
    chosen = [_evidence(CHINESE)]
    answer = assemble("How can enterprises report financing needs?", "How can enterprises report financing needs?",
                      [], [(CHINESE, [1])], chosen, chosen, Trace())
    assert answer.note and not has_cjk(answer.note)
    assert answer.text.startswith(CHINESE.rstrip("。")) and answer.note not in answer.text
    assert [c.n for c in answer.citations] == [1]


def test_every_front_end_shows_the_note_before_the_answer() -> None:
    note = "Quoted from the documents, in Chinese:"
    cite = Citation(n=1, doc_id="d1", title="Notice", path="docs/notice.txt", text=CHINESE, start=0,
                    end=len(CHINESE), score=1.0, chunk_id="c1", paragraph=0, highlight=[])
    answer = Answer(text=f"{CHINESE[:-1]} [1]。", citations=[cite], status="answered", note=note)
    for shown in (answer_text(answer), fallback_text(answer), webhook_message(answer)["text"],
                  answer_blocks(answer)["blocks"][0]["text"]["text"]):
        assert note in shown and shown.index(note) < shown.index(CHINESE[:4]), shown
    page = answer_html(answer, 0)
    assert "pb-note" in page and page.index(note) < page.index(CHINESE[:4])


def test_an_answer_sent_back_as_history_is_read_without_its_note_or_sources() -> None:
    """A chat client (the OpenAI-compatible API) sends our earlier reply back as the conversation: the follow-up
    is condensed from what was answered, not from the note's words."""
    note = quote_note("How can enterprises report financing needs?", [CHINESE])
    cite = Citation(n=1, doc_id="d1", title="Notice", path="docs/notice.txt", text=CHINESE, start=0,
                    end=len(CHINESE), score=1.0, chunk_id="c1", paragraph=0, highlight=[])
    answer = Answer(text=f"{CHINESE[:-1]} [1]。", citations=[cite], status="answered", note=note)
    assert without_sources(answer_text(answer)) == answer.text
    plain = Answer(text="Reports go to the hotline [1].", citations=[cite], status="answered")
    assert without_sources(answer_text(plain)) == plain.text
    assert without_sources("A line of the user's own\nand another") == "A line of the user's own\nand another"
