"""A persistent TTL store of chat events, so each event is answered exactly once across retries and restarts.

Semantics (one server process per ``data_dir``; every store instance is a new *owner*, i.e. a process start):

- ``claim(event_id, payload)`` before answering. A new event is recorded ``claimed`` by this owner together with
  its payload and the caller answers it (``Claim.NEW``). An event that is ``done`` or ``failed``, or that this
  owner already claimed (a Slack retry of an event being answered right now), is a ``Claim.DUPLICATE``: ignore it.
- ``finish(event_id)`` after the reply was posted marks it ``done``; ``finish(event_id, failed=True)`` records that
  it was given up (the reply could not be posted after all retries); neither is ever answered again.
- An event still ``claimed`` by *another* owner was being answered when that process died. A retry of it is
  taken over (``Claim.TAKEN_OVER``), and ``take_over_pending()`` at start-up returns all of them so they are
  answered without waiting for a retry. A takeover counts as an attempt; after ``max_attempts`` the event is
  marked ``failed`` instead, so a poisonous event cannot crash-loop the server.
- The one window this cannot close alone is a crash after Slack accepted the reply but before ``finish``: the
  caller closes it by tagging replies with the event id (message metadata) and looking for that tag in the
  thread before answering a taken-over event.
- Rows older than ``ttl_s`` are purged (Slack retries for about an hour; the default TTL is two days).
"""

from __future__ import annotations

import enum
import json
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

DB_NAME = "webhook_events.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    event_id   TEXT PRIMARY KEY,
    status     TEXT NOT NULL,          -- claimed | done | failed
    owner      TEXT NOT NULL,          -- the store instance (process start) that claimed it
    attempts   INTEGER NOT NULL,
    payload    TEXT NOT NULL,          -- JSON needed to answer it again after a crash
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
)
"""


class Claim(enum.Enum):
    NEW = "new"
    TAKEN_OVER = "taken_over"
    DUPLICATE = "duplicate"

    @property
    def should_answer(self) -> bool:
        return self is not Claim.DUPLICATE


class EventStore:
    def __init__(self, path: Path, *, ttl_s: float = 48 * 3600, max_attempts: int = 3) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.ttl_s = ttl_s
        self.max_attempts = max_attempts
        self.owner = uuid.uuid4().hex
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._claims = 0
        self.purge()

    def claim(self, event_id: str, payload: dict[str, Any]) -> Claim:
        now = time.time()
        with self._lock, self._transaction():
            row = self._db.execute(
                "SELECT status, owner, attempts FROM events WHERE event_id = ?", (event_id,)
            ).fetchone()
            if row is None:
                self._db.execute(
                    "INSERT INTO events VALUES (?, 'claimed', ?, 1, ?, ?, ?)",
                    (event_id, self.owner, json.dumps(payload), now, now),
                )
                result = Claim.NEW
            else:
                result = self._take_over(event_id, row, now)
            self._claims += 1
        if self._claims % 500 == 0:
            self.purge()
        return result

    def _take_over(self, event_id: str, row: tuple[str, str, int], now: float) -> Claim:
        status, owner, attempts = row
        if status != "claimed" or owner == self.owner:
            return Claim.DUPLICATE
        if attempts >= self.max_attempts:
            self._db.execute(
                "UPDATE events SET status = 'failed', updated_at = ? WHERE event_id = ?", (now, event_id)
            )
            return Claim.DUPLICATE
        self._db.execute(
            "UPDATE events SET owner = ?, attempts = attempts + 1, updated_at = ? WHERE event_id = ?",
            (self.owner, now, event_id),
        )
        return Claim.TAKEN_OVER

    def take_over_pending(self) -> list[tuple[str, dict[str, Any]]]:
        """Events another (dead) owner claimed but never finished, now claimed by this owner."""
        now = time.time()
        taken: list[tuple[str, dict[str, Any]]] = []
        with self._lock, self._transaction():
            rows = self._db.execute(
                "SELECT event_id, status, owner, attempts, payload FROM events "
                "WHERE status = 'claimed' AND owner != ? ORDER BY created_at",
                (self.owner,),
            ).fetchall()
            for event_id, status, owner, attempts, payload in rows:
                if self._take_over(event_id, (status, owner, attempts), now) is Claim.TAKEN_OVER:
                    taken.append((event_id, json.loads(payload)))
        return taken

    def finish(self, event_id: str, *, failed: bool = False) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE events SET status = ?, updated_at = ? WHERE event_id = ?",
                ("failed" if failed else "done", time.time(), event_id),
            )

    def status(self, event_id: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT status FROM events WHERE event_id = ?", (event_id,)).fetchone()
        return None if row is None else str(row[0])

    def purge(self) -> int:
        with self._lock:
            cursor = self._db.execute("DELETE FROM events WHERE updated_at < ?", (time.time() - self.ttl_s,))
        return cursor.rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (or ROLLBACK on error): the claim check and write are one atomic step."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
