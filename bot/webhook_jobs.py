"""The background half of the chat integrations: answer, format, deliver, record.

Routes acknowledge at once and hand the work to :class:`WebhookState`, which runs it on a small thread pool
(the pipeline is synchronous and CPU-bound) and keeps the futures so the server can ``await state.drain(t)`` on
shutdown. Every job catches its own errors: a failing pipeline or an unreachable Slack is logged and reported to
the user where possible, never raised into the server.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.answer import Answer, AnswerService, Turn
from bot.dedup import DB_NAME, EventStore
from bot.errors import BusyError, PolicyBotError
from bot.ratelimit import RateLimiter
from bot.settings import Settings
from bot.slack_client import Backoff, SlackApi, post_json, strip_mentions
from bot.slack_format import answer_blocks, escape_markdown, escape_mrkdwn, webhook_message

log = logging.getLogger(__name__)

HELP_TEXT = "Ask me a question about the policy documents, e.g. _Which industries does the plan name?_"
BUSY_TEXT = "I'm busy answering other questions right now. Please ask again in a minute."
ERROR_TEXT = "Sorry, something went wrong while answering. The operator can find the details in the server log."
RATE_LIMITED_TEXT = "You're asking faster than I can answer ({n} questions a minute). Please wait a moment and ask again."

Render = Callable[[Answer], dict[str, Any]]


class InlineOrLater:
    """Decides, race-free, whether a generic-webhook answer goes inline or to the reply URL."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deferred = False
        self._done = False

    def defer(self) -> bool:
        """The request gave up waiting. True if the job will deliver the answer itself."""
        with self._lock:
            self._deferred = not self._done
            return self._deferred

    def finish(self) -> bool:
        """The answer is ready. True if nobody is waiting inline for it any more."""
        with self._lock:
            self._done = True
            return self._deferred


class WebhookState:
    """Shared state of the webhook routes: the answer service, dedup store, Slack client, limiter, workers."""

    def __init__(self, service: AnswerService, settings: Settings, data_dir: Path | None = None) -> None:
        self.service = service
        self.settings = settings
        data_dir = data_dir or settings.data_dir
        self.store = EventStore(data_dir / DB_NAME, ttl_s=settings.webhook_dedup_ttl_hours * 3600)
        self.backoff = Backoff(settings.webhook_retry_attempts, settings.webhook_retry_base_s)
        self.slack = SlackApi(settings.slack_bot_token.get_secret_value(), settings.slack_api_url, self.backoff)
        self.limiter = RateLimiter(settings.rate_limit_per_minute)
        self._warned_until: dict[str, float] = {}
        self._executor = concurrent.futures.ThreadPoolExecutor(settings.webhook_workers, thread_name_prefix="webhook")
        self._futures: set[concurrent.futures.Future[Any]] = set()
        self._lock = threading.Lock()

    # --- running work in the background -------------------------------------------------------------
    def submit(self, job: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        future = self._executor.submit(self._guarded, job, *args)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)
        return future

    def _guarded(self, job: Callable[..., Any], *args: Any) -> Any:
        try:
            return job(*args)
        except Exception:
            log.exception("webhook background job %s failed", getattr(job, "__name__", job))
            return None

    def _forget(self, future: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._futures.discard(future)

    def pending(self) -> int:
        with self._lock:
            return len(self._futures)

    async def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for background answers to be delivered. True if none is left."""
        with self._lock:
            futures = list(self._futures)
        if not futures:
            return True
        _, not_done = await asyncio.to_thread(concurrent.futures.wait, futures, timeout)
        return not not_done

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.store.close()

    # --- answering --------------------------------------------------------------------------------
    def answer_message(self, question: str, history: list[Turn], render: Render) -> dict[str, Any]:
        """The rendered answer, or a short message saying why there is none (never raises)."""
        try:
            return render(self.service.answer(question, history or None))
        except BusyError:
            return {"text": BUSY_TEXT}
        except PolicyBotError as exc:
            return {"text": escape_mrkdwn(str(exc))}
        except Exception:
            log.exception("answering a chat question failed")
            return {"text": ERROR_TEXT}

    def rate_limit_warning_due(self, key: str) -> bool:
        """True once per rate-limit window for ``key``: we tell a flooding user once, then stay quiet."""
        now = time.monotonic()
        with self._lock:
            if self._warned_until.get(key, 0.0) > now:
                return False
            self._warned_until[key] = now + max(1.0, self.limiter.retry_after(key))
            if len(self._warned_until) > 10_000:
                self._warned_until = {k: t for k, t in self._warned_until.items() if t > now}
            return True

    # --- Slack Events API --------------------------------------------------------------------------
    def answer_event(self, event_id: str, record: dict[str, Any], taken_over: bool = False) -> None:
        event = record["event"]
        channel, ts = str(event["channel"]), str(event["ts"])
        thread_ts = str(event.get("thread_ts") or ts)
        me = self.slack.bot_user_id()
        if me and event.get("user") == me:
            self.store.finish(event_id)
            return
        if taken_over and self.slack.already_answered(channel, thread_ts, event_id):
            log.info("event %s was answered before a restart; not answering again", event_id)
            self.store.finish(event_id)
            return
        question = strip_mentions(str(event.get("text") or ""), me)
        if not question:
            message: dict[str, Any] = {"text": HELP_TEXT}
        else:
            in_thread = bool(event.get("thread_ts")) and event.get("thread_ts") != ts
            history = self.slack.thread_history(channel, thread_ts, ts) if in_thread else []
            message = self.answer_message(question, history, answer_blocks)
        delivered = self.slack.post_message(channel, thread_ts, message, event_id)
        self.store.finish(event_id, failed=not delivered)
        log.info("event %s %s", event_id, "answered" if delivered else "could not be delivered")

    def warn_rate_limited(self, event_id: str, record: dict[str, Any]) -> None:
        event = record["event"]
        text = RATE_LIMITED_TEXT.format(n=self.settings.rate_limit_per_minute)
        self.slack.post_message(str(event["channel"]), str(event.get("thread_ts") or event["ts"]), {"text": text})
        self.store.finish(event_id)

    def resume_pending(self) -> int:
        """Answer events a previous process claimed but never finished (it crashed). Returns how many."""
        taken = self.store.take_over_pending()
        for event_id, record in taken:
            log.info("resuming event %s left unanswered by a previous run", event_id)
            self.submit(self.answer_event, event_id, record, True)
        return len(taken)

    # --- slash commands and generic webhooks ---------------------------------------------------------
    def answer_command(self, question: str, response_url: str) -> None:
        message = self.answer_message(question, [], answer_blocks)
        message["response_type"] = self.settings.slack_command_response_type
        message["replace_original"] = False
        post_json(response_url, message, self.backoff, "slash-command response_url")

    def answer_generic(self, question: str, delivery: InlineOrLater, user_name: str) -> dict[str, Any]:
        message = self.answer_message(question, [], webhook_message)
        message.setdefault("response_type", "comment")
        if delivery.finish():
            reply_url = self.settings.webhook_reply_url
            if not reply_url:
                log.warning("a slow generic-webhook answer was dropped: set POLICYBOT_WEBHOOK_REPLY_URL")
                return message
            later = dict(message)
            quoted = escape_markdown(" ".join(question.split())[:300])
            later["text"] = f"> {quoted}\n\n{message['text']}" + (f"\n_(asked by {escape_markdown(user_name)})_" if user_name else "")
            post_json(reply_url, later, self.backoff, "generic-webhook reply URL")
        return message
