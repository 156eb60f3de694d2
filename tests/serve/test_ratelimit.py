"""The per-key sliding-window limiter shared by the webhook and the page."""

from __future__ import annotations

import threading

import pytest

from bot.serve.limits import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_key_gets_its_own_budget_per_minute() -> None:
    clock = Clock()
    limiter = RateLimiter(3, clock=clock)
    assert [limiter.allow("alice") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("bob")


def test_the_window_slides_rather_than_resetting_on_the_minute() -> None:
    clock = Clock()
    limiter = RateLimiter(2, clock=clock)
    assert limiter.allow("k")
    clock.now += 30
    assert limiter.allow("k") and not limiter.allow("k")
    assert limiter.retry_after("k") == pytest.approx(30)
    clock.now += 30.01  # the first call left the window, the second has not
    assert limiter.allow("k") and not limiter.allow("k")


def test_refused_calls_do_not_extend_the_wait() -> None:
    clock = Clock()
    limiter = RateLimiter(1, clock=clock)
    assert limiter.allow("k")
    for _ in range(100):
        clock.now += 0.5
        assert not limiter.allow("k")
    clock.now = 1060.0
    assert limiter.allow("k"), "60 s after the one allowed call, however often it was refused meanwhile"


def test_memory_is_bounded_by_max_keys() -> None:
    clock = Clock()
    limiter = RateLimiter(1, max_keys=100, clock=clock)
    for i in range(1000):
        assert limiter.allow(f"user{i}")
    assert len(limiter._hits) <= 100


def test_concurrent_callers_never_exceed_the_limit() -> None:
    limiter = RateLimiter(50)
    allowed: list[bool] = []
    lock = threading.Lock()

    def hammer() -> None:
        for _ in range(40):
            ok = limiter.allow("shared")
            with lock:
                allowed.append(ok)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 50
