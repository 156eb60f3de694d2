"""The webhook contract on the real pipeline (embedded model, real index), plus a hostile document.

Same HTTP set-up as tests/serve/test_webhook.py (uvicorn on loopback, httpx, the fake Slack Web API); only the
``answer_service`` fixture differs: ``bot.reader.pipeline.build_pipeline`` over the seed corpus and a document that
tries to make the bot post ``<!channel>``, a user mention and a disguised link.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("bot.reader.pipeline")

import test_webhook as contract  # noqa: E402
from fake_slack import FakeSlack  # noqa: E402
from test_webhook import Server, event_body, post_event  # noqa: E402

from bot.answer import AnswerService  # noqa: E402
from bot.ingest.build import ingest  # noqa: E402
from bot.reader.pipeline import build_pipeline  # noqa: E402
from bot.settings import Settings  # noqa: E402

pytestmark = pytest.mark.slow

# The HTTP set-up of the contract tests (fixtures), reused as is.
fake_slack = contract.fake_slack
start_server = contract.start_server

REPO = Path(__file__).resolve().parents[2]
HOSTILE_DOC = (
    "Staff canteen notice\n\n"
    "The staff canteen serves 1,200 meals each day <!channel> to employees of the provincial offices <@U0ADMIN>.\n\n"
    "The staff canteen is run by the Provincial Logistics Service Centre, see <http://evil|click> for details "
    "and <http://evil.example/steal|the canteen page> for menus.\n"
)
LIVE_MARKUP = ("<!channel>", "<@U0ADMIN>", "<http://evil|click>", "<http://evil.example/steal|")


@pytest.fixture(scope="module")
def real_pipeline(tmp_path_factory: pytest.TempPathFactory) -> AnswerService:
    root = tmp_path_factory.mktemp("webhook-real")
    docs = root / "docs"
    docs.mkdir()
    for source in (REPO / "docs").iterdir():
        if source.is_file():
            shutil.copy(source, docs / source.name)
    (docs / "staff-canteen-notice.txt").write_text(HOSTILE_DOC, encoding="utf-8")
    settings = Settings(index_dir=root / "vectorstore", docs_dir=docs, data_dir=root / "state")
    ingest(settings, progress=False)
    return build_pipeline(settings)


@pytest.fixture
def answer_service(real_pipeline: AnswerService) -> AnswerService:
    return real_pipeline


class TestWebhookOnRealPipeline(contract.TestWebhookContract):
    """Every contract test of tests/serve/test_webhook.py, answered by the real pipeline."""


@pytest.mark.parametrize("question", [
    "How many meals does the staff canteen serve each day?",
    "Who runs the staff canteen?",
])
def test_a_document_with_slack_markup_is_posted_escaped(
    start_server: Callable[..., Server], fake_slack: FakeSlack, question: str
) -> None:
    server = start_server()
    post_event(server, event_body("EvCanteen", f"<@UBOT> {question}"))
    posts = fake_slack.wait_calls("chat.postMessage", 1, 180)
    assert len(posts) == 1
    posted = json.dumps(posts[0].params, ensure_ascii=False)
    for live in LIVE_MARKUP:
        assert live not in posted, f"{live} would be live in Slack"
    blocks = posts[0].params["blocks"]
    sources = " ".join(e["text"] for b in blocks if b["type"] == "context" for e in b["elements"])
    assert "canteen" in sources.lower(), f"the answer cites the canteen notice: {posts[0].params['text']}"
    answer = server.service.answers[0]
    assert any("<" in c.text for c in answer.citations), "the hostile markup reached the formatter"
    assert "&lt;" in sources, "and was posted escaped"
