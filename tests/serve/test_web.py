"""The page's behaviour, driven in process through its handlers with a fake pipeline and library.

The real pipeline and server are driven by tests/serve/test_browser.py; here the fakes replay scripted events so
each rule of the page (streaming, citations, refusals, sanitising, limits, errors, feedback) is checked fast.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bot.answer import (
    AddResult,
    Answer,
    Citation,
    DocumentInfo,
    Event,
    Final,
    Progress,
    Scope,
    Token,
    Trace,
    Turn,
)
from bot.errors import BusyError
from bot.serve.feedback import FeedbackStore
from bot.serve.page.handlers import ChatHandler, ChatUpdate, DocumentsHandler
from bot.settings import Settings

PASSAGE = "The selection criteria mainly include strategic significance, knowledge and technology, and industrial foundation."


def cited_answer(text: str = "They were chosen for strategic significance and industrial foundation [1].",
                 passage: str = PASSAGE) -> Answer:
    cite = Citation(
        n=1, doc_id="guangdong", title="Guangdong future industries", path="guangdong.txt", text=passage,
        start=100, end=100 + len(passage), score=0.9, paragraph=12, highlight=["strategic", "industrial foundation"],
    )
    return Answer(text=text, citations=[cite], status="answered", question="Why these industries?")


def refusal() -> Answer:
    trace = Trace(searched="earmarked yuan budget for the five clusters")
    return Answer(text="The documents do not say.", status="refused", trace=trace)


class FakeService:
    """Replays scripted events (or raises) and records what it was asked."""

    def __init__(self, events: list[Event] | None = None, error: Exception | None = None) -> None:
        self.events = events if events is not None else [Token("They were "), Token("chosen."), Final(cited_answer())]
        self.error = error
        self.calls: list[tuple[str, list[Turn] | None]] = []

    def stream(self, question: str, history: list[Turn] | None = None, scope: Scope | None = None) -> Iterator[Event]:
        self.calls.append((question, history))
        yield Progress("searching")
        if self.error is not None:
            raise self.error
        yield from self.events

    def answer(self, question: str, history: list[Turn] | None = None, scope: Scope | None = None) -> Answer:
        raise AssertionError("the page must stream")


class FakeLimiter:
    def __init__(self, allowed: bool) -> None:
        self.allowed = allowed
        self.keys: list[str] = []

    def allow(self, key: str) -> bool:
        self.keys.append(key)
        return self.allowed


class FakeLibrary:
    def __init__(self) -> None:
        self.docs = [DocumentInfo(doc_id="guangdong", title="Guangdong <b>plan</b>", path="guangdong.txt",
                                  chunks=42, indexed_at="2025-01-02T03:04:05+00:00")]
        self.added: list[list[Path]] = []
        self.removed: list[str] = []

    def documents(self) -> list[DocumentInfo]:
        return list(self.docs)

    def add_files(self, paths: list[Path], progress: Callable[[float, str], None] | None = None) -> AddResult:
        self.added.append(paths)
        if progress is not None:
            progress(0.5, "embedding")
        return AddResult(added=[p.stem for p in paths])

    def remove(self, doc_id: str) -> bool:
        self.removed.append(doc_id)
        return doc_id == "guangdong"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "state", max_question_chars=200, max_upload_mb=0.001)


def run(handler: ChatHandler, question: str, turns: list | None = None, client: str = "ip:1") -> list[ChatUpdate]:
    return list(handler.respond(question, turns or [], client))


def last_reply(update: ChatUpdate) -> str:
    return update.messages[-1]["content"]


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags_of(html_text: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = TagCollector()
    parser.feed(html_text)
    return parser.tags


SAFE_TAGS = {"div", "span", "a", "br", "mark", "blockquote", "ol", "li", "h3", "details", "summary", "p",
             "table", "thead", "tbody", "tr", "th", "td", "code"}


def assert_only_page_markup(html_text: str) -> None:
    for tag, attrs in tags_of(html_text):
        assert tag in SAFE_TAGS, f"unexpected <{tag}> in {html_text!r}"
        assert not any(name.startswith("on") for name in attrs), f"event handler on <{tag}>"
        if tag == "a":
            assert (attrs.get("href") or "").startswith("#pb-src-"), f"link leaves the page: {attrs}"


def test_answer_streams_as_growing_draft_then_is_replaced_by_the_cited_answer(settings: Settings) -> None:
    updates = run(ChatHandler(FakeService(), settings), "Why were these five industries chosen?")
    replies = [last_reply(u) for u in updates]
    drafts = [r for r in replies if "pb-draft" in r]
    assert [("They were" in d, "chosen." in d) for d in drafts] == [(True, False), (True, True)]
    final = replies[-1]
    assert "pb-draft" not in final and "pb-badge-answered" in final
    assert 'class="pb-cite" href="#pb-src-0-1"' in final
    assert updates[0].question == "" and updates[-1].turns[0].answer is not None


def test_progress_messages_show_before_the_first_token(settings: Settings) -> None:
    replies = [last_reply(u) for u in run(ChatHandler(FakeService(), settings), "Why?")]
    assert "pb-progress" in replies[0] and "searching" in replies[1]


def test_sources_panel_lists_each_cited_passage_with_highlight_and_location(settings: Settings) -> None:
    sources = run(ChatHandler(FakeService(), settings), "Why?")[-1].sources
    assert 'id="pb-src-0-1"' in sources and "Guangdong future industries" in sources
    assert "<mark>strategic</mark>" in sources and "<mark>industrial foundation</mark>" in sources
    assert "¶ 12" in sources and f"characters 100–{100 + len(PASSAGE)}" in sources


def test_refusal_is_styled_apart_and_says_what_was_searched(settings: Settings) -> None:
    updates = run(ChatHandler(FakeService([Final(refusal())]), settings), "How many yuan?")
    final = last_reply(updates[-1])
    assert "pb-status-refused" in final and "pb-badge-refused" in final and "pb-cite" not in final
    assert "Searched: earmarked yuan budget for the five clusters" in final
    assert "earmarked yuan budget" in updates[-1].sources


def test_a_refusal_says_what_was_searched_once(settings: Settings) -> None:
    searched = "Searched 1 document for: \u201cHow many yuan?\u201d."
    answer = Answer(text=f"The documents do not say. {searched}", status="refused", trace=Trace(searched=searched))
    update = run(ChatHandler(FakeService([Final(answer)]), settings), "How many yuan?")[-1]
    final = last_reply(update)
    assert final.count("Searched 1 document") == 1 and "Searched: Searched" not in final
    assert "The documents do not say." in final
    assert update.sources.count("Searched 1 document") == 1 and "Searched: Searched" not in update.sources


def test_follow_up_passes_the_earlier_turns_as_history(settings: Settings) -> None:
    service = FakeService()
    handler = ChatHandler(service, settings)
    first = run(handler, "Why were these five industries chosen?")[-1]
    run(handler, "And what are the goals?", first.turns)
    question, history = service.calls[-1]
    assert question == "And what are the goals?"
    assert history == [Turn("user", "Why were these five industries chosen?"), Turn("assistant", cited_answer().text)]


def test_document_and_model_markup_is_neutralised(settings: Settings) -> None:
    hostile_passage = 'Budget <script>alert(1)</script> and <img src=x onerror="alert(2)"> here.'
    hostile_answer = "See ![x](http://evil/x.png) and [click](http://evil) or https://evil.example [1]."
    answer = cited_answer(text=hostile_answer, passage=hostile_passage)
    events: list[Event] = [Token("![x](http://evil/x.png) <script>alert(3)</script>"), Final(answer)]
    updates = run(ChatHandler(FakeService(events), settings), "<img src=y onerror=alert(4)>?")
    pages = [u.sources for u in updates] + [m["content"] for u in updates for m in u.messages]
    for page in pages:
        assert_only_page_markup(page)
        assert "](http" not in page and "http://" not in page and "https://" not in page
    assert "&lt;script&gt;alert&#40;1&#41;&lt;/script&gt;" in updates[-1].sources


def test_escaped_output_stays_inert_after_markdown_rendering(settings: Settings) -> None:
    markdown_it = pytest.importorskip("markdown_it")
    answer = cited_answer(text="![x](http://evil/x.png) [click](http://evil) <b>bold</b> [1]")
    final = last_reply(run(ChatHandler(FakeService([Final(answer)]), settings), "q")[-1])
    rendered = markdown_it.MarkdownIt("commonmark", {"html": True}).render(final)
    assert "<img" not in rendered and "<b>" not in rendered
    assert all(tag != "a" or (a.get("href") or "").startswith("#pb-src-") for tag, a in tags_of(rendered))


def test_over_long_question_is_refused_without_asking_the_pipeline(settings: Settings) -> None:
    service = FakeService()
    updates = run(ChatHandler(service, settings), "x" * 1000)
    assert service.calls == []
    reply = last_reply(updates[-1])
    assert "1000 characters" in reply and "limit is 200" in reply
    assert len(updates[-1].messages[0]["content"]) < 400


def test_service_failure_shows_a_friendly_message_and_no_internals(settings: Settings) -> None:
    error = RuntimeError("/secret/path/model.gguf exploded")
    reply = last_reply(run(ChatHandler(FakeService(error=error), settings), "Why?")[-1])
    assert "Sorry, something went wrong" in reply
    assert "exploded" not in reply and "secret" not in reply and "Traceback" not in reply


def test_busy_model_says_how_many_questions_are_ahead(settings: Settings) -> None:
    error = BusyError("The model is busy: 3 questions are already waiting (limit POLICYBOT_QUEUE_SIZE=3). Try again.")
    reply = last_reply(run(ChatHandler(FakeService(error=error), settings), "Why?")[-1])
    assert "The model is busy, 4 questions ahead" in reply and "please retry" in reply
    assert "POLICYBOT" not in reply


def test_rate_limited_user_is_asked_to_wait_and_the_pipeline_is_not_called(settings: Settings) -> None:
    service, limiter = FakeService(), FakeLimiter(allowed=False)
    reply = last_reply(run(ChatHandler(service, settings, limiter), "Why?", client="ip:9")[-1])
    assert service.calls == [] and limiter.keys == ["ip:9"] and "wait a moment" in reply


def test_empty_question_changes_nothing(settings: Settings) -> None:
    service = FakeService()
    updates = run(ChatHandler(service, settings), "   ")
    assert service.calls == [] and updates[-1].messages == []


def test_thumbs_up_and_down_are_stored_with_question_answer_citations_and_trace(settings: Settings) -> None:
    handler = ChatHandler(FakeService(), settings)
    turns = run(handler, "Why were these five industries chosen?")[-1].turns
    assert "saved" in handler.rate(turns, 1, True)
    assert "saved" in handler.rate(turns, [1, None], "Dislike")
    entries = FeedbackStore.from_settings(settings).entries()
    assert [e["rating"] for e in entries] == ["up", "down"]
    assert entries[0]["question"] == "Why were these five industries chosen?"
    assert entries[0]["answer"] == cited_answer().text and entries[0]["status"] == "answered"
    assert entries[0]["citations"][0]["text"] == PASSAGE and "timings" in entries[0]["trace"]
    raw = (settings.data_dir / "feedback.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(raw) == 2 and json.loads(raw[1])["rating"] == "down"


def test_notices_cannot_be_rated(settings: Settings) -> None:
    handler = ChatHandler(FakeService(), settings)
    turns = run(handler, "x" * 500)[-1].turns
    assert handler.rate(turns, 1, True) == "" and handler.rate(turns, 7, True) == ""
    assert not (settings.data_dir / "feedback.jsonl").exists()


def write(path: Path, size: int) -> str:
    path.write_bytes(b"a" * size)
    return str(path)


def test_upload_over_the_size_limit_or_of_another_type_is_refused(settings: Settings, tmp_path: Path) -> None:
    library = FakeLibrary()
    docs = DocumentsHandler(library, settings)
    too_big = docs.upload([write(tmp_path / "big.txt", 5000)])
    wrong_type = docs.upload([write(tmp_path / "tool.exe", 10)])
    empty = docs.upload([write(tmp_path / "empty.md", 0)])
    assert "big.txt is 0.0 MB; the limit is 0.001 MB" in too_big and "pb-fail" in too_big
    assert "only .txt" in wrong_type and library.added == []
    assert "empty.md is empty" in empty and "pb-fail" in empty and library.added == []


def test_upload_adds_accepted_files_reports_progress_and_lists_them(settings: Settings, tmp_path: Path) -> None:
    library = FakeLibrary()
    seen: list[tuple[float, str]] = []
    status = DocumentsHandler(library, settings).upload(
        [write(tmp_path / "notes.md", 100), write(tmp_path / "big.pdf", 5000)], lambda f, m: seen.append((f, m))
    )
    assert library.added == [[tmp_path / "notes.md"]] and seen == [(0.5, "embedding")]
    assert "Added and ready to ask about: notes." in status and "big.pdf is" in status


def test_document_list_is_escaped_and_removal_reports_the_outcome(settings: Settings) -> None:
    library = FakeLibrary()
    docs = DocumentsHandler(library, settings)
    table = docs.table()
    assert "Guangdong &lt;b&gt;plan&lt;/b&gt;" in table and "<td>42</td>" in table and "2025-01-02 03:04:05" in table
    assert docs.choices() == [("Guangdong <b>plan</b> (guangdong)", "guangdong")]
    assert "Removed guangdong" in docs.remove("guangdong")
    assert "No document with id nope" in docs.remove("nope") and library.removed == ["guangdong", "nope"]


def mounted(settings: Settings) -> object:
    from fastapi import FastAPI

    from bot.serve.page.page import mount_page

    return mount_page(FastAPI(), FakeService(), FakeLibrary(), settings)


def test_mounted_page_loads_nothing_from_the_internet_and_shows_no_errors_or_telemetry(settings: Settings) -> None:
    from fastapi.testclient import TestClient

    with TestClient(mounted(settings)) as client:  # type: ignore[arg-type]
        config = client.get("/config").json()
        theme = client.get("/theme.css").text
    assert config["analytics_enabled"] is False and config["run_history"] is False
    assert config["show_error"] is False and config["footer_links"] == []
    assert config["max_file_size"] == int(settings.max_upload_mb * 1024 * 1024)
    assert ".pb-badge-refused" in config["css"]
    assert not [s for s in config["stylesheets"] if s.startswith("http")]
    assert "url(http" not in theme and "@import" not in theme and "system-ui" in theme


def test_page_password_guards_the_page_and_uploads(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    settings = Settings(data_dir=tmp_path, page_password="s3cret")  # type: ignore[arg-type]
    with TestClient(mounted(settings)) as client:  # type: ignore[arg-type]
        assert client.get("/config").status_code == 401
        assert client.post("/gradio_api/upload", files={"files": ("a.txt", b"hi")}).status_code == 401
        assert client.post("/login", data={"username": "anyone", "password": "wrong"}).status_code == 400
        assert client.post("/login", data={"username": "anyone", "password": "s3cret"}).status_code == 200
        assert client.get("/config").status_code == 200
