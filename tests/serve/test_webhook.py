"""The chat routes over real HTTP: uvicorn on a loopback port, httpx as the client, a fake Slack Web API.

``TestWebhookContract`` holds the behaviour every answer service must show through the webhook (it uses the
``answer_service`` fixture; tests/serve/test_webhook_real.py runs the same class on the real pipeline). The functions
below it need a scripted fake (escaping, slow answers, failures).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_slack import FakeSlack, free_port, serve_app
from fastapi import FastAPI
from slack_sdk.signature import SignatureVerifier

from bot.answer import Answer, AnswerService, Citation, Event, Final, Scope, Turn
from bot.errors import BusyError
from bot.serve.chat.routes import WebhookRouter, build_webhook_router
from bot.serve.dedup import DB_NAME, EventStore
from bot.settings import Settings

SECRET = "test-signing-secret-8f3a"
TOKEN = "xoxb-test-token"
HOOK_TOKEN = "mm-outgoing-token-77"
QUESTION = "Which five future industry clusters will Guangdong develop?"
WAIT = 120.0  # the real pipeline may take a while per answer; fakes answer at once


# --- services -------------------------------------------------------------------------------------------
def cited(text: str = "Guangdong plans five future industry clusters [1].", passage: str = "five future industry clusters",
          status: str = "answered") -> Answer:
    citation = Citation(n=1, doc_id="guangdong", title="Guangdong future industries", path="guangdong.txt",
                        text=passage, start=10, end=10 + len(passage), score=0.9, paragraph=4)
    return Answer(text=text, citations=[citation] if status != "refused" else [], status=status)  # type: ignore[arg-type]


class FakeService:
    """Answers with a scripted Answer (or raises), optionally after a delay."""

    def __init__(self, answer: Answer | None = None, delay_s: float = 0.0, error: Exception | None = None) -> None:
        self.reply = answer or cited()
        self.delay_s = delay_s
        self.error = error

    def answer(self, question: str, history: list[Turn] | None = None, scope: Scope | None = None) -> Answer:
        time.sleep(self.delay_s)
        if self.error:
            raise self.error
        return self.reply.model_copy(update={"question": question})

    def stream(self, question: str, history: list[Turn] | None = None, scope: Scope | None = None) -> Iterator[Event]:
        yield Final(self.answer(question, history, scope))


@dataclass
class Recording:
    """Wraps any AnswerService and records what it was asked."""

    inner: AnswerService
    calls: list[tuple[str, list[Turn]]] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)

    def answer(self, question: str, history: list[Turn] | None = None, scope: Scope | None = None) -> Answer:
        self.calls.append((question, list(history or [])))
        answer = self.inner.answer(question, history, scope)
        self.answers.append(answer)
        return answer

    def stream(self, question: str, history: list[Turn] | None = None, scope: Scope | None = None) -> Iterator[Event]:
        yield Final(self.answer(question, history, scope))


@pytest.fixture
def answer_service() -> AnswerService:
    return FakeService()


# --- the server under test -------------------------------------------------------------------------------
@dataclass
class Server:
    url: str
    router: WebhookRouter
    service: Recording
    settings: Settings
    client: httpx.Client

    def drain(self, timeout: float = WAIT) -> bool:
        return asyncio.run(self.router.state.drain(timeout))


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack(token=TOKEN).start()
    yield fake
    fake.stop()


@pytest.fixture
def start_server(tmp_path: Path, fake_slack: FakeSlack, answer_service: AnswerService) -> Iterator[Callable[..., Server]]:
    stack = ExitStack()

    def start(service: AnswerService | None = None, **overrides: Any) -> Server:
        values: dict[str, Any] = {
            "slack_signing_secret": SECRET, "slack_bot_token": TOKEN, "slack_api_url": fake_slack.api_url,
            "webhook_token": HOOK_TOKEN, "data_dir": tmp_path / "state", "webhook_retry_base_s": 0.01,
            "max_body_kb": 16, "rate_limit_per_minute": 20,
        }
        values.update(overrides)
        settings = Settings(**values)
        recording = Recording(service or answer_service)
        router = build_webhook_router(recording, settings)
        app = FastAPI()
        app.include_router(router)
        url = stack.enter_context(serve_app(app))
        client = stack.enter_context(httpx.Client(base_url=url, timeout=30))
        stack.callback(router.state.close)
        stack.callback(lambda: asyncio.run(router.state.drain(WAIT)))
        return Server(url, router, recording, settings, client)

    yield start
    stack.close()


# --- requests --------------------------------------------------------------------------------------------
def signed(body: bytes, *, secret: str = SECRET, timestamp: int | None = None, **extra: str) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature: str | None
    try:
        signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body.decode())
    except UnicodeDecodeError:  # slack_sdk only signs text; Slack's algorithm itself works on bytes
        mac = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
        signature = "v0=" + mac.hexdigest()
    assert signature
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature, **extra}


def event_body(event_id: str = "Ev1", text: str = f"<@UBOT> {QUESTION}", *, kind: str = "app_mention",
               channel: str = "C1", ts: str = "1700000100.000200", thread_ts: str | None = None, user: str = "U1",
               team: str = "T1", **event_extra: Any) -> bytes:
    event: dict[str, Any] = {"type": kind, "channel": channel, "ts": ts, "text": text, "user": user, **event_extra}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return json.dumps({"type": "event_callback", "event_id": event_id, "team_id": team, "event": event}).encode()


def post_event(server: Server, body: bytes, **headers: str) -> httpx.Response:
    return server.client.post("/slack/events", content=body,
                              headers={"Content-Type": "application/json", **signed(body), **headers})


def command_body(text: str = QUESTION, response_url: str = "", user: str = "U1") -> bytes:
    form = {"command": "/policy", "text": text, "response_url": response_url, "user_id": user, "team_id": "T1",
            "channel_id": "C1", "trigger_id": "1.2.3"}
    return httpx.QueryParams(form).__str__().encode()


def section_texts(message: dict[str, Any]) -> str:
    blocks = message.get("blocks") or []
    parts = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    parts += [e["text"] for b in blocks if b["type"] == "context" for e in b["elements"]]
    return "\n".join(parts)


# --- behaviour any answer service must show ---------------------------------------------------------------
class TestWebhookContract:
    def test_url_verification_echoes_the_challenge(self, start_server: Callable[..., Server]) -> None:
        server = start_server()
        body = json.dumps({"type": "url_verification", "challenge": "abc123"}).encode()
        response = post_event(server, body)
        assert response.status_code == 200 and response.json() == {"challenge": "abc123"}

    def test_mention_is_acked_at_once_and_answered_in_its_thread_with_sources(
        self, start_server: Callable[..., Server], fake_slack: FakeSlack
    ) -> None:
        server = start_server()
        started = time.monotonic()
        response = post_event(server, event_body())
        assert response.status_code == 200 and time.monotonic() - started < 3
        posts = fake_slack.wait_calls("chat.postMessage", 1, WAIT)
        assert len(posts) == 1
        params = posts[0].params
        assert params["channel"] == "C1" and params["thread_ts"] == "1700000100.000200"
        assert params["text"].strip()
        assert any(b["type"] == "context" for b in params["blocks"]), "sources are listed"
        assert "[1]" in section_texts(params)
        assert server.service.calls[0][0] == QUESTION, "the <@BOT> mention is stripped"

    def test_direct_message_is_answered_in_a_thread(self, start_server: Callable[..., Server], fake_slack: FakeSlack) -> None:
        server = start_server()
        post_event(server, event_body("EvDM", QUESTION, kind="message", channel="D1", channel_type="im"))
        posts = fake_slack.wait_calls("chat.postMessage", 1, WAIT)
        assert posts[0].params["channel"] == "D1" and posts[0].params["thread_ts"] == "1700000100.000200"

    def test_follow_up_in_a_thread_passes_the_earlier_turns_as_history(
        self, start_server: Callable[..., Server], fake_slack: FakeSlack
    ) -> None:
        server = start_server()
        parent = "1700000001.000100"
        fake_slack.add_message("C1", parent, {"type": "message", "user": "U1", "ts": parent, "text": f"<@UBOT> {QUESTION}"})
        fake_slack.add_message("C1", parent, {"type": "message", "user": "UBOT", "bot_id": "BBOT",
                                              "ts": "1700000002.000100", "text": "Five clusters &amp; more [1]."})
        post_event(server, event_body("EvFollow", "<@UBOT> Which department explained them?",
                                      ts="1700000003.000100", thread_ts=parent))
        posts = fake_slack.wait_calls("chat.postMessage", 1, WAIT)
        assert posts[-1].params["thread_ts"] == parent
        question, history = server.service.calls[0]
        assert question == "Which department explained them?"
        assert history == [Turn("user", QUESTION), Turn("assistant", "Five clusters & more [1].")]

    def test_the_same_event_delivered_four_times_is_answered_once(
        self, start_server: Callable[..., Server], fake_slack: FakeSlack
    ) -> None:
        server = start_server()
        body = event_body("EvRetry")
        statuses = [post_event(server, body).status_code]
        statuses += [post_event(server, body, **{"X-Slack-Retry-Num": str(n), "X-Slack-Retry-Reason": "http_timeout"}).status_code
                     for n in (1, 2, 3)]
        assert statuses == [200] * 4
        assert server.drain()
        assert len(fake_slack.ok_calls("chat.postMessage")) == 1
        assert len(server.service.calls) == 1

    @pytest.mark.parametrize("case", ["missing", "forged", "wrong-secret", "stale", "future", "tampered-body"])
    @pytest.mark.parametrize("path", ["/slack/events", "/slack/commands"])
    def test_bad_signatures_get_401_and_never_reach_the_service(
        self, start_server: Callable[..., Server], fake_slack: FakeSlack, case: str, path: str
    ) -> None:
        server = start_server()
        body = event_body() if path == "/slack/events" else command_body(response_url=fake_slack.response_url())
        headers = {
            "missing": {},
            "forged": {**signed(body), "X-Slack-Signature": "v0=" + "0" * 64},
            "wrong-secret": signed(body, secret="not-the-secret"),
            "stale": signed(body, timestamp=int(time.time()) - 6 * 60),
            "future": signed(body, timestamp=int(time.time()) + 6 * 60),
            "tampered-body": signed(body),
        }[case]
        sent = body.replace(b"U1", b"U2") if case == "tampered-body" else body
        response = server.client.post(path, content=sent, headers=headers)
        assert response.status_code == 401
        assert server.drain()
        assert server.service.calls == []
        assert fake_slack.calls == []

    def test_slash_command_acks_at_once_then_posts_the_answer_to_response_url(
        self, start_server: Callable[..., Server], fake_slack: FakeSlack
    ) -> None:
        server = start_server()
        body = command_body(response_url=fake_slack.response_url("cmd1"))
        response = server.client.post("/slack/commands", content=body,
                                      headers={"Content-Type": "application/x-www-form-urlencoded", **signed(body)})
        assert response.status_code == 200
        assert response.json() == {"response_type": "ephemeral", "text": f"Looking that up: {QUESTION}"}
        delivered = fake_slack.wait_calls("response/cmd1", 1, WAIT)
        assert len(delivered) == 1
        payload = delivered[0].params
        assert payload["response_type"] == "ephemeral" and payload["text"].strip() and payload["blocks"]

    @pytest.mark.parametrize("encoding", ["form", "json"])
    def test_mattermost_outgoing_webhook_gets_an_answer(
        self, start_server: Callable[..., Server], fake_slack: FakeSlack, encoding: str
    ) -> None:
        server = start_server(webhook_reply_url=fake_slack.hook_url("mm"))
        fields = {"token": HOOK_TOKEN, "text": f"policybot {QUESTION}", "trigger_word": "policybot",
                  "user_name": "alice", "user_id": "u-alice", "channel_name": "town-square", "team_id": "t1"}
        if encoding == "json":
            response = server.client.post("/webhook", json=fields)
        else:
            response = server.client.post("/webhook", data=fields)
        assert response.status_code == 200
        reply = response.json()
        assert reply["response_type"] == "comment"
        if reply["text"].startswith("Looking that up"):  # slower than the inline budget: answer follows
            reply = fake_slack.wait_calls("hooks/mm", 1, WAIT)[0].params
        assert reply["text"].strip() and "Looking that up" not in reply["text"]
        assert server.service.calls[0][0] == QUESTION, "the trigger word is stripped"

    def test_generic_webhook_with_a_wrong_or_missing_token_gets_401(self, start_server: Callable[..., Server]) -> None:
        server = start_server()
        for fields in ({"token": "guess", "text": QUESTION}, {"text": QUESTION}):
            assert server.client.post("/webhook", data=fields).status_code == 401
        assert server.client.post("/webhook", json={"token": ["list"], "text": QUESTION}).status_code == 401
        assert server.service.calls == []

    def test_restart_does_not_answer_a_done_event_again(
        self, start_server: Callable[..., Server], fake_slack: FakeSlack
    ) -> None:
        first = start_server()
        body = event_body("EvRestart")
        post_event(first, body)
        assert first.drain() and len(fake_slack.ok_calls("chat.postMessage")) == 1
        second = start_server()  # a new router on the same sqlite file, as after a restart
        assert post_event(second, body, **{"X-Slack-Retry-Num": "1"}).status_code == 200
        assert second.drain()
        assert len(fake_slack.ok_calls("chat.postMessage")) == 1
        assert second.service.calls == []


# --- behaviour that needs a scripted service ----------------------------------------------------------------
def test_document_and_model_markup_is_posted_escaped(start_server: Callable[..., Server], fake_slack: FakeSlack) -> None:
    hostile = cited(text="Budget is <!channel> see <http://evil|click> and <@U123> & more [1].",
                    passage="Attention <!channel>: <http://evil|click> <@U999>")
    server = start_server(FakeService(hostile))
    post_event(server, event_body("EvEvil"))
    posted = fake_slack.wait_calls("chat.postMessage", 1)[0].params
    everything = posted["text"] + section_texts(posted)
    for live in ("<!channel>", "<http://evil|click>", "<@U123>", "<@U999>"):
        assert live not in everything
    assert "&lt;!channel&gt;" in section_texts(posted) and "&lt;http://evil|click&gt;" in section_texts(posted)
    assert posted["link_names"] in (False, 0, "0", "false")


def test_refusals_say_plainly_that_the_documents_do_not_cover_it(
    start_server: Callable[..., Server], fake_slack: FakeSlack
) -> None:
    server = start_server(FakeService(cited(text="The documents do not say.", status="refused")))
    post_event(server, event_body("EvRefuse"))
    posted = fake_slack.wait_calls("chat.postMessage", 1)[0].params
    assert "do not cover" in section_texts(posted)
    assert not any(b["type"] == "divider" for b in posted["blocks"])


def test_unknown_payloads_and_event_types_are_acked_and_ignored(
    start_server: Callable[..., Server], fake_slack: FakeSlack
) -> None:
    server = start_server()
    bodies = [
        json.dumps({"type": "app_rate_limited"}).encode(),
        event_body("EvReaction", kind="reaction_added"),
        event_body("EvChannelMsg", QUESTION, kind="message", channel_type="channel"),
        event_body("EvBot", kind="app_mention", bot_id="B2"),
        event_body("EvBotSubtype", QUESTION, kind="message", channel_type="im", subtype="bot_message"),
        event_body("EvEdit", QUESTION, kind="message", channel_type="im", subtype="message_changed"),
    ]
    for body in bodies:
        response = post_event(server, body)
        assert response.status_code == 200 and "ignored" in response.json()
    assert server.drain() and server.service.calls == []


def test_our_own_messages_are_ignored(start_server: Callable[..., Server], fake_slack: FakeSlack) -> None:
    server = start_server()
    post_event(server, event_body("EvOwn", QUESTION, kind="message", channel_type="im", user="UBOT", channel="D1"))
    assert server.drain()
    assert server.service.calls == [] and fake_slack.ok_calls("chat.postMessage") == []


def test_channels_and_teams_outside_the_allow_lists_are_ignored(
    start_server: Callable[..., Server], fake_slack: FakeSlack
) -> None:
    server = start_server(allowed_channels=["C1"], allowed_teams=["T1"])
    post_event(server, event_body("EvOtherChannel", channel="C9"))
    post_event(server, event_body("EvOtherTeam", team="T9"))
    post_event(server, event_body("EvAllowed"))
    assert server.drain()
    assert len(server.service.calls) == 1


def test_oversized_bodies_get_413_declared_or_streamed(start_server: Callable[..., Server]) -> None:
    server = start_server(max_body_kb=4)
    big = b'{"type": "url_verification", "challenge": "' + b"x" * 8000 + b'"}'
    assert post_event(server, big).status_code == 413
    assert server.client.post("/webhook", content=iter([big[:3000], big[3000:]]),
                              headers={"Content-Type": "application/json"}).status_code == 413
    assert server.service.calls == []


def test_malformed_bodies_get_400_with_a_reason(start_server: Callable[..., Server]) -> None:
    server = start_server()
    broken = b'{"type": "event_callback", "event": '
    response = post_event(server, broken)
    assert response.status_code == 400 and "malformed JSON" in response.json()["detail"]
    response = server.client.post("/webhook", content=b'{"token": ', headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and "malformed JSON" in response.json()["detail"]
    response = server.client.post("/webhook", content=b"token&&=x=y=z\xff",
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400 and "malformed form" in response.json()["detail"]
    for body in (b"[1, 2]", b"[" * 10_000, b"\xff\xfe{}"):
        assert post_event(server, body).status_code == 400


def test_a_flooding_user_gets_429_on_the_generic_webhook(start_server: Callable[..., Server]) -> None:
    server = start_server(rate_limit_per_minute=3)
    fields = {"token": HOOK_TOKEN, "text": QUESTION, "user_name": "mallory", "user_id": "u-m"}
    codes = [server.client.post("/webhook", data=fields).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    other = server.client.post("/webhook", data={**fields, "user_id": "u-other"})
    assert other.status_code == 200
    assert len(server.service.calls) == 4


def test_a_flooding_slack_user_is_told_once_in_the_thread(start_server: Callable[..., Server], fake_slack: FakeSlack) -> None:
    server = start_server(rate_limit_per_minute=2)
    for n in range(5):
        assert post_event(server, event_body(f"EvFlood{n}", ts=f"170000020{n}.000100")).status_code == 200
    assert server.drain()
    texts = [c.params["text"] for c in fake_slack.ok_calls("chat.postMessage")]
    assert len(server.service.calls) == 2
    assert sum("asking faster" in t for t in texts) == 1 and len(texts) == 3


def test_slow_generic_answers_are_acknowledged_then_sent_to_the_reply_url(
    start_server: Callable[..., Server], fake_slack: FakeSlack
) -> None:
    server = start_server(FakeService(delay_s=1.0), webhook_inline_timeout_s=0.2, webhook_reply_url=fake_slack.hook_url("mm"))
    response = server.client.post("/webhook", data={"token": HOOK_TOKEN, "text": QUESTION, "user_name": "bob"})
    assert response.json()["text"].startswith("Looking that up")
    later = fake_slack.wait_calls("hooks/mm", 1)[0].params
    assert "five future industry clusters \\[1\\]" in later["text"] and later["attachments"]


def test_slack_failing_twice_then_succeeding_posts_the_answer_once(
    start_server: Callable[..., Server], fake_slack: FakeSlack
) -> None:
    server = start_server()
    fake_slack.fail("chat.postMessage", 500, 429)
    post_event(server, event_body("EvFlaky"))
    assert server.drain()
    assert [c.status for c in fake_slack.all_calls("chat.postMessage")] == [500, 429, 200]
    assert server.router.state.store.status("EvFlaky") == "done"


def test_slash_command_response_url_failures_are_retried(start_server: Callable[..., Server], fake_slack: FakeSlack) -> None:
    server = start_server()
    fake_slack.fail("response", 502)
    body = command_body(response_url=fake_slack.response_url("cmd2"))
    server.client.post("/slack/commands", content=body,
                       headers={"Content-Type": "application/x-www-form-urlencoded", **signed(body)})
    assert server.drain()
    assert [c.status for c in fake_slack.all_calls("response/cmd2")] == [502, 200]


def test_unreachable_slack_is_retried_logged_and_survived_without_leaking_secrets(
    start_server: Callable[..., Server], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = start_server(slack_api_url=f"http://127.0.0.1:{free_port()}/api/", webhook_retry_attempts=3)
    post_event(server, event_body("EvDown"))
    assert server.drain()
    assert server.router.state.store.status("EvDown") == "failed"
    assert post_event(server, json.dumps({"type": "url_verification", "challenge": "still-up"}).encode()).json() == {
        "challenge": "still-up"}
    failures = [r for r in caplog.records if "chat.postMessage failed" in r.getMessage()]
    assert len(failures) == 3 and "giving up" in failures[-1].getMessage()
    server.client.post("/webhook", data={"token": "wrong-" + HOOK_TOKEN, "text": "x"})
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (SECRET, TOKEN, HOOK_TOKEN):
        assert secret not in logged


def test_service_errors_are_replied_politely(start_server: Callable[..., Server], fake_slack: FakeSlack) -> None:
    server = start_server(FakeService(error=BusyError("queue full")))
    post_event(server, event_body("EvBusy"))
    posted = fake_slack.wait_calls("chat.postMessage", 1)[0].params
    assert "busy" in posted["text"]
    server2 = start_server(FakeService(error=RuntimeError("boom /secret/path")))
    post_event(server2, event_body("EvBoom"))
    texts = [c.params["text"] for c in fake_slack.wait_calls("chat.postMessage", 2)]
    assert "went wrong" in texts[1] and "/secret/path" not in texts[1]


def test_an_event_a_crashed_run_claimed_is_answered_once_after_restart(
    start_server: Callable[..., Server], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    # The "crashed run": it claimed the event, then died before posting.
    crashed = EventStore(tmp_path / "state" / DB_NAME)
    record = json.loads(event_body("EvCrash"))
    crashed.claim("EvCrash", {"team_id": "T1", "event": record["event"]})
    crashed.close()
    server = start_server()  # start-up resumes it
    assert server.drain()
    assert len(fake_slack.ok_calls("chat.postMessage")) == 1
    assert server.router.state.store.status("EvCrash") == "done"
    post_event(server, event_body("EvCrash"), **{"X-Slack-Retry-Num": "2"})  # Slack's retry arrives later
    assert server.drain() and len(fake_slack.ok_calls("chat.postMessage")) == 1


def test_a_crash_after_posting_but_before_recording_does_not_post_twice(
    start_server: Callable[..., Server], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    crashed = EventStore(tmp_path / "state" / DB_NAME)
    record = json.loads(event_body("EvPosted"))
    crashed.claim("EvPosted", {"team_id": "T1", "event": record["event"]})
    crashed.close()
    fake_slack.add_message("C1", "1700000100.000200", {
        "type": "message", "user": "UBOT", "bot_id": "BBOT", "ts": "1700000100.000900", "text": "answer",
        "metadata": {"event_type": "policybot_answer", "event_payload": {"event_id": "EvPosted"}}})
    server = start_server()
    assert server.drain()
    assert fake_slack.ok_calls("chat.postMessage") == [] and server.service.calls == []
    assert server.router.state.store.status("EvPosted") == "done"


def test_drain_waits_for_answers_in_flight(start_server: Callable[..., Server], fake_slack: FakeSlack) -> None:
    server = start_server(FakeService(delay_s=0.5))
    post_event(server, event_body("EvSlow"))
    assert fake_slack.ok_calls("chat.postMessage") == []
    assert server.drain(10)
    assert server.router.state.pending() == 0 and len(fake_slack.ok_calls("chat.postMessage")) == 1


def test_concurrent_duplicate_deliveries_are_answered_once(start_server: Callable[..., Server], fake_slack: FakeSlack) -> None:
    server = start_server()
    body = event_body("EvRace")
    threads = [threading.Thread(target=post_event, args=(server, body)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert server.drain() and len(fake_slack.ok_calls("chat.postMessage")) == 1


# --- a bounded backlog: busy at once, never a silent loss -----------------------------------------------------
class BlockingService(FakeService):
    """Answers only once ``release`` is set, so a test can fill the backlog deterministically."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self._started = threading.Semaphore(0)

    def answer(self, question: str, history: list[Turn] | None = None, scope: Scope | None = None) -> Answer:
        self._started.release()
        assert self.release.wait(WAIT), "the test never released the service"
        return super().answer(question, history, scope)

    def wait_started(self, n: int) -> None:
        for _ in range(n):
            assert self._started.acquire(timeout=10), "the workers did not pick up the questions"


