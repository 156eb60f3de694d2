"""One ingest at a time per index folder: a second one fails with a clear error, or waits its turn when asked to."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from bot.errors import IngestError
from bot.ingest.build import ingest_lock


def _hold(folder: Path, seconds: float, held: threading.Event) -> threading.Thread:
    def run() -> None:
        with ingest_lock(folder):
            held.set()
            time.sleep(seconds)

    thread = threading.Thread(target=run)
    thread.start()
    assert held.wait(5)
    return thread


def test_a_second_ingest_is_refused_at_once_by_default(tmp_path: Path) -> None:
    thread = _hold(tmp_path, 0.5, threading.Event())
    with pytest.raises(IngestError, match="Another ingest is running"), ingest_lock(tmp_path):
        pass
    thread.join()


def test_a_batch_job_waits_for_the_other_ingest_and_then_runs(tmp_path: Path) -> None:
    thread = _hold(tmp_path, 0.4, threading.Event())
    ran = False
    with ingest_lock(tmp_path, wait=10):
        ran = True
        assert not thread.is_alive()  # it got the lock only once the other ingest let go
    thread.join()
    assert ran


def test_waiting_gives_up_with_the_time_waited(tmp_path: Path) -> None:
    thread = _hold(tmp_path, 1.0, threading.Event())
    with pytest.raises(IngestError, match=r"waited 0\.2 s"), ingest_lock(tmp_path, wait=0.2):
        pass
    thread.join()
    with ingest_lock(tmp_path):  # and the lock is free again afterwards
        pass
