"""The background half of the chat integrations: answer, format, deliver, record.

Routes acknowledge at once and hand the work to :class:`WebhookState`, which runs it on a small thread pool
(the pipeline is synchronous and CPU-bound) and keeps the futures so the server can ``await state.drain(t)`` on
shutdown. Every job catches its own errors: a failing pipeline or an unreachable Slack is logged and reported to
the user where possible, never raised into the server.

The backlog is bounded: at most ``webhook_workers`` answers run and ``queue_size`` more wait
(:meth:`WebhookState.try_answer` returns ``None`` beyond that and the route says "busy" at once), so under load a
request is either accepted and answered or refused with a clear message; nothing waits without limit. Short
notices (busy, rate-limited) go to a separate one-thread pool so they are not stuck behind the model.
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
from bot.errors import BusyError, PolicyBotError
from bot.serve.chat.slack_client import Backoff, SlackApi, post_json, strip_mentions
from bot.serve.chat.slack_format import answer_blocks, escape_markdown, escape_mrkdwn, webhook_message
from bot.serve.dedup import DB_NAME, EventStore
from bot.serve.limits import RateLimiter
from bot.settings import Settings

log = logging.getLogger(__name__)

HELP_TEXT = "Ask me a question about the policy documents, e.g. _Which industries does the plan name?_"
BUSY_TEXT = "I'm busy answering other questions right now. Please ask again in a minute."  # the model's own queue
QUEUE_FULL_TEXT = "The bot is busy; please ask again in a minute."  # our backlog is full: the model was not asked
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


class BoundedPool:
    """A thread pool that refuses work once ``capacity`` jobs are running or waiting, instead of queueing forever."""

    def __init__(self, workers: int, capacity: int, name: str) -> None:
        self.capacity = capacity
        self._executor = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix=name)
        self._futures: set[concurrent.futures.Future[Any]] = set()
        self._lock = threading.Lock()

    def submit(self, job: Callable[..., Any], *args: Any, force: bool = False) -> concurrent.futures.Future[Any] | None:
        """Run ``job(*args)`` in the pool; ``None`` if it is full (``force`` admits it anyway: already-accepted work)."""
        with self._lock:
            if not force and len(self._futures) >= self.capacity:
                return None
            future = self._executor.submit(_guarded, job, *args)
            self._futures.add(future)
        future.add_done_callback(self._forget)  # outside the lock: runs at once if the job already finished
        return future

    def _forget(self, future: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._futures.discard(future)

    def futures(self) -> list[concurrent.futures.Future[Any]]:
        with self._lock:
            return list(self._futures)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _guarded(job: Callable[..., Any], *args: Any) -> Any:
    try:
        return job(*args)
    except Exception:
        log.exception("webhook background job %s failed", getattr(job, "__name__", job))
        return None


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
        self._lock = threading.Lock()
        workers = settings.webhook_workers
        self.answers = BoundedPool(workers, workers + settings.queue_size, "webhook")
        self.notices = BoundedPool(1, settings.queue_size, "webhook-notice")

    # --- running work in the background -------------------------------------------------------------
    def try_answer(self, job: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any] | None:
        """Queue a job that calls the model; ``None`` when the backlog is full (the caller says "busy")."""
        future = self.answers.submit(job, *args)
        if future is None:
            log.warning("webhook backlog full (%d answering or waiting): replying busy", self.answers.capacity)
        return future

    def notify(self, job: Callable[..., Any], *args: Any) -> bool:
        """Queue a short notice (no model call). False if even the notice backlog is full."""
        return self.notices.submit(job, *args) is not None

    def pending(self) -> int:
        return len(self.answers.futures()) + len(self.notices.futures())

    async def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for background answers to be delivered. True if none is left."""
        futures = self.answers.futures() + self.notices.futures()
        if not futures:
            return True
        _, not_done = await asyncio.to_thread(concurrent.futures.wait, futures, timeout)
        return not not_done

    def close(self) -> None:
        self.answers.shutdown()
        self.notices.shutdown()
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

    def tell_busy(self, event_id: str, record: dict[str, Any]) -> None:
        """Reply in the thread that the bot is busy; the event is then done (its retries are not answered)."""
        event = record["event"]
        thread_ts = str(event.get("thread_ts") or event["ts"])
        delivered = self.slack.post_message(str(event["channel"]), thread_ts, {"text": QUEUE_FULL_TEXT}, event_id)
        self.store.finish(event_id, failed=not delivered)
        log.info("event %s refused as busy (%s)", event_id, "told in the thread" if delivered else "notice undelivered")

    def resume_pending(self) -> int:
        """Answer events a previous process claimed but never finished (it crashed). Returns how many."""
        taken = self.store.take_over_pending()
        for event_id, record in taken:
            log.info("resuming event %s left unanswered by a previous run", event_id)
            self.answers.submit(self.answer_event, event_id, record, True, force=True)
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
            if not reply_url:  # the asker was already told it took too long and to ask again
                log.warning("discarded a generic-webhook answer ready after the asker was told it took too long "
                            "(set POLICYBOT_WEBHOOK_REPLY_URL to deliver slow answers)")
                return message
            later = dict(message)
            quoted = escape_markdown(" ".join(question.split())[:300])
            later["text"] = f"> {quoted}\n\n{message['text']}" + (f"\n_(asked by {escape_markdown(user_name)})_" if user_name else "")
            post_json(reply_url, later, self.backoff, "generic-webhook reply URL")
        return message
