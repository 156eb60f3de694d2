"""Background document jobs of the HTTP API: one at a time, in order, each with an id to poll.

An ingest (or a removal, which rebuilds the keyword index) takes seconds to minutes, longer than a client
should hold a request open. :class:`Jobs` runs them on one worker thread (``bot.serve.library.Library`` changes the
index one change at a time anyway) and keeps the latest ``keep`` of them for ``GET /api/v1/jobs/{id}``.
At most ``max_pending`` wait; one more is refused (the route answers 503).
"""

from __future__ import annotations

import concurrent.futures
import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]


class Job(BaseModel):
    """A document change running in the background."""

    id: str
    kind: Literal["add", "remove"]
    state: Literal["queued", "running", "done", "failed"] = Field(
        "queued", description="done: every file was added (or the document removed); failed: none was.")
    progress: float = Field(0.0, description="0..1 while running.")
    message: str = Field("", description="What it is doing, or why it failed.")
    files: list[str] = Field(default_factory=list, description="File names of an add, or the doc id removed.")
    added: list[str] = Field(default_factory=list, description="Doc ids added or replaced.")
    removed: list[str] = Field(default_factory=list)
    failed: dict[str, str] = Field(default_factory=dict, description="File name -> why it was not ingested.")
    created_at: str
    finished_at: str | None = None


class Outcome(BaseModel):
    added: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    failed: dict[str, str] = Field(default_factory=dict)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Jobs:
    def __init__(self, keep: int = 200, max_pending: int = 16) -> None:
        self.keep = keep
        self.max_pending = max_pending
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="api-documents")

    def pending(self) -> int:
        with self._lock:
            return sum(job.state in ("queued", "running") for job in self._jobs.values())

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return job.model_copy(deep=True) if job else None

    def submit(self, kind: Literal["add", "remove"], files: list[str], work: Callable[[Progress], Outcome],
               cleanup: Callable[[], None] | None = None) -> Job | None:
        """Queue ``work(progress)``; None when ``max_pending`` jobs already wait (``cleanup`` then runs at once)."""
        job = Job(id=secrets.token_hex(8), kind=kind, state="queued", progress=0.0, files=files, created_at=_now(),
                  message="queued")
        with self._lock:
            if sum(j.state in ("queued", "running") for j in self._jobs.values()) >= self.max_pending:
                full = True
            else:
                full = False
                self._jobs[job.id] = job
                self._forget_old()
        if full:
            if cleanup:
                cleanup()
            return None
        self._executor.submit(self._run, job.id, work, cleanup)
        return job.model_copy(deep=True)

    def _update(self, job_id: str, **changes: object) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                for name, value in changes.items():
                    setattr(job, name, value)

    def _run(self, job_id: str, work: Callable[[Progress], Outcome], cleanup: Callable[[], None] | None) -> None:
        self._update(job_id, state="running", message="starting")

        def progress(fraction: float, message: str) -> None:
            self._update(job_id, progress=round(max(0.0, min(1.0, fraction)), 3), message=message)

        try:
            outcome = work(progress)
            ok = bool(outcome.added or outcome.removed)
            message = "done" if ok and not outcome.failed else "; ".join(outcome.failed.values()) or "nothing changed"
            self._update(job_id, state="done" if ok else "failed", progress=1.0, message=message,
                         added=outcome.added, removed=outcome.removed, failed=outcome.failed, finished_at=_now())
        except Exception as exc:  # the index is unchanged (ingest swaps generations atomically)
            log.exception("document job %s failed", job_id)
            self._update(job_id, state="failed", message=f"the job failed ({type(exc).__name__}); see the server log",
                         finished_at=_now())
        finally:
            if cleanup:
                cleanup()

    def _forget_old(self) -> None:
        finished = [k for k, j in self._jobs.items() if j.state in ("done", "failed")]
        for key in finished[: max(0, len(self._jobs) - self.keep)]:
            del self._jobs[key]

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
