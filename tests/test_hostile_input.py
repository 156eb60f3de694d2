"""Hostile input: fuzzed questions, HTTP bodies and headers, and broken upload files never crash anything.

Also the limits and access rules: body size, question length, upload size and count, per-user rate limits,
the optional page password, CORS closed by default, loopback by default. The fast part runs the real pipeline,
index, webhook routes and page over hashing embeddings and a scripted model in an in-process uvicorn server.
``POLICYBOT_FUZZ_EXAMPLES`` raises the number of examples per fuzzer (``policybot bench --reliability``);
every fuzzer records how many inputs it tried in tests/output/reliability/fuzz_counts.json.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import json
import os
import socket
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_support import in_process_server
from fake_slack import FakeSlack
from fakes import HashEmbeddings, ScriptedModel
from fixtures_docs import make_pdf, seed_workspace_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.answer import Answer, Final
from bot.errors import UserInputError
from bot.ingest.build import ingest
from bot.reader.pipeline import Pipeline, build_pipeline
from bot.serve.app import create_app
from bot.serve.library import Library
from bot.serve.page.handlers import ChatHandler, DocumentsHandler
from bot.settings import Settings

REPO = Path(__file__).resolve().parent.parent
COUNTS = REPO / "tests" / "output" / "reliability" / "fuzz_counts.json"
FUZZ = int(os.environ.get("POLICYBOT_FUZZ_EXAMPLES", "60"))
SECRET, HOOK_TOKEN, PASSWORD = "fuzz-signing-secret", "fuzz-hook-token", "fuzz-page-password"
SEED_QUESTION = "Which five future industry clusters will Guangdong develop?"
fuzz = settings(max_examples=FUZZ, suppress_health_check=list(HealthCheck), deadline=None)
tried: dict[str, int] = {}
SKIP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "upgrade", "expect"}


def count(surface: str, n: int = 1) -> None:
    tried[surface] = tried.get(surface, 0) + n


@pytest.fixture(scope="module", autouse=True)
def _write_counts() -> Iterator[None]:
    yield
    COUNTS.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(COUNTS.read_text()) if COUNTS.is_file() else {}
    old.update(tried)
    COUNTS.write_text(json.dumps(old, indent=1, sort_keys=True))
    print("\ninputs tried per surface:", json.dumps(tried, sort_keys=True))


def workspace(root: Path, **overrides: Any) -> Settings:
    return seed_workspace_settings(root, **overrides)


def fast_pipeline(settings: Settings) -> Pipeline:
    emb = HashEmbeddings()
    ingest(settings, progress=False, embeddings=emb)
    return build_pipeline(settings, model=ScriptedModel(), embeddings=emb)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    return fast_pipeline(workspace(tmp_path_factory.mktemp("hostile")))


# --- questions into Pipeline.stream ------------------------------------------------------------------------
def ask_or_reject(pipeline: Pipeline, question: str, history: list[Any] | None = None) -> Answer | None:
    """The only two outcomes allowed: an Answer, or UserInputError with a message."""
    try:
        events = list(pipeline.stream(question, history))
    except UserInputError as error:
        assert str(error).strip()
        return None
    finals = [e for e in events if isinstance(e, Final)]
    assert len(finals) == 1
    assert finals[0].answer.status in ("answered", "partial", "refused")
    return finals[0].answer


@fuzz
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=3000))
def test_any_question_gets_an_answer_or_a_clear_rejection(pipeline: Pipeline, question: str) -> None:
    count("questions (Hypothesis)")
    ask_or_reject(pipeline, question)


@fuzz
@given(st.lists(st.tuples(st.sampled_from(["user", "assistant"]), st.text(max_size=500)), max_size=6),
       st.text(min_size=1, max_size=200))
def test_any_conversation_history_is_survived(pipeline: Pipeline, turns: list[tuple[str, str]], question: str) -> None:
    from bot.answer import Turn

    count("follow-up histories (Hypothesis)")
    ask_or_reject(pipeline, question, [Turn(role, text) for role, text in turns])


@pytest.mark.parametrize("question", [
    "", " \t\n ", "\x00" * 1000, "a" * 1_000_000, "字" * 1_000_000, "\u202e\u2066" * 5000,
    "Why? " * 399, "%s%n{0}{question}" * 10, "\ud7ff\ue000\U0010ffff", "<script>" * 200,
], ids=["empty", "blank", "nul", "1MB-ascii", "1MB-cjk", "bidi", "near-limit", "format", "edge-codepoints",
        "markup"])
def test_extreme_questions_are_answered_or_rejected(pipeline: Pipeline, question: str) -> None:
    count("questions (edge cases)")
    started = time.perf_counter()
    answer = ask_or_reject(pipeline, question)
    assert time.perf_counter() - started < 30
    if len(question) > pipeline.settings.max_question_chars:
        assert answer is None, "over the limit: rejected, never answered"


# --- HTTP: webhook routes and /healthz on the real app ---------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, FakeSlack, Pipeline]]:
    slack = FakeSlack().start()
    settings = workspace(tmp_path_factory.mktemp("http"), slack_signing_secret=SECRET, slack_bot_token=slack.token,
                         slack_api_url=slack.api_url, webhook_token=HOOK_TOKEN, max_body_kb=64,
                         rate_limit_per_minute=1000, webhook_retry_base_s=0.01, webhook_inline_timeout_s=5)
    pipe = fast_pipeline(settings)
    with in_process_server(create_app(settings, pipe)) as url:
        yield url, slack, pipe
    slack.stop()


def signed(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    mac = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={mac}"}


def post(url: str, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    response = httpx.post(url + path, content=body, headers=headers, timeout=60)
    assert response.status_code < 500, f"{path} -> {response.status_code}: {response.text[:300]}"
    return response


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                    max_size=4), max_leaves=12)
event_bodies = st.fixed_dictionaries({
    "type": st.sampled_from(["event_callback", "url_verification", "app_rate_limited", "", "x"]),
    "event_id": st.text(max_size=20), "team_id": st.text(max_size=8), "challenge": json_values,
    "event": st.one_of(json_values, st.fixed_dictionaries({
        "type": st.sampled_from(["app_mention", "message", "reaction_added"]), "channel": st.text(max_size=10),
        "ts": st.text(max_size=12), "text": st.text(max_size=300), "user": st.text(max_size=10),
        "thread_ts": st.one_of(st.none(), st.text(max_size=12)), "bot_id": st.one_of(st.none(), st.text(max_size=4)),
        "subtype": st.one_of(st.none(), st.sampled_from(["bot_message", "message_changed"]))})),
})


@fuzz
@given(st.binary(max_size=2000), st.dictionaries(
    st.sampled_from(["X-Slack-Request-Timestamp", "X-Slack-Signature", "Content-Type", "X-Slack-Retry-Num"]),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80).map(str.strip)))
def test_forged_or_garbled_slack_requests_are_rejected_not_crashed(
    server: tuple[str, FakeSlack, Pipeline], body: bytes, headers: dict[str, str]
) -> None:
    url, _, _ = server
    for path in ("/slack/events", "/slack/commands"):
        count("slack routes, forged (Hypothesis)")
        assert post(url, path, body, headers).status_code in (400, 401, 413)


@fuzz
@given(st.one_of(event_bodies.map(lambda d: json.dumps(d).encode()), st.binary(max_size=500)),
       st.one_of(st.none(), st.integers(min_value=0, max_value=2_000_000_000)))
def test_signed_slack_events_of_any_shape_get_a_4xx_or_an_ack(
    server: tuple[str, FakeSlack, Pipeline], body: bytes, timestamp: int | None
) -> None:
    url, _, _ = server
    count("slack events, signed (Hypothesis)")
    response = post(url, "/slack/events", body, signed(body, timestamp=timestamp))
    if timestamp is not None and abs(time.time() - timestamp) > 300:
        assert response.status_code == 401, "a stale timestamp is rejected"


@fuzz
@given(st.dictionaries(st.sampled_from(["text", "command", "response_url", "user_id", "team_id", "channel_id",
                                        "trigger_id"]), st.text(max_size=200), max_size=7))
def test_signed_slash_commands_of_any_shape_are_handled(server: tuple[str, FakeSlack, Pipeline],
                                                        form: dict[str, str]) -> None:
    url, slack, _ = server
    if form.get("response_url", "").startswith("http"):
        form["response_url"] = slack.response_url()  # never let the fuzzer make the server call outside loopback
    count("slash commands, signed (Hypothesis)")
    body = httpx.QueryParams(form).__str__().encode()
    post(url, "/slack/commands", body, {**signed(body), "Content-Type": "application/x-www-form-urlencoded"})


@fuzz
@given(st.one_of(st.dictionaries(st.sampled_from(["token", "text", "user_name", "user_id", "channel_name",
                                                  "trigger_word", "team_id"]), json_values, max_size=7),
                 json_values),
       st.booleans(), st.booleans())
def test_generic_webhook_bodies_of_any_shape_are_handled(server: tuple[str, FakeSlack, Pipeline], data: Any,
                                                         as_json: bool, good_token: bool) -> None:
    url, _, _ = server
    if isinstance(data, dict) and good_token:
        data["token"] = HOOK_TOKEN
        data["text"] = str(data.get("text", ""))[:200]
    count("generic webhook (Hypothesis)")
    if as_json:
        body, kind = json.dumps(data).encode(), "application/json"
    else:
        pairs = data.items() if isinstance(data, dict) else [("text", data)]
        body, kind = httpx.QueryParams({str(k): str(v) for k, v in pairs}).__str__().encode(), "application/x-www-form-urlencoded"
    response = post(url, "/webhook", body, {"Content-Type": kind})
    if not (isinstance(data, dict) and good_token):
        assert response.status_code in (400, 401)


@fuzz
@given(st.dictionaries(st.from_regex(r"\A[A-Za-z0-9-]{1,20}\Z").filter(lambda h: h.lower() not in SKIP_HEADERS),
                       st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=100).map(str.strip),
                       max_size=5),
       st.text(max_size=50))
def test_healthz_answers_whatever_the_headers_and_query(server: tuple[str, FakeSlack, Pipeline],
                                                        headers: dict[str, str], query: str) -> None:
    url, _, _ = server
    count("/healthz (Hypothesis)")
    response = httpx.get(f"{url}/healthz", params={"q": query}, headers=headers, timeout=30)
    assert response.status_code == 200 and response.json()["ok"] is True


def test_huge_bodies_are_refused_with_413_before_parsing(server: tuple[str, FakeSlack, Pipeline]) -> None:
    url, _, _ = server
    body = b"{" * (5 * 1024 * 1024)
    for path in ("/slack/events", "/slack/commands", "/webhook"):
        count("oversized bodies")
        assert post(url, path, body, {"Content-Type": "application/json"}).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds on the streamed body too
        for _ in range(100):
            yield b"x" * 65536

    count("oversized bodies")
    response = httpx.post(f"{url}/webhook", content=chunks(), timeout=60)
    assert response.status_code == 413


def test_malformed_http_is_refused_and_the_server_keeps_answering(server: tuple[str, FakeSlack, Pipeline]) -> None:
    url, _, _ = server
    host, port = url.removeprefix("http://").split(":")
    for raw in (b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
                b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Long: " + b"a" * 70000 + b"\r\n\r\n",
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(200),
                b"POST /slack/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"):
        count("malformed HTTP")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(raw)
            with contextlib.suppress(OSError):
                reply = sock.recv(200)
                assert not reply.startswith(b"HTTP/1.1 5"), reply
    ok = httpx.post(f"{url}/webhook", json={"token": HOOK_TOKEN, "text": SEED_QUESTION, "user_name": "after"},
                    timeout=60)
    assert ok.status_code == 200 and ok.json().get("attachments"), "answered, with sources"


# --- uploads through the library ----------------------------------------------------------------------------
def zip_bomb_docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as part:
            part.write(b"<w:document><w:body>")
            for _ in range(64):
                part.write(b" " * (1024 * 1024))
            part.write(b"</w:body></w:document>")
    return buffer.getvalue()


BAD_FILES: dict[str, bytes] = {
    "truncated.pdf": make_pdf(["A truncated report."])[:180],
    "zip-bomb.docx": b"",  # filled lazily (64 MB of spaces, ~70 KB compressed)
    "not-a-zip.docx": b"PK\x03\x04 this is not really a zip archive",
    "empty.txt": b"",
    "binary.txt": os.urandom(4096),
    "nested.html": b"<div>" * 100_000 + b"deep text" + b"</div>" * 100_000,
    "program.exe": b"MZ\x90\x00",
    "no-suffix": b"plain text without a suffix",
    "pdf-in-disguise.pdf": b"Just text pretending to be a PDF.",
}


READABLE = {"nested.html"}  # 100,000 nested <div>s around one line of text: read without recursion, not refused


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Library:
    return Library(fast_pipeline(workspace(tmp_path_factory.mktemp("uploads"), max_upload_mb=5)))


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_a_broken_upload_fails_with_a_reason_and_the_index_still_answers(library: Library, tmp_path: Path,
                                                                          name: str) -> None:
    count("upload files")
    path = tmp_path / name
    path.write_bytes(zip_bomb_docx() if name == "zip-bomb.docx" else BAD_FILES[name])
    before = {d.doc_id for d in library.documents()}
    result = library.add_files([path])
    if name in READABLE:
        assert result.added == [path.stem] and library.remove(path.stem), "readable, so added (and removed again)"
        result.failed[name] = "(readable: added and removed)"
    assert result.added in ([], [path.stem] if name in READABLE else []), f"{name} must not be added"
    reason = " ".join(result.failed.values())
    assert len(result.failed) == 1 and len(reason) > 10, result
    assert {d.doc_id for d in library.documents()} == before
    assert not (Path(library.settings.docs_dir) / name).exists(), "a file that cannot be read is not kept"
    answer = library.pipeline.answer(SEED_QUESTION)
    assert answer.status != "refused" and answer.citations


def test_an_upload_name_cannot_escape_the_docs_folder(library: Library, tmp_path: Path) -> None:
    count("upload files")
    evil = tmp_path / "..%2f..%2fescape.txt"
    evil.write_text("Escape notice\n\nThe escape test document says the ferry leaves at noon.\n", encoding="utf-8")
    result = library.add_files([evil])
    docs = Path(library.settings.docs_dir).resolve()
    assert result.added and all((docs / f).resolve().parent == docs for f in os.listdir(docs))
    assert library.remove(result.added[0])


def test_upload_size_and_count_limits_are_enforced_server_side(library: Library, tmp_path: Path) -> None:
    handler = DocumentsHandler(library, library.settings)
    big = tmp_path / "big.txt"
    big.write_bytes(b"word " * (2 * 1024 * 1024))  # 10 MB > max_upload_mb=5
    count("upload files")
    assert "limit" in handler.upload([str(big)])
    many = []
    for i in range(library.settings.max_upload_files + 1):
        many.append(tmp_path / f"note{i}.txt")
        many[-1].write_text(f"Note {i}.", encoding="utf-8")
    count("upload files")
    assert f"at most {library.settings.max_upload_files}" in handler.upload([str(p) for p in many])


# --- limits and access ------------------------------------------------------------------------------------
def test_question_length_is_limited_on_every_edge(pipeline: Pipeline, server: tuple[str, FakeSlack, Pipeline]) -> None:
    limit = pipeline.settings.max_question_chars
    with pytest.raises(UserInputError, match=str(limit)):
        list(pipeline.stream("x" * (limit + 1)))
    chat = ChatHandler(pipeline, pipeline.settings, feedback=None)
    last = list(chat.respond("x" * (limit + 1), []))[-1]
    assert str(limit) in last.messages[-1]["content"]
    url, _, _ = server
    reply = httpx.post(f"{url}/webhook", json={"token": HOOK_TOKEN, "text": "x" * (limit + 1), "user_name": "long"},
                       timeout=60)
    assert reply.status_code == 200 and str(limit) in reply.json()["text"]


def test_a_flooding_user_is_rate_limited_on_page_and_webhook(tmp_path: Path, pipeline: Pipeline) -> None:
    from bot.serve.limits import RateLimiter

    chat = ChatHandler(pipeline, pipeline.settings, RateLimiter(2), feedback=None)
    replies = [list(chat.respond(SEED_QUESTION, [], "ip:1.2.3.4"))[-1].messages[-1]["content"] for _ in range(3)]
    assert "questions in a minute" in replies[2] and "questions in a minute" not in replies[0]
    settings = workspace(tmp_path, webhook_token=HOOK_TOKEN, rate_limit_per_minute=2, data_dir=tmp_path / "d")
    with in_process_server(create_app(settings, pipeline)) as url:
        codes = [httpx.post(f"{url}/webhook", json={"token": HOOK_TOKEN, "text": SEED_QUESTION, "user_id": "U1"},
                            timeout=60) for _ in range(3)]
    assert [c.status_code for c in codes] == [200, 200, 429] and codes[2].headers["Retry-After"]


def test_the_page_password_protects_the_page_api_and_uploads(tmp_path: Path, pipeline: Pipeline) -> None:
    settings = workspace(tmp_path, page_password=PASSWORD, data_dir=tmp_path / "d")
    with in_process_server(create_app(settings, pipeline)) as url, httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/config").status_code == 401
        assert client.post("/gradio_api/upload", files={"files": ("a.txt", b"x")}).status_code == 401
        assert client.post("/gradio_api/queue/join", json={"data": [], "fn_index": 0,
                                                           "session_hash": "x"}).status_code == 401
        assert client.post("/login", data={"username": "a", "password": "wrong"}).status_code >= 400
        assert client.post("/login", data={"username": "a", "password": PASSWORD}).status_code == 200
        assert client.get("/config").status_code == 200
        assert client.get("/healthz").status_code == 200, "the health check stays open for monitors"


def test_cors_is_closed_to_other_origins(server: tuple[str, FakeSlack, Pipeline]) -> None:
    url, _, _ = server
    origin = {"Origin": "http://evil.example"}
    for method, path in (("GET", "/healthz"), ("GET", "/"), ("GET", "/config"), ("POST", "/webhook"),
                         ("OPTIONS", "/webhook"), ("OPTIONS", "/gradio_api/queue/join")):
        headers = {**origin, "Access-Control-Request-Method": "POST"} if method == "OPTIONS" else origin
        response = httpx.request(method, url + path, headers=headers, timeout=30)
        assert "access-control-allow-origin" not in response.headers, (method, path, dict(response.headers))


def test_the_server_binds_to_loopback_unless_told_otherwise() -> None:
    from bot.cli import parser, settings_from_args

    assert Settings().host == "127.0.0.1"
    assert settings_from_args(parser().parse_args(["serve"])).host == "127.0.0.1"
