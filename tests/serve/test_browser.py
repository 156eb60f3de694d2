"""The page in headless Chromium against the real server (real index, embeddings and model).

Scenarios of issue 5: a seed question streams and ends cited with highlighted sources; a follow-up; a refusal;
an uploaded document becomes answerable (and can be removed); a Chinese question about an uploaded Chinese
document renders as Chinese text, not boxes (Debian's fonts-noto-cjk, installed by `make browser-deps`). Each state is saved as a screenshot under
tests/output/. The timing test prints the median time from Enter to the first streamed text and to the full
answer over 5 runs. One more test serves the page over a fake pipeline that answers with hostile markup and
checks, in the browser, that none of it comes alive.

Run: ``pytest -m browser tests/serve/test_browser.py -s`` (needs /usr/bin/chromium and playwright).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import (
    OUTPUT,
    Browser,
    Server,
    browser_missing_reason,
    chromium,
    in_process_server,
    real_server,
    screenshot,
    server_missing_reason,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(browser_missing_reason() is not None, reason=browser_missing_reason() or ""),
]

BOT = "#pb-chat [data-testid='bot']"
FINAL = ".pb-status-answered, .pb-status-partial, .pb-status-refused"
SEED = "Why were these five industries chosen?"
FOLLOW_UP = "What goals are set for them for 2030?"
UNANSWERABLE = "How many yuan has the province earmarked for the five clusters?"
NEW_DOC = (
    "Qingyuan Lantern Festival notice\n\n"
    "The Qingyuan Harbour Lantern Festival is held every year on the ninth of October at Beijiang Pier.\n\n"
    "The festival is organised by the Qingyuan Lantern Guild, which was founded in 1987.\n"
)
NEW_DOC_QUESTION = "When is the Qingyuan Harbour Lantern Festival held?"


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    reason = server_missing_reason()
    if reason:
        pytest.skip(reason)
    # the page's examples name the served corpus's subjects (the shipped defaults are general questions)
    examples = json.dumps([SEED, "What goals are set for 2030?"])
    with real_server(extra_env={"POLICYBOT_EXAMPLE_QUESTIONS": examples}) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as running:
        yield running


def open_page(browser: Browser, url: str) -> Any:
    page = browser.new_page()
    page.goto(url + "/")
    page.wait_for_selector("#pb-question textarea")
    return page


def ask(page: Any, question: str) -> dict[str, float | None]:
    """Type ``question``, press Enter, wait for the checked answer; return the seconds to first text and to it."""
    before = page.locator(BOT).count()
    box = page.locator("#pb-question textarea")
    box.fill(question)
    start = time.perf_counter()
    box.press("Enter")
    last = page.locator(BOT).nth(before)
    first_text = None
    # First streamed text: the draft, or the checked answer itself if the pipeline quoted evidence directly.
    last.locator(f".pb-draft, {FINAL}").first.wait_for()
    first_text = time.perf_counter() - start
    last.locator(FINAL).first.wait_for()
    return {"first_text_s": first_text, "final_s": time.perf_counter() - start}


def last_answer(page: Any) -> Any:
    return page.locator(BOT).last


@pytest.mark.slow
def test_seed_question_streams_then_shows_a_cited_answer_with_highlighted_sources(
    server: Server, browser: Browser
) -> None:
    page = open_page(browser, server.url)
    screenshot(page, "01-empty-page-with-examples")
    page.locator("#pb-chat button").filter(has_text=SEED).first.click()  # an example on the empty page
    answer = page.locator(BOT).last
    answer.locator(f".pb-progress, .pb-draft, {FINAL}").first.wait_for()
    screenshot(page, "02-progress")
    answer.locator(f".pb-draft, {FINAL}").first.wait_for()
    streamed = answer.locator(".pb-draft").count() == 1
    screenshot(page, "02-streaming-draft")
    answer.locator(FINAL).first.wait_for()
    screenshot(page, "03-answered-with-sources")
    assert streamed, "the draft should stream before the checked answer replaces it"
    assert answer.locator(".pb-status-answered, .pb-status-partial").count() == 1
    badge = answer.locator(".pb-badge").first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert badge not in ("rgba(0, 0, 0, 0)", "transparent"), "page CSS missing: mount with bot.serve.page.page.mount_page"
    assert answer.locator("a.pb-cite").count() >= 1
    sources = page.locator("#pb-sources")
    assert sources.locator(".pb-source").count() >= 1
    assert sources.locator(".pb-passage mark").count() >= 1
    assert "characters" in sources.locator(".pb-loc").first.inner_text()

    ask(page, FOLLOW_UP)
    screenshot(page, "04-follow-up")
    follow = last_answer(page)
    assert follow.locator(".pb-status-answered, .pb-status-partial").count() == 1
    assert follow.locator("a.pb-cite").count() >= 1
    assert "2030" in page.locator("#pb-sources .pb-source-list").first.inner_text()
    assert browser.blocked == []


@pytest.mark.slow
def test_unanswerable_question_is_refused_in_its_own_style(server: Server, browser: Browser) -> None:
    page = open_page(browser, server.url)
    ask(page, UNANSWERABLE)
    screenshot(page, "05-refused")
    answer = last_answer(page)
    assert answer.locator(".pb-status-refused").count() == 1
    assert answer.locator(".pb-badge-refused").is_visible()
    assert answer.locator(".pb-searched").inner_text().startswith("Searched 1 document for:")
    assert answer.inner_text().count("Searched") == 1, "what was searched is said once"
    assert answer.locator("a.pb-cite").count() == 0


@pytest.mark.slow
def test_uploaded_document_is_answerable_without_restart_and_can_be_removed(
    server: Server, browser: Browser, tmp_path: Path
) -> None:
    page = open_page(browser, server.url)
    page.locator("#pb-tab-documents-button, button[role='tab']:has-text('Documents')").first.click()
    page.locator("#pb-docs table").wait_for()
    upload = tmp_path / "qingyuan-lantern-festival.txt"
    upload.write_text(NEW_DOC, encoding="utf-8")
    page.locator("#pb-upload input[type='file']").set_input_files(str(upload))
    page.locator("#pb-upload-status .pb-ok").wait_for()
    assert "qingyuan-lantern-festival" in page.locator("#pb-docs").inner_text()
    screenshot(page, "06-document-uploaded")

    page.locator("button[role='tab']:has-text('Ask')").first.click()
    ask(page, NEW_DOC_QUESTION)
    screenshot(page, "07-answer-from-uploaded-document")
    assert last_answer(page).locator(".pb-status-answered, .pb-status-partial").count() == 1
    sources = page.locator("#pb-sources .pb-source-list").first.inner_text()
    assert "qingyuan-lantern-festival" in sources and "October" in sources

    page.locator("button[role='tab']:has-text('Documents')").first.click()
    page.locator("#pb-remove-choice input").click()
    page.get_by_role("option", name="qingyuan-lantern-festival", exact=False).first.click()
    page.locator("#pb-remove").click()
    page.locator("#pb-upload-status .pb-ok").filter(has_text="Removed").wait_for()
    assert "qingyuan-lantern-festival" not in page.locator("#pb-docs").inner_text()


ZH_DOC = ("广东省低空经济发展通知\n\n"
          "到2026年，广东省将建设20个低空经济示范区。\n\n"
          "示范区建设由广东省发展和改革委员会统筹推进。\n")
ZH_QUESTION = "广东省将建设多少个低空经济示范区？"
GLYPHS_DIFFER = """(el) => {
    // Two different Chinese characters drawn in the element's own font: without a CJK font both are the same
    // empty box (tofu), so their pixels are equal.
    const font = getComputedStyle(el).fontSize + ' ' + getComputedStyle(el).fontFamily;
    const draw = (ch) => {
        const canvas = document.createElement('canvas');
        canvas.width = 64; canvas.height = 64;
        const ctx = canvas.getContext('2d');
        ctx.font = font; ctx.fillStyle = '#000'; ctx.fillText(ch, 8, 40);
        return Array.from(ctx.getImageData(0, 0, 64, 64).data).join(',');
    };
    return draw('示') !== draw('范') && draw('区') !== draw('建');
}"""


@pytest.mark.slow
def test_a_chinese_question_and_answer_render_as_chinese_text(server: Server, browser: Browser, tmp_path: Path) -> None:
    page = open_page(browser, server.url)
    page.locator("button[role='tab']:has-text('Documents')").first.click()
    page.locator("#pb-docs table").wait_for()
    upload = tmp_path / "guangdong-low-altitude-economy.txt"
    upload.write_text(ZH_DOC, encoding="utf-8")
    page.locator("#pb-upload input[type='file']").set_input_files(str(upload))
    page.locator("#pb-upload-status .pb-ok").wait_for()
    try:
        page.locator("button[role='tab']:has-text('Ask')").first.click()
        ask(page, ZH_QUESTION)
        question = page.locator("#pb-chat .pb-question").last
        answer = last_answer(page)
        screenshot(page, "09-chinese-question-and-answer")
        assert question.inner_text().strip() == ZH_QUESTION
        assert answer.locator(".pb-status-answered, .pb-status-partial").count() == 1
        text = answer.locator(".pb-text").inner_text()
        assert "20" in text and "示范区" in text, text
        assert "低空经济示范区" in page.locator("#pb-sources .pb-source-list").first.inner_text()
        assert question.evaluate(GLYPHS_DIFFER), "the question's Chinese renders as boxes: no CJK font"
        assert answer.locator(".pb-text").evaluate(GLYPHS_DIFFER), "the answer's Chinese renders as boxes"
    finally:
        page.locator("button[role='tab']:has-text('Documents')").first.click()
        page.locator("#pb-remove-choice input").click()
        page.get_by_role("option", name="guangdong-low-altitude-economy", exact=False).first.click()
        page.locator("#pb-remove").click()
        page.locator("#pb-upload-status .pb-ok").filter(has_text="Removed").wait_for()


@pytest.mark.slow
def test_time_to_first_streamed_text_and_full_answer_median_of_5(
    server: Server, browser: Browser, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = []
    for _ in range(5):
        page = open_page(browser, server.url)  # a fresh conversation each run, so no follow-up rewriting
        runs.append(ask(page, SEED))
        page.close()
    first = statistics.median(r["first_text_s"] or 0.0 for r in runs)
    final = statistics.median(r["final_s"] or 0.0 for r in runs)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "browser-timings.json").write_text(
        json.dumps({"question": SEED, "runs": runs, "median_first_text_s": first, "median_final_s": final}, indent=2)
    )
    with capsys.disabled():
        print(f"\nbrowser timing over 5 runs of {SEED!r}: Enter -> first streamed text median {first:.2f} s, "
              f"Enter -> full answer median {final:.2f} s")
    assert 0 < first <= final


# --- the page over a fake pipeline: hostile markup must stay inert in a real browser -----------------

HOSTILE_PASSAGE = 'Budget <img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script> here.'
HOSTILE_ANSWER = "See ![x](http://evil.example/x.png) and [click](http://evil.example) <b onmouseover=alert(1)>b</b> [1]."


def hostile_app(tmp_path: Path) -> Any:
    from fastapi import FastAPI

    from bot.answer import AddResult, Answer, Citation, DocumentInfo, Final, Progress, Token
    from bot.serve.page.page import mount_page
    from bot.settings import Settings

    class HostileService:
        def stream(self, question: str, history: Any = None, scope: Any = None) -> Iterator[Any]:
            yield Progress("searching")
            for word in HOSTILE_ANSWER.split(" "):
                time.sleep(0.02)
                yield Token(word + " ")
            cite = Citation(n=1, doc_id="evil", title="<i>Evil</i> doc", path="evil.txt", text=HOSTILE_PASSAGE,
                            start=0, end=len(HOSTILE_PASSAGE), score=1.0, highlight=["Budget", "onerror"])
            yield Final(Answer(text=HOSTILE_ANSWER, citations=[cite], status="answered"))

        def answer(self, question: str, history: Any = None, scope: Any = None) -> Answer:
            raise NotImplementedError

    class Library:
        def documents(self) -> list[DocumentInfo]:
            return [DocumentInfo(doc_id="evil", title="<script>window.__pwned=3</script>", path="evil.txt",
                                 chunks=1, indexed_at="2025-01-01T00:00:00")]

        def add_files(self, paths: Any, progress: Any = None) -> AddResult:
            return AddResult()

        def remove(self, doc_id: str) -> bool:
            return False

    app = FastAPI()
    return mount_page(app, HostileService(), Library(), Settings(data_dir=tmp_path))


def test_hostile_document_and_model_markup_stays_inert_in_the_browser(browser: Browser, tmp_path: Path) -> None:
    with in_process_server(hostile_app(tmp_path)) as url:
        page = open_page(browser, url)
        ask(page, "<img src=y onerror=window.__pwned=4>")
        page.locator("button[role='tab']:has-text('Documents')").first.click()
        page.locator("#pb-docs table").wait_for()
        page.locator("button[role='tab']:has-text('Ask')").first.click()
        screenshot(page, "08-hostile-markup-inert")
        assert page.evaluate("window.__pwned") is None
        live = page.evaluate(
            """() => ({
                images: document.querySelectorAll('#pb-chat img, #pb-sources img, #pb-docs img').length,
                scripts: document.querySelectorAll('#pb-chat script, #pb-sources script, #pb-docs script').length,
                links: [...document.querySelectorAll('#pb-chat a, #pb-sources a')].map(a => a.getAttribute('href')),
                bold: document.querySelectorAll('#pb-chat b').length,
            })"""
        )
        assert live["images"] == 0 and live["scripts"] == 0 and live["bold"] == 0
        assert live["links"] and all(href.startswith("#pb-src-") for href in live["links"]), live["links"]
        assert last_answer(page).locator(".pb-badge-answered").is_visible()  # our own markup survives
        assert "<img src=x onerror" in page.locator("#pb-sources").inner_text()  # shown as text
        assert browser.blocked == [], f"the page tried to reach the internet: {browser.blocked}"


def test_the_api_docs_page_describes_the_routes_and_loads_nothing_from_the_internet(browser: Browser,
                                                                                     tmp_path: Path) -> None:
    from api_support import api_server

    with api_server(tmp_path) as api:
        page = browser.new_page()
        page.goto(api.url + "/docs")
        page.locator(".opblock").first.wait_for()
        page.wait_for_timeout(1000)  # anything the page would fetch after rendering
        screenshot(page, "10-api-docs")
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert {"/api/v1/ask", "/v1/chat/completions", "/api/v1/documents"} <= {p.replace("\u200b", "") for p in paths}
        assert browser.blocked == [], f"/docs tried to reach the internet: {browser.blocked}"
