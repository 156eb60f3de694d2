"""Running the synchronous pipeline for asyncio routes: a bounded number at once, abandoned when the client goes.

:class:`AnswerGate` admits at most ``capacity`` API answers at a time (the model's queue plus the one it is
writing); one more is refused at once with 503, before any work. :class:`EventPump` runs one
``Pipeline.stream`` in its own thread and hands its events to the event loop. ``cancel()`` (the client closed
the connection) stops it at the next event, or while it waits for the model (``bot.llm.model_queue.abandon_when``),
and closes the pipeline's generator in that thread, which releases the model slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

from bot.answer import Answer, Event, Final
from bot.errors import RequestAbandoned
from bot.llm.model_queue import abandon_when
from bot.serve.api.errors import BUSY_RETRY_AFTER_S, ApiError

log = logging.getLogger(__name__)

KEEPALIVE_S = 2.0  # a silent stream sends a comment this often (proxies, and noticing a closed connection)


@dataclass(frozen=True)
class Failed:
    """The pipeline raised ``error`` instead of finishing."""

    error: BaseException


@dataclass(frozen=True)
class Idle:
    """Nothing happened for ``KEEPALIVE_S`` seconds."""


class AnswerGate:
    """Counts API answers in progress; ``enter()`` refuses beyond ``capacity`` with a 503."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._busy = 0
        self._lock = threading.Lock()

    @property
    def busy(self) -> int:
        with self._lock:
            return self._busy

    def enter(self) -> None:
        with self._lock:
            if self._busy >= self.capacity:
                raise ApiError(503, f"The model is busy: {self._busy} API questions are being answered or waiting "
                                    f"(limit queue_size + 1 = {self.capacity}). Retry after Retry-After seconds.",
                               code="model_busy", retry_after=BUSY_RETRY_AFTER_S)
            self._busy += 1

    def leave(self) -> None:
        with self._lock:
            self._busy -= 1


class EventPump:
    """One pipeline stream in a worker thread; iterate ``events()`` in the event loop."""

    def __init__(self, start: Callable[[], Iterator[Event]], gate: AnswerGate, name: str = "api-answer") -> None:
        self._start = start
        self._gate = gate
        self._cancel = threading.Event()
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[Event | Failed | None] = asyncio.Queue()
        self.done = threading.Event()
        gate.enter()
        try:
            threading.Thread(target=self._run, name=name, daemon=True).start()
        except BaseException:
            gate.leave()
            raise

    def _put(self, item: Event | Failed | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: the server is stopping
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)

    def _run(self) -> None:
        try:
            with abandon_when(self._cancel):
                events = self._start()
                try:
                    for event in events:
                        if self._cancel.is_set():
                            break
                        self._put(event)
                finally:
                    close = getattr(events, "close", None)
                    if close is not None:
                        close()  # in this thread: the pipeline's finally blocks release the model slot
        except RequestAbandoned:
            log.info("API answer abandoned by its client before it reached the model")
        except BaseException as exc:  # handed to the route, which answers it
            if not self._cancel.is_set():
                self._put(Failed(exc))
        finally:
            self._gate.leave()
            self.done.set()
            self._put(None)

    def cancel(self) -> None:
        """The client is gone: stop at the next event or while waiting for the model (no-op once finished)."""
        if not self._cancel.is_set() and not self.done.is_set():
            self._cancel.set()
            log.info("API client disconnected; abandoning its answer")

    async def events(self, keepalive_s: float | None = None) -> AsyncIterator[Event | Failed | Idle]:
        """The pipeline's events, then its Failed if it raised; Idle after ``keepalive_s`` of silence."""
        while True:
            try:
                item = await asyncio.wait_for(self._queue.get(), keepalive_s)
            except TimeoutError:
                yield Idle()
                continue
            if item is None:
                return
            yield item

    async def final(self) -> Answer:
        """The checked answer (raises what the pipeline raised)."""
        async for item in self.events():
            if isinstance(item, Failed):
                raise item.error
            if isinstance(item, Final):
                return item.answer
        raise RuntimeError("the answer stream ended without a Final event")


async def final_unless_disconnected(pump: EventPump, is_disconnected: Callable[[], Awaitable[bool]]) -> Answer | None:
    """``pump.final()``, or None (and the pump cancelled) if the client disconnects first."""
    task = asyncio.ensure_future(pump.final())
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=1.0)
            if done:
                return task.result()
            if await is_disconnected():
                pump.cancel()
                task.cancel()
                return None
    finally:
        if not task.done():
            pump.cancel()
            task.cancel()


def check_model_queue(service: object) -> None:
    """503 at once when the model's own queue (shared with the page and the webhooks) is already full."""
    model = getattr(service, "model", None)
    waiting, size = getattr(model, "waiting", None), getattr(model, "queue_size", None)
    if isinstance(waiting, int) and isinstance(size, int) and waiting >= size:
        raise ApiError(503, f"The model is busy: {waiting} questions are already waiting (queue_size={size}). "
                            "Retry after Retry-After seconds.", code="model_busy", retry_after=BUSY_RETRY_AFTER_S)
