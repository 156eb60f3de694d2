"""Chat routes: Slack Events API, Slack slash commands, and Slack-compatible outgoing webhooks.

``build_webhook_router(service, settings)`` returns a :class:`WebhookRouter` (a FastAPI ``APIRouter``) whose
``.state`` (:class:`bot.serve.chat.jobs.WebhookState`) holds the background answers; the server awaits
``router.state.drain(timeout)`` on shutdown.

Order of checks on every request: body size (413) -> signature or token (401, nothing else is parsed before)
-> body parsing (400 with a reason) -> filters (ignored with 200) -> dedup -> rate limit -> backlog -> answer.

The backlog of answers is bounded (``webhook_workers`` running + ``queue_size`` waiting, see
``bot.serve.chat.jobs``). When it is full each route says so at once and the model is not asked; everything
accepted is answered.

- ``POST /slack/events``: acknowledged with 200 at once; answered in the thread in the background. Each
  ``event_id`` is claimed in a SQLite store before answering and marked done after posting, so Slack retries
  (``X-Slack-Retry-Num``) and restarts never answer twice, and an event a crashed process left half-done is
  answered once on the next start (see ``bot.serve.dedup``). A flooding user is told once in the thread (Slack must
  get its 200, so no 429 here). When the backlog is full the event is still acked 200, "The bot is busy" is
  posted in its thread and the event is recorded done, so a later retry of it is not answered after the user was
  told to ask again. (Leaving it unrecorded would not get it answered later: Slack does not retry an event it got
  a 200 for, and answering 5xx instead would make Slack disable the app's events under sustained load.)
- ``POST /slack/commands``: immediate ephemeral "Looking that up: ...", then the answer to ``response_url``
  (``ephemeral`` by default, so asking does not post into the channel; ``slack_command_response_type``).
  Backlog full: an immediate ephemeral "busy" reply and no follow-up.
- ``POST /webhook`` (Mattermost, Rocket.Chat): token checked in constant time; the answer comes inline when it
  is ready within ``webhook_inline_timeout_s``, else "Looking that up…" inline and the answer to
  ``webhook_reply_url``. Without a reply URL nothing can follow, so the request waits up to
  ``NO_REPLY_URL_WAIT_S`` (inside Mattermost's 30 s timeout) and, if the answer is still not ready, says it took
  too long and to ask again; the job is cancelled if it has not started, else its answer is discarded with a log
  warning. Backlog full: 503 with ``Retry-After`` and "The bot is busy; please ask again in a minute."

Layout: one module-level handler per route (:func:`handle_slack_events`, :func:`handle_slack_commands`,
:func:`handle_generic_webhook`), each given a :class:`RouteContext`; ``build_webhook_router`` builds the context
and registers them. Reading and checking the request (size, signature, parsing, filters) is in
``bot.serve.chat.inbound``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import logging
import sqlite3
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from bot.answer import AnswerService
from bot.serve.chat.inbound import (
    allowed,
    check_slack_signature,
    ignore_reason,
    parse_form,
    parse_json,
    read_body,
)
from bot.serve.chat.jobs import HELP_TEXT, QUEUE_FULL_TEXT, RATE_LIMITED_TEXT, InlineOrLater, WebhookState
from bot.serve.chat.slack_format import escape_mrkdwn, unescape_mrkdwn
from bot.serve.dedup import Claim
from bot.settings import Settings

log = logging.getLogger(__name__)

NO_REPLY_URL_WAIT_S = 25.0  # without a reply URL: the longest inline wait, well inside Mattermost's 30 s
BUSY_RETRY_AFTER_S = 60  # Retry-After of a 503 "busy", matching "ask again in a minute"
TOO_SLOW_TEXT = "Sorry, that took too long to answer. Please ask again in a minute."
EVENT_FIELDS = ("type", "channel", "channel_type", "ts", "thread_ts", "text", "user")


class WebhookRouter(APIRouter):
    """An ``APIRouter`` that carries its :class:`WebhookState`."""

    state: WebhookState


@dataclass(frozen=True)
class RouteContext:
    """What every route handler needs: the settings, the background answers and the body size limit in bytes."""

    settings: Settings
    state: WebhookState
    body_limit: int


def build_webhook_router(
    service: AnswerService, settings: Settings, data_dir: Path | None = None, *, resume: bool = True
) -> WebhookRouter:
    """The chat routes. ``resume`` answers events a crashed previous run left claimed but unanswered."""
    state = WebhookState(service, settings, data_dir)
    router = WebhookRouter(tags=["chat"])
    router.state = state
    context = RouteContext(settings, state, settings.max_body_kb * 1024)

    @router.post("/slack/events")
    async def slack_events(request: Request) -> JSONResponse:
        return await handle_slack_events(context, request)

    @router.post("/slack/commands")
    async def slack_commands(request: Request) -> JSONResponse:
        return await handle_slack_commands(context, request)

    @router.post("/webhook")
    async def generic_webhook(request: Request) -> JSONResponse:
        return await handle_generic_webhook(context, request)

    if resume:
        state.resume_pending()
    return router


async def handle_slack_events(context: RouteContext, request: Request) -> JSONResponse:
    """``POST /slack/events``: check and filter the event, then hand it to :func:`accept_slack_event`."""
    body = await read_body(request, context.body_limit)
    check_slack_signature(request, body, context.settings)
    data = parse_json(body)
    kind = data.get("type")
    if kind == "url_verification":
        return JSONResponse({"challenge": str(data.get("challenge", ""))})
    if kind != "event_callback":
        return ignored(f"payload type {kind!r}")
    event = data.get("event")
    if not isinstance(event, dict):
        raise HTTPException(400, "event_callback without an 'event' object")
    reason = ignore_reason(data, event, context.state)
    if reason:
        return ignored(reason)
    return await accept_slack_event(context.state, request, data, event)


async def accept_slack_event(
    state: WebhookState, request: Request, data: dict[str, Any], event: dict[str, Any]
) -> JSONResponse:
    """Claim a question event, then answer it in the background unless it is a duplicate, rate limited or busy."""
    event_id = str(data.get("event_id") or f"{event['channel']}:{event['ts']}")
    record = {"team_id": data.get("team_id"), "event": {k: event.get(k) for k in EVENT_FIELDS}}
    try:
        claim = await asyncio.to_thread(state.store.claim, event_id, record)
    except sqlite3.Error as exc:  # Slack retries a non-200, so nothing is lost
        log.error("event store unavailable (%s): asking Slack to retry %s", type(exc).__name__, event_id)
        raise HTTPException(503, "event store unavailable; Slack will retry") from None
    if not claim.should_answer:
        retry = request.headers.get("X-Slack-Retry-Num")
        log.info("event %s ignored as a duplicate (retry %s)", event_id, retry or "-")
        return ignored("duplicate event")
    if not state.limiter.allow(f"{data.get('team_id')}:{event.get('user')}"):
        due = state.rate_limit_warning_due(f"{data.get('team_id')}:{event.get('user')}")
        if not (due and state.notify(state.warn_rate_limited, event_id, record)):
            await asyncio.to_thread(state.store.finish, event_id)
        return JSONResponse({"ok": True, "rate_limited": True})
    if state.try_answer(state.answer_event, event_id, record, claim is Claim.TAKEN_OVER) is None:
        if not state.notify(state.tell_busy, event_id, record):
            log.warning("event %s refused as busy and the notice backlog is full: not told", event_id)
            await asyncio.to_thread(state.store.finish, event_id, failed=True)
        return JSONResponse({"ok": True, "busy": True})
    return JSONResponse({"ok": True})


async def handle_slack_commands(context: RouteContext, request: Request) -> JSONResponse:
    """``POST /slack/commands``: an immediate ephemeral reply; the answer follows to ``response_url``."""
    settings, state = context.settings, context.state
    body = await read_body(request, context.body_limit)
    check_slack_signature(request, body, settings)
    form = parse_form(body)
    response_url = form.get("response_url", "")
    if urllib.parse.urlsplit(response_url).scheme not in ("http", "https"):
        raise HTTPException(400, "missing or invalid response_url")
    if not allowed(settings, form.get("team_id", ""), form.get("channel_id", "")):
        return ephemeral("PolicyBot is not enabled in this channel.")
    question = unescape_mrkdwn(form.get("text", "")).strip()
    if not question:
        return ephemeral(f"Usage: {escape_mrkdwn(form.get('command', '/policy'))} <your question>. {HELP_TEXT}")
    if not state.limiter.allow(f"{form.get('team_id')}:{form.get('user_id')}"):
        return ephemeral(RATE_LIMITED_TEXT.format(n=settings.rate_limit_per_minute))
    if state.try_answer(state.answer_command, question, response_url) is None:
        return ephemeral(QUEUE_FULL_TEXT)
    return ephemeral(f"Looking that up: {escape_mrkdwn(question)}")


async def handle_generic_webhook(context: RouteContext, request: Request) -> JSONResponse:
    """``POST /webhook``: check the token and channel, then answer inline or promise a follow-up."""
    settings, state = context.settings, context.state
    body = await read_body(request, context.body_limit)
    is_json = "json" in request.headers.get("content-type", "").lower()
    data = parse_json(body) if is_json else parse_form(body)
    check_webhook_token(data, settings)
    field = {k: str(data.get(k) or "") for k in ("text", "trigger_word", "team_id", "team_domain")}
    who = {k: str(data.get(k) or "") for k in ("user_id", "user_name", "channel_id", "channel_name")}
    text = field["text"]
    if field["trigger_word"] and text.startswith(field["trigger_word"]):
        text = text[len(field["trigger_word"]) :]
    team = field["team_id"] or field["team_domain"]
    if not (allowed(settings, team, who["channel_id"]) or allowed(settings, team, who["channel_name"])):
        raise HTTPException(403, "PolicyBot is not enabled in this channel")
    question = text.strip()
    if not question:
        return JSONResponse({"text": HELP_TEXT, "response_type": "comment"})
    key = f"webhook:{team}:{who['user_id'] or who['user_name']}"
    if not state.limiter.allow(key):
        retry_after = max(1, round(state.limiter.retry_after(key)))
        text = RATE_LIMITED_TEXT.format(n=settings.rate_limit_per_minute)
        return JSONResponse(
            {"text": text, "response_type": "comment"}, status_code=429, headers={"Retry-After": str(retry_after)}
        )
    delivery = InlineOrLater()
    future = state.try_answer(state.answer_generic, question, delivery, who["user_name"])
    if future is None:
        return JSONResponse({"text": QUEUE_FULL_TEXT, "response_type": "comment"}, status_code=503,
                            headers={"Retry-After": str(BUSY_RETRY_AFTER_S)})
    return await generic_reply(settings, future, delivery)


def check_webhook_token(data: dict[str, Any], settings: Settings) -> None:
    """503 while the generic webhook has no token configured; 401 unless ``data`` carries that token."""
    expected = settings.webhook_token.get_secret_value()
    if not expected:
        raise HTTPException(503, "the generic webhook is disabled: set POLICYBOT_WEBHOOK_TOKEN")
    token = data.get("token")
    if not isinstance(token, str) or not hmac.compare_digest(token.encode(), expected.encode()):
        log.warning("rejected /webhook: wrong or missing token")
        raise HTTPException(401, "invalid webhook token")


async def generic_reply(
    settings: Settings, future: concurrent.futures.Future[Any], delivery: InlineOrLater
) -> JSONResponse:
    """The answer inline if ready in time; else "Looking that up" (with a reply URL) or "took too long"."""
    reply_url = settings.webhook_reply_url
    wait = settings.webhook_inline_timeout_s if reply_url else NO_REPLY_URL_WAIT_S
    try:
        message = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), wait)
    except TimeoutError:
        if delivery.defer():  # not ready: the job delivers to the reply URL, or nobody will see its answer
            if reply_url:
                return JSONResponse({"text": "Looking that up… the answer will follow.", "response_type": "comment"})
            if future.cancel():
                log.warning("generic-webhook question cancelled: still waiting for the model after %.0f s", wait)
            return JSONResponse({"text": TOO_SLOW_TEXT, "response_type": "comment"})
        message = await asyncio.wrap_future(future)
    return JSONResponse(message or {"text": "Sorry, something went wrong.", "response_type": "comment"})


def ignored(reason: str) -> JSONResponse:
    return JSONResponse({"ok": True, "ignored": reason})


def ephemeral(text: str) -> JSONResponse:
    return JSONResponse({"response_type": "ephemeral", "text": text})