@pytest.fixture
def blocking(start_server: Callable[..., Server]) -> Iterator[BlockingService]:
    """Depends on start_server so it is torn down first: the service is released before the servers drain."""
    service = BlockingService()
    yield service
    service.release.set()


BACKLOG = {"webhook_workers": 2, "queue_size": 1, "rate_limit_per_minute": 100}  # 2 answering + 1 waiting


def post_command(server: Server, fake_slack: FakeSlack, text: str, name: str) -> httpx.Response:
    body = command_body(text, response_url=fake_slack.response_url(name))
    return server.client.post("/slack/commands", content=body,
                              headers={"Content-Type": "application/x-www-form-urlencoded", **signed(body)})


def fill_backlog(server: Server, fake_slack: FakeSlack, service: BlockingService) -> list[str]:
    """Three slash commands: both workers answer (blocked) and one waits. Returns the accepted questions."""
    questions = [f"{QUESTION} ({n})" for n in range(3)]
    for n, question in enumerate(questions):
        assert post_command(server, fake_slack, question, f"fill{n}").json()["text"].startswith("Looking that up")
        if n == 1:
            service.wait_started(2)
    return questions


def test_a_full_backlog_gets_503_with_retry_after_on_the_generic_webhook_and_the_model_is_not_asked(
    start_server: Callable[..., Server], fake_slack: FakeSlack, blocking: BlockingService
) -> None:
    server = start_server(blocking, **BACKLOG)
    accepted = fill_backlog(server, fake_slack, blocking)
    response = server.client.post("/webhook", data={"token": HOOK_TOKEN, "text": "Refused question?", "user_id": "u1"})
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert response.json()["text"] == "The bot is busy; please ask again in a minute."
    blocking.release.set()
    assert server.drain()
    assert sorted(q for q, _ in server.service.calls) == sorted(accepted), "the refused question never reached the model"
    assert all(len(fake_slack.ok_calls(f"response/fill{n}")) == 1 for n in range(3)), "everything accepted is answered"


