"""Thumbs up/down on answers, kept locally as JSON Lines, and turned into eval cases.

Each line of ``<data_dir>/feedback.jsonl`` records what the user saw and judged: the question, the
conversation before it, the answer text, status, citations and trace, and the rating. The team turns
real questions into eval cases with ``policybot feedback export --cases FILE`` (:meth:`FeedbackStore.export_cases`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from bot.answer import Answer, Turn
from bot.lang.cjk import CJK_CHAR
from bot.settings import Settings

log = logging.getLogger(__name__)

Rating = Literal["up", "down"]
FEEDBACK_FILE = "feedback.jsonl"


class FeedbackStore:
    """Append-only feedback log. Safe to share between the page's worker threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> FeedbackStore:
        return cls(Path(settings.data_dir) / FEEDBACK_FILE)

    def record(
        self,
        question: str,
        answer: Answer,
        rating: Rating,
        history: list[Turn] | None = None,
        source: str = "page",
    ) -> dict[str, Any]:
        """Append one rating and return the stored entry."""
        entry: dict[str, Any] = {
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "source": source,
            "rating": rating,
            "question": question,
            "history": [{"role": t.role, "content": t.content} for t in history or []],
            "answer": answer.text,
            "status": answer.status,
            "citations": [c.model_dump(mode="json") for c in answer.citations],
            "trace": answer.trace.model_dump(mode="json"),
        }
        line = json.dumps(entry, ensure_ascii=False)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")
        return entry

    def entries(self) -> list[dict[str, Any]]:
        """All readable entries in order; a damaged line is skipped with a warning naming it."""
        if not self.path.is_file():
            return []
        out: list[dict[str, Any]] = []
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                log.warning("%s line %d is not valid JSON; skipped", self.path, number)
                continue
            if isinstance(entry, dict) and entry.get("question") and entry.get("rating") in ("up", "down"):
                out.append(entry)
            else:
                log.warning("%s line %d lacks question or rating; skipped", self.path, number)
        return out

    def export_cases(self, out_path: Path | None = None) -> list[dict[str, Any]]:
        """Turn feedback into eval cases (the ``eval/*.jsonl`` format) and write them to ``out_path``.

        One case per distinct (history, question); the latest rating wins. A liked answer gives its cited
        documents as ``gold_docs`` and its status as ``answerable``; a disliked refusal becomes an answerable
        case (the user expected an answer); a disliked answer keeps ``answerable: true`` with no gold docs,
        for the team to review. ``answers`` is left empty: the facts are for a person to write.
        """
        latest: dict[str, dict[str, Any]] = {}
        for entry in self.entries():
            latest[_case_key(entry)] = entry
        cases = [_to_case(key, entry) for key, entry in latest.items()]
        if out_path is not None:
            out_path.parent.mkdir(parents=True, exist_ok=True)
            text = "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases)
            out_path.write_text(text, encoding="utf-8")
        return cases


def _case_key(entry: dict[str, Any]) -> str:
    history = json.dumps(entry.get("history") or [], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(f"{history}\n{entry['question']}".encode()).hexdigest()[:12]


def _to_case(key: str, entry: dict[str, Any]) -> dict[str, Any]:
    liked = entry["rating"] == "up"
    refused = entry.get("status") == "refused"
    gold_docs: list[str] = []
    if liked and not refused:
        seen = [c.get("doc_id", "") for c in entry.get("citations") or []]
        gold_docs = [d for i, d in enumerate(seen) if d and d not in seen[:i]]
    case: dict[str, Any] = {
        "id": f"feedback-{entry['rating']}-{key}",
        "question": entry["question"],
        "answers": [],
        "gold_docs": gold_docs,
        "answerable": not (liked and refused),
        "lang": "zh" if CJK_CHAR.search(entry["question"]) else "en",
        "split": "dev",
    }
    if entry.get("history"):
        case["history"] = entry["history"]
    return case
