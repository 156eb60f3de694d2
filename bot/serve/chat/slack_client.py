"""Outbound calls to Slack (and Slack-compatible servers), retried with bounded exponential backoff.

Nothing here raises into the server: a call that still fails after the last attempt is logged and reported as
``None``/``False``. Logs name the API method, the HTTP status and Slack's error code, never a token, a signing
secret or a ``response_url``/reply URL (those carry credentials in their path).
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.answer import Turn
from bot.serve.chat.slack_format import unescape_mrkdwn

log = logging.getLogger(__name__)
# slack_sdk logs requests at DEBUG; keep its logger above that whatever the app's level is.
_sdk_log = logging.getLogger("bot.serve.chat.slack_client.sdk")
_sdk_log.setLevel(logging.INFO)

TRANSIENT_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
ANSWER_METADATA_TYPE = "policybot_answer"
HISTORY_TURNS = 8
T = TypeVar("T")

_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")


def redact_url(url: str) -> str:
    """``scheme://host/…`` for logs: webhook URLs carry their credentials in the path."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}/…"


def strip_mentions(text: str, bot_user_id: str | None) -> str:
    """The question without our ``<@BOT>`` mention (or a leading mention when our id is unknown), unescaped."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text)
    else:
        text = re.sub(r"^\s*<@[A-Z0-9]+(?:\|[^>]*)?>", " ", text)
    return unescape_mrkdwn(" ".join(text.split()))


class Backoff:
    """Bounded exponential backoff: ``attempts`` tries, waits base, 2*base, ... capped at ``cap_s``."""

    def __init__(
        self, attempts: int = 4, base_s: float = 0.5, cap_s: float = 8.0, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.attempts = max(1, attempts)
        self.base_s = base_s
        self.cap_s = cap_s
        self.sleep = sleep

    def run(self, what: str, call: Callable[[], T], retry_after: Callable[[Exception], float | None]) -> T | None:
        """``call()`` until it succeeds; ``retry_after(exc)`` says if an error is transient (and any wait it asks)."""
        for attempt in range(1, self.attempts + 1):
            try:
                return call()
            except Exception as exc:  # classified below; nothing escapes to the server
                wait = retry_after(exc)
                reason = describe_error(exc)
                if wait is None or attempt == self.attempts:
                    log.error("%s failed (attempt %d/%d, giving up): %s", what, attempt, self.attempts, reason)
                    return None
                delay = min(self.cap_s, max(wait, self.base_s * 2 ** (attempt - 1)) * (1 + random.random() / 10))
                log.warning("%s failed (attempt %d/%d, retrying in %.2fs): %s", what, attempt, self.attempts, delay, reason)
                self.sleep(delay)
        return None


def describe_error(exc: Exception) -> str:
    """A log-safe description: status and Slack error code, no URLs, headers or tokens."""
    if isinstance(exc, SlackApiError):
        return f"HTTP {exc.response.status_code}, error={exc.response.get('error')!r}"
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError):
        return f"unreachable ({type(exc.reason).__name__})"
    return type(exc).__name__


def _slack_retry_after(exc: Exception) -> float | None:
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        if status == 429 or status >= 500 or exc.response.get("error") in TRANSIENT_ERRORS:
            try:
                return float(exc.response.headers.get("Retry-After", exc.response.headers.get("retry-after", 0)))
            except (TypeError, ValueError):
                return 0.0
        return None  # e.g. channel_not_found, invalid_auth: retrying will not help
    if isinstance(exc, OSError | TimeoutError | ValueError):  # URLError, connection refused/reset, bad body
        return 0.0
    return None


def _http_retry_after(exc: Exception) -> float | None:
    if isinstance(exc, urllib.error.HTTPError):
        return 0.0 if exc.code == 429 or exc.code >= 500 else None
    return 0.0 if isinstance(exc, OSError | TimeoutError) else None


class SlackApi:
    """The few Web API calls the bot makes, through ``slack_sdk.WebClient`` with a configurable ``base_url``."""

    def __init__(self, token: str, base_url: str, backoff: Backoff, timeout_s: int = 10) -> None:
        if not base_url.endswith("/"):
            base_url += "/"
        self.client = WebClient(token=token or None, base_url=base_url, timeout=timeout_s, logger=_sdk_log)
        self.client.retry_handlers = []  # one retry policy: ours
        self.backoff = backoff
        self.timeout_s = timeout_s
        self._bot_user_id: str | None = None
        self._lock = threading.Lock()

    def bot_user_id(self) -> str | None:
        """Our own user id from ``auth.test`` (cached once known), to ignore our own messages."""
        with self._lock:
            if self._bot_user_id is None:
                response = self.backoff.run("auth.test", self.client.auth_test, _slack_retry_after)
                if response is not None:
                    self._bot_user_id = response.get("user_id")
            return self._bot_user_id

    def cached_bot_user_id(self) -> str | None:
        """Our user id if ``auth.test`` already told us (never calls Slack; for the request path)."""
        return self._bot_user_id

    def post_message(self, channel: str, thread_ts: str, message: dict[str, Any], event_id: str = "") -> bool:
        kwargs: dict[str, Any] = {
            "channel": channel,
            "thread_ts": thread_ts,
            "text": message["text"],
            "unfurl_links": False,
            "unfurl_media": False,
            "link_names": False,
        }
        if message.get("blocks"):
            kwargs["blocks"] = message["blocks"]
        if event_id:
            kwargs["metadata"] = {"event_type": ANSWER_METADATA_TYPE, "event_payload": {"event_id": event_id}}
        return self.backoff.run("chat.postMessage", lambda: self.client.chat_postMessage(**kwargs), _slack_retry_after) is not None

    def thread_messages(self, channel: str, thread_ts: str) -> list[dict[str, Any]] | None:
        response = self.backoff.run(
            "conversations.replies",
            lambda: self.client.conversations_replies(
                channel=channel, ts=thread_ts, limit=100, include_all_metadata=True
            ),
            _slack_retry_after,
        )
        return None if response is None else list(response.get("messages") or [])

    def thread_history(self, channel: str, thread_ts: str, before_ts: str) -> list[Turn]:
        """Earlier turns of the thread (oldest first): our replies as ``assistant``, people as ``user``."""
        messages = self.thread_messages(channel, thread_ts) or []
        me = self.bot_user_id()
        turns: list[Turn] = []
        for m in sorted(messages, key=lambda m: float(m.get("ts") or 0)):
            if float(m.get("ts") or 0) >= float(before_ts):
                continue
            if me and m.get("user") == me:
                turns.append(Turn("assistant", unescape_mrkdwn(str(m.get("text") or ""))))
            elif not (m.get("bot_id") or m.get("subtype")):
                content = strip_mentions(str(m.get("text") or ""), me)
                if content:
                    turns.append(Turn("user", content))
        return turns[-HISTORY_TURNS:]

    def already_answered(self, channel: str, thread_ts: str, event_id: str) -> bool:
        """True if the thread holds our reply tagged with ``event_id`` (posted just before a crash)."""
        for m in self.thread_messages(channel, thread_ts) or []:
            metadata = m.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == ANSWER_METADATA_TYPE and payload.get("event_id") == event_id:
                return True
        return False


def post_json(url: str, payload: dict[str, Any], backoff: Backoff, what: str, timeout_s: float = 10) -> bool:
    """POST JSON to a ``response_url`` or an incoming-webhook URL, retrying 429/5xx and network errors."""

    def call() -> int:
        request = urllib.request.Request(
            url,
            data=json.dumps(payload).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 (URL from a verified request or settings)
            return int(response.status)

    return backoff.run(f"{what} ({redact_url(url)})", call, _http_retry_after) is not None