def test_a_slash_command_is_told_busy_at_once_and_promised_nothing_when_the_backlog_is_full(
    start_server: Callable[..., Server], fake_slack: FakeSlack, blocking: BlockingService
) -> None:
    server = start_server(blocking, **BACKLOG)
    accepted = fill_backlog(server, fake_slack, blocking)
    started = time.monotonic()
    response = post_command(server, fake_slack, "Refused question?", "refused")
    assert response.status_code == 200 and time.monotonic() - started < 3
    assert response.json() == {"response_type": "ephemeral", "text": "The bot is busy; please ask again in a minute."}
    blocking.release.set()
    assert server.drain()
    assert fake_slack.all_calls("response/refused") == [], "no follow-up for a refused command"
    assert sorted(q for q, _ in server.service.calls) == sorted(accepted)


def test_a_slack_event_is_acked_and_told_busy_in_its_thread_when_the_backlog_is_full(
    start_server: Callable[..., Server], fake_slack: FakeSlack, blocking: BlockingService
) -> None:
    server = start_server(blocking, **BACKLOG)
    fill_backlog(server, fake_slack, blocking)
    refused = event_body("EvRefused", ts="1700000500.000100")
    response = post_event(server, refused)
    assert response.status_code == 200 and response.json().get("busy") is True
    posts = fake_slack.wait_calls("chat.postMessage", 1)  # while the model is still blocked: not queued behind it
    assert len(posts) == 1 and posts[0].params["thread_ts"] == "1700000500.000100"
    assert posts[0].params["text"] == "The bot is busy; please ask again in a minute."
    assert fake_slack.wait_for(lambda: server.router.state.store.status("EvRefused") == "done")
    retry = post_event(server, refused, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert retry.json().get("ignored") == "duplicate event", "the user was told to ask again; a retry is not answered"
    blocking.release.set()
    assert server.drain()
    assert len(server.service.calls) == 3 and len(fake_slack.ok_calls("chat.postMessage")) == 1


def test_a_burst_of_requests_is_either_answered_or_told_busy_never_lost(
    start_server: Callable[..., Server], fake_slack: FakeSlack, blocking: BlockingService
) -> None:
    server = start_server(blocking, **BACKLOG)
    replies: dict[int, str] = {}

    def ask(n: int) -> None:
        replies[n] = post_command(server, fake_slack, f"{QUESTION} #{n}", f"burst{n}").json()["text"]

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    accepted = [n for n, text in replies.items() if text.startswith("Looking that up")]
    refused = [n for n, text in replies.items() if "busy" in text]
    assert len(accepted) == 3 and len(refused) == 7, replies
    blocking.release.set()
    assert server.drain()
    assert len(server.service.calls) == 3
    for n in accepted:
        assert len(fake_slack.ok_calls(f"response/burst{n}")) == 1
    for n in refused:
        assert fake_slack.all_calls(f"response/burst{n}") == []


@pytest.mark.parametrize("when", ["answering", "still queued"])
def test_without_a_reply_url_a_slow_answer_says_it_took_too_long_and_promises_nothing(
    start_server: Callable[..., Server], fake_slack: FakeSlack, blocking: BlockingService,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, when: str
) -> None:
    monkeypatch.setattr("bot.serve.chat.routes.NO_REPLY_URL_WAIT_S", 0.5)
    caplog.set_level(logging.WARNING)
    server = start_server(blocking, **BACKLOG)
    if when == "still queued":
        for n in range(2):
            post_command(server, fake_slack, f"{QUESTION} ({n})", f"busy{n}")
        blocking.wait_started(2)
    response = server.client.post("/webhook", data={"token": HOOK_TOKEN, "text": "Slow question?", "user_id": "u1"})
    assert response.status_code == 200
    text = response.json()["text"]
    assert "took too long" in text and "ask again" in text
    assert "follow" not in text and "Looking that up" not in text
    blocking.release.set()
    assert server.drain()
    asked = [q for q, _ in server.service.calls]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    if when == "answering":
        assert asked == ["Slow question?"] and "discarded a generic-webhook answer" in logged
    else:
        assert "Slow question?" not in asked and "generic-webhook question cancelled" in logged
