"""The event store behind 'answered exactly once': retries, restarts, crashes and the TTL."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from bot.serve.dedup import DB_NAME, Claim, EventStore

RECORD = {"event": {"channel": "C1", "ts": "1.2", "text": "q"}}


def test_a_new_event_is_claimed_once_and_retries_are_duplicates(tmp_path: Path) -> None:
    store = EventStore(tmp_path / DB_NAME)
    assert store.claim("E1", RECORD) is Claim.NEW
    assert store.claim("E1", RECORD) is Claim.DUPLICATE, "a retry while it is being answered"
    store.finish("E1")
    assert store.claim("E1", RECORD) is Claim.DUPLICATE
    assert store.status("E1") == "done"


def test_after_a_restart_done_and_failed_events_stay_answered(tmp_path: Path) -> None:
    first = EventStore(tmp_path / DB_NAME)
    first.claim("done", RECORD)
    first.finish("done")
    first.claim("failed", RECORD)
    first.finish("failed", failed=True)
    first.close()
    second = EventStore(tmp_path / DB_NAME)
    assert second.take_over_pending() == []
    assert second.claim("done", RECORD) is Claim.DUPLICATE and second.claim("failed", RECORD) is Claim.DUPLICATE


def test_an_event_a_crashed_owner_left_claimed_is_taken_over_exactly_once(tmp_path: Path) -> None:
    crashed = EventStore(tmp_path / DB_NAME)
    crashed.claim("E1", RECORD)
    crashed.close()
    restarted = EventStore(tmp_path / DB_NAME)
    assert restarted.take_over_pending() == [("E1", RECORD)]
    assert restarted.take_over_pending() == []
    assert restarted.claim("E1", RECORD) is Claim.DUPLICATE, "a Slack retry after the takeover"


def test_a_retry_reaching_a_restarted_server_takes_the_event_over(tmp_path: Path) -> None:
    EventStore(tmp_path / DB_NAME).claim("E1", RECORD)
    assert EventStore(tmp_path / DB_NAME).claim("E1", RECORD) is Claim.TAKEN_OVER


def test_an_event_that_keeps_crashing_the_server_is_given_up(tmp_path: Path) -> None:
    EventStore(tmp_path / DB_NAME, max_attempts=2).claim("E1", RECORD)
    assert EventStore(tmp_path / DB_NAME, max_attempts=2).take_over_pending() == [("E1", RECORD)]
    assert EventStore(tmp_path / DB_NAME, max_attempts=2).take_over_pending() == []
    assert EventStore(tmp_path / DB_NAME).status("E1") == "failed"


def test_concurrent_claims_of_one_event_let_exactly_one_through(tmp_path: Path) -> None:
    store = EventStore(tmp_path / DB_NAME)  # one server process, many request threads
    results: list[Claim] = []
    lock = threading.Lock()

    def claim(store: EventStore) -> None:
        for _ in range(20):
            outcome = store.claim("E1", RECORD)
            with lock:
                results.append(outcome)

    threads = [threading.Thread(target=claim, args=(store,)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.should_answer for r in results].count(True) == 1


def test_old_rows_are_purged_after_the_ttl(tmp_path: Path) -> None:
    store = EventStore(tmp_path / DB_NAME, ttl_s=0.05)
    store.claim("E1", RECORD)
    store.finish("E1")
    time.sleep(0.1)
    assert store.purge() == 1 and store.status("E1") is None
