"""A small per-key sliding-window rate limiter, shared by the webhook routes and the page.

``RateLimiter(per_minute).allow(key)`` is True while ``key`` has made fewer than ``per_minute`` allowed
calls in the last 60 seconds. It is thread-safe and its memory is bounded: keys whose window is empty are
dropped, and at most ``max_keys`` keys are tracked (the stalest are forgotten first).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from itertools import islice


class RateLimiter:
    def __init__(
        self,
        per_minute: int,
        *,
        window_s: float = 60.0,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.per_minute = per_minute
        self.window_s = window_s
        self.max_keys = max_keys
        self._clock = clock
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Record a call by ``key`` and say whether it is within the limit (refused calls are not counted)."""
        now = self._clock()
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                hits = deque()
                self._hits[key] = hits
            self._hits.move_to_end(key)
            self._expire(hits, now)
            if len(hits) >= self.per_minute:
                return False
            hits.append(now)
            self._evict(now)
            return True

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may call again (0 if it may call now)."""
        now = self._clock()
        with self._lock:
            hits = self._hits.get(key)
            if not hits:
                return 0.0
            self._expire(hits, now)
            if len(hits) < self.per_minute:
                return 0.0
            return max(0.0, hits[0] + self.window_s - now)

    def _expire(self, hits: deque[float], now: float) -> None:
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()

    def _evict(self, now: float) -> None:
        # Oldest-touched keys first; drop empty windows, and the stalest keys beyond max_keys.
        while len(self._hits) > self.max_keys:
            self._hits.popitem(last=False)
        stale = [
            key
            for key, hits in islice(self._hits.items(), 16)
            if not hits or hits[-1] <= now - self.window_s
        ]
        for key in stale:
            del self._hits[key]
