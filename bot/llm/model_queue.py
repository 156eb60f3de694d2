"""One model, one generation at a time: a bounded FIFO queue in front of a :class:`~bot.llm.local.ChatModel`.

A ``llama_cpp.Llama`` is not safe for concurrent calls, and a small CPU box is fastest running one
generation at a time anyway. Every front end (page, webhook, CLI server) shares one :class:`ModelQueue`.

Waiting is first-come first-served. When ``queue_size`` requests already wait, or a request has waited
``queue_timeout_s``, :class:`~bot.errors.BusyError` is raised so the edge can answer "busy, retry".
The slot is held for the whole stream and released when the stream ends, fails, or is abandoned
(``close()``, garbage collection, ``GeneratorExit``). A request that is still waiting can be abandoned too: code
run under :func:`abandon_when` leaves the line as soon as its event is set (the client went away), raising
:class:`~bot.errors.RequestAbandoned`, so a closed connection never takes its turn.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from bot.errors import BusyError, ModelError, RequestAbandoned

if TYPE_CHECKING:
    from bot.llm.contract import ChatModel, Message


ABANDON_POLL_S = 0.2  # how often a waiter under abandon_when() looks at its event
_abandoned: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar("abandoned", default=None)


@contextmanager
def abandon_when(event: threading.Event) -> Iterator[None]:
    """Model requests made in this block (this thread) stop waiting for the model once ``event`` is set."""
    token = _abandoned.set(event)
    try:
        yield
    finally:
        _abandoned.reset(token)


class ChatStream(Iterator[str]):
    """The text deltas of one generation; ``usage`` describes this call (not a later one) once it ends.

    Close it (or use it as a context manager) to stop early; the model slot is released either way.
    """

    def __init__(self) -> None:
        self.usage: dict[str, Any] = {}
        self._gen: Generator[str, None, None] | None = None

    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> str:
        assert self._gen is not None
        return next(self._gen)

    def close(self) -> None:
        if self._gen is not None:
            self._gen.close()

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ModelQueue:
    """Serialises access to ``model``; itself a ChatModel, so the pipeline cannot bypass it."""

    def __init__(
        self, model: ChatModel, *, queue_size: int = 16, queue_timeout_s: float = 120.0, slots: int = 1
    ) -> None:
        """``slots`` > 1 only for a server that decodes in parallel (``llama-server --parallel N``)."""
        self.model = model
        self.queue_size = queue_size
        self.queue_timeout_s = queue_timeout_s
        self.slots = slots
        self._cond = threading.Condition()
        self._tickets: deque[object] = deque()
        self._running = 0
        self.last_usage: dict[str, Any] = {}

    # --- queue state for front ends -------------------------------------------------------------------
    @property
    def waiting(self) -> int:
        """Requests waiting for the model (not counting the one generating)."""
        with self._cond:
            return len(self._tickets)

    @property
    def running(self) -> int:
        """Generations running now (0 or 1 with the default single slot)."""
        with self._cond:
            return self._running

    def position(self) -> int:
        """How many requests are ahead of one arriving now (0 = it runs at once)."""
        with self._cond:
            return self._ahead(len(self._tickets))

    def _ahead(self, index: int) -> int:
        # requests ahead of the waiter at ``index``: those waiting before it, plus the running ones
        # that must finish before a slot is free for it
        full = self._running - self.slots + 1
        return index + max(0, full)

    # --- the slot -------------------------------------------------------------------------------------
    def _acquire(self, on_position: Callable[[int], None] | None = None) -> float:
        """Wait for the slot in FIFO order; returns the seconds waited."""
        start = time.monotonic()
        ticket = object()
        abandoned = _abandoned.get()
        if abandoned is not None and abandoned.is_set():
            raise RequestAbandoned("The request was abandoned before it reached the model.")
        with self._cond:
            if self._running < self.slots and not self._tickets:
                self._running += 1
                return 0.0
            if len(self._tickets) >= self.queue_size:
                raise BusyError(
                    f"The model is busy: {len(self._tickets)} questions are already waiting "
                    f"(limit POLICYBOT_QUEUE_SIZE={self.queue_size}). Try again in a moment."
                )
            self._tickets.append(ticket)
            deadline = start + self.queue_timeout_s
            last_reported = -1
            try:
                while self._running >= self.slots or self._tickets[0] is not ticket:
                    ahead = self._ahead(self._tickets.index(ticket))
                    if on_position is not None and ahead != last_reported:
                        on_position(ahead)
                        last_reported = ahead
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise BusyError(
                            f"The model is busy: waited {self.queue_timeout_s:g} s for a free slot "
                            f"(POLICYBOT_QUEUE_TIMEOUT_S). Try again in a moment."
                        )
                    if abandoned is not None:
                        if abandoned.is_set():
                            raise RequestAbandoned("The request was abandoned while waiting for the model.")
                        remaining = min(remaining, ABANDON_POLL_S)
                    self._cond.wait(remaining)
            except BaseException:
                self._tickets.remove(ticket)
                self._cond.notify_all()
                raise
            self._tickets.popleft()
            self._running += 1
            self._cond.notify_all()  # the next in line may find a free slot too
            return time.monotonic() - start

    def _release(self) -> None:
        with self._cond:
            self._running -= 1
            self._cond.notify_all()

    @contextmanager
    def slot(self, on_position: Callable[[int], None] | None = None) -> Iterator[ChatModel]:
        """Hold the model for several calls: ``with queue.slot() as model: ...`` (use ``model``, not the queue).

        ``on_position(n)`` is called while waiting whenever the number of requests ahead changes.
        """
        self._acquire(on_position)
        try:
            yield self.model
        finally:
            self._release()

    # --- ChatModel protocol -----------------------------------------------------------------------------
    @property
    def model_id(self) -> str:
        return self.model.model_id

    @property
    def model_hash(self) -> str:
        return self.model.model_hash

    def stream_chat(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: list[str] | None = None,
    ) -> ChatStream:
        """Waits for the slot when iteration starts; BusyError is raised from the first ``next()``."""
        stream = ChatStream()
        stream._gen = self._generate(stream, messages, max_tokens, temperature, stop)
        return stream

    def _generate(
        self,
        stream: ChatStream,
        messages: list[Message],
        max_tokens: int,
        temperature: float,
        stop: list[str] | None,
    ) -> Generator[str, None, None]:
        waited = self._acquire()
        finished = False
        try:
            yield from self.model.stream_chat(
                messages, max_tokens=max_tokens, temperature=temperature, stop=stop
            )
            finished = True
        finally:
            usage = dict(getattr(self.model, "last_usage", {}) or {}) if finished else {}
            usage["queue_wait_s"] = waited
            usage["completed"] = finished
            stream.usage = usage
            self.last_usage = usage
            self._release()

    def count_tokens(self, messages: list[Message]) -> int:
        # Tokenising only reads the vocabulary; it does not need the generation slot.
        return self.model.count_tokens(messages)

    def warm_up(self) -> None:
        self.model.warm_up()

    def next_token_logprobs(self, messages: list[Message], options: Sequence[str]) -> dict[str, float]:
        """The model's first-token log-probabilities of ``options`` (its yes/no judgements), in turn like a
        generation; ModelError if the model gives none (a server)."""
        read = getattr(self.model, "next_token_logprobs", None)
        if read is None:
            raise ModelError(f"{self.model.model_id} gives no token probabilities here.")
        with self.slot():
            return dict(read(messages, options))

    def prime(self, messages: list[Message]) -> None:
        """The model's ``prime`` (read a fixed prompt prefix into its KV cache), in turn like a generation."""
        prime = getattr(self.model, "prime", None)
        if prime is not None:
            with self.slot():
                prime(messages)

    def health(self) -> dict[str, Any]:
        out = dict(self.model.health())
        with self._cond:
            out["queue"] = {
                "running": self._running,
                "waiting": len(self._tickets),
                "slots": self.slots,
                "queue_size": self.queue_size,
                "queue_timeout_s": self.queue_timeout_s,
            }
        return out
