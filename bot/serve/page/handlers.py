"""What the page does, without Gradio: the chat handler, feedback and the documents tab.

The page only formats what the pipeline returns (DESIGN.md section 2). These handlers hold all of the page's
behaviour as plain Python, so tests drive them without a browser; ``bot.serve.page.page`` wires them to Gradio.
Every user-facing string they return is sanitised HTML from ``bot.serve.page.render``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from bot.answer import Answer, AnswerService, DocumentLibrary, Final, Progress, Token, Turn
from bot.errors import BusyError, UserInputError
from bot.serve.feedback import FeedbackStore
from bot.serve.page import render
from bot.serve.uploads import upload_problem
from bot.settings import Settings

log = logging.getLogger(__name__)

EXAMPLES = (  # general questions that fit any policy corpus; `example_questions` replaces them
    "What are the main measures, and who carries them out?",
    "What targets are set, and by when?",
    "Who does this apply to?",
    "这些文件的主要措施有哪些？",
)
SORRY = "Sorry, something went wrong while answering. The details are in the server log; please try again."
SORRY_DOCS = "Sorry, the documents could not be changed. The details are in the server log."
QUESTION_SHOWN_CHARS = 200


class Limiter(Protocol):
    def allow(self, key: str) -> bool: ...


@dataclass
class ChatTurn:
    """One question on the page and what the page shows for it (``answer`` is None for a notice)."""

    question: str
    reply: str
    answer: Answer | None = None
    history: list[Turn] = field(default_factory=list)


class ChatUpdate(NamedTuple):
    """What one step of the chat handler sets: the question box, the chat, the sources panel, the state."""

    question: str
    messages: list[dict[str, str]]
    sources: str
    turns: list[ChatTurn]


def to_messages(turns: list[ChatTurn]) -> list[dict[str, str]]:
    """The chat in Gradio's messages format: a user and an assistant message per turn."""
    out: list[dict[str, str]] = []
    for turn in turns:
        out.append({"role": "user", "content": render.question_html(turn.question)})
        out.append({"role": "assistant", "content": turn.reply})
    return out


def history_of(turns: list[ChatTurn]) -> list[Turn]:
    """Earlier answered turns as pipeline history (notices are not part of the conversation)."""
    history: list[Turn] = []
    for turn in turns:
        if turn.answer is not None:
            history.append(Turn("user", turn.question))
            history.append(Turn("assistant", turn.answer.text))
    return history


def busy_message(error: BusyError) -> str:
    """'The model is busy, N questions ahead' without the operator details of ``str(error)``."""
    ahead = getattr(error, "ahead", None)
    if ahead is None:
        found = re.search(r"(\d+) questions? (?:are|is) already waiting", str(error))
        ahead = int(found.group(1)) + 1 if found else None
    if isinstance(ahead, int) and ahead > 0:
        return f"The model is busy, {ahead} questions ahead — please retry in a moment."
    return "The model is busy answering other questions — please retry in a moment."


class ChatHandler:
    """Answers one question at a time for one page session, streaming what the page should show."""

    def __init__(
        self,
        service: AnswerService,
        settings: Settings,
        limiter: Limiter | None = None,
        feedback: FeedbackStore | None = None,
    ) -> None:
        self.service = service
        self.settings = settings
        self.limiter = limiter
        self.feedback = feedback or FeedbackStore.from_settings(settings)

    def _update(self, turns: list[ChatTurn], question: str = "") -> ChatUpdate:
        sources = render.sources_html([(t.question, t.answer) for t in turns])
        return ChatUpdate(question, to_messages(turns), sources, turns)

    def _notice(self, turns: list[ChatTurn], question: str, message: str) -> ChatUpdate:
        shown = question if len(question) <= QUESTION_SHOWN_CHARS else question[:QUESTION_SHOWN_CHARS] + "…"
        turns.append(ChatTurn(shown, render.notice_html(message)))
        return self._update(turns)

    def respond(self, question: str | None, turns: list[ChatTurn] | None, client: str = "") -> Iterator[ChatUpdate]:
        turns = list(turns or [])
        question = (question or "").replace("\x00", "").strip()
        if not question:
            yield self._update(turns)
            return
        limit = self.settings.max_question_chars
        if len(question) > limit:
            yield self._notice(
                turns, question, f"Your question is {len(question)} characters long; the limit is {limit}. "
                "Please shorten it."
            )
            return
        if self.limiter is not None and not self.limiter.allow(client or "anonymous"):
            per_minute = self.settings.rate_limit_per_minute
            yield self._notice(
                turns, question, f"You have asked more than {per_minute} questions in a minute. "
                "Please wait a moment and ask again."
            )
            return
        turn = ChatTurn(question, render.progress_html("Starting…"), history=history_of(turns))
        turns.append(turn)
        yield self._update(turns)
        yield from self._stream_into(turn, turns)

    def _stream_into(self, turn: ChatTurn, turns: list[ChatTurn]) -> Iterator[ChatUpdate]:
        draft = ""
        try:
            for event in self.service.stream(turn.question, list(turn.history), None):
                if isinstance(event, Final):
                    turn.answer = event.answer
                    turn.reply = render.answer_html(event.answer, len(turns) - 1)
                    yield self._update(turns)
                    return
                if isinstance(event, Token):
                    draft += event.text
                    turn.reply = render.draft_html(draft)
                elif isinstance(event, Progress) and not draft:
                    turn.reply = render.progress_html(event.message)
                else:
                    continue
                yield self._update(turns)
            raise RuntimeError("the answer stream ended without a Final event")
        except BusyError as error:
            log.warning("page question rejected, model busy: %s", error)
            turn.reply = render.notice_html(busy_message(error))
        except UserInputError as error:
            turn.reply = render.notice_html(str(error))
        except Exception:
            log.exception("page question failed")
            turn.reply = render.notice_html(SORRY)
        yield self._update(turns)

    def api_answer(self, question: str | None, history: list[dict[str, str]] | None, client: str = "",
                   public: Callable[[Answer], dict[str, Any]] | None = None) -> Iterator[dict[str, Any]]:
        """The page's own API (``gradio_client``, ``api_name="/ask"``): the same limits as the chat, then
        ``{"event": "progress"|"draft", ...}`` updates and, last, ``{"event": "answer", **Answer}``.

        Raises UserInputError (empty, too long, rate-limited, bad history) and BusyError; the page turns
        them into the client's error message.
        """
        question = (question or "").replace("\x00", "").strip()
        if not question:
            raise UserInputError("The question is empty. Send a question about the documents.")
        if len(question) > self.settings.max_question_chars:
            raise UserInputError(f"The question is {len(question)} characters long; the limit is "
                                 f"{self.settings.max_question_chars}.")
        turns: list[Turn] = []
        for item in history or []:
            role, content = item.get("role"), item.get("content")
            if role not in ("user", "assistant") or not isinstance(content, str):
                raise UserInputError('Each history item must be {"role": "user" or "assistant", "content": text}.')
            turns.append(Turn(role, content))  # type: ignore[arg-type]
        if self.limiter is not None and not self.limiter.allow(client or "anonymous"):
            raise UserInputError(f"More than {self.settings.rate_limit_per_minute} questions in a minute; "
                                 "wait a moment and ask again.")
        draft = ""
        for event in self.service.stream(question, turns, None):
            if isinstance(event, Final):
                body = public(event.answer) if public else event.answer.to_json_dict()
                yield {"event": "answer", **body, "checked": True}
                return
            if isinstance(event, Token):
                draft += event.text
                yield {"event": "draft", "text": draft, "checked": False}
            elif isinstance(event, Progress):
                yield {"event": "progress", "message": event.message}
        raise RuntimeError("the answer stream ended without a Final event")

    def rate(self, turns: list[ChatTurn] | None, index: Any, liked: Any) -> str:
        """Store a thumbs up/down for the assistant message at chat ``index``; return a note for the page."""
        position = index[0] if isinstance(index, list | tuple) else index
        turns = turns or []
        if not isinstance(position, int) or not 0 <= position // 2 < len(turns):
            return ""
        turn = turns[position // 2]
        rating = {True: "up", "Like": "up", False: "down", "Dislike": "down"}.get(liked)
        if turn.answer is None or rating is None:
            return ""
        try:
            self.feedback.record(turn.question, turn.answer, "up" if rating == "up" else "down", turn.history)
        except OSError:
            log.exception("could not store feedback")
            return render.status_html("Sorry, your feedback could not be saved.", ok=False)
        return render.status_html("Thanks — your feedback was saved.")


class DocumentsHandler:
    """The documents tab: list, upload (type and size checked here, server-side) and removal."""

    def __init__(self, library: DocumentLibrary, settings: Settings) -> None:
        self.library = library
        self.settings = settings

    def table(self) -> str:
        try:
            return render.documents_html(self.library.documents())
        except Exception:
            log.exception("could not list documents")
            return render.status_html("The document list is not available right now.", ok=False)

    def choices(self) -> list[tuple[str, str]]:
        try:
            return [(f"{d.title or d.doc_id} ({d.doc_id})", d.doc_id) for d in self.library.documents()]
        except Exception:
            log.exception("could not list documents")
            return []

    def check_file(self, path: Path) -> str | None:
        """Why ``path`` cannot be uploaded, or None if it can (``bot.serve.uploads.upload_problem``)."""
        problem = upload_problem(path, path.name, self.settings.max_upload_mb)
        return problem.message if problem else None

    def upload(self, files: list[str] | None, progress: Callable[[float, str], None] | None = None) -> str:
        paths = [Path(f) for f in files or []]
        if not paths:
            return render.status_html("Choose a file to add.", ok=False)
        if len(paths) > self.settings.max_upload_files:
            return render.status_html(f"Add at most {self.settings.max_upload_files} files at a time.", ok=False)
        checked = [(path, self.check_file(path)) for path in paths]
        lines = [problem for _, problem in checked if problem]
        accepted = [path for path, problem in checked if problem is None]
        if not accepted:
            return render.status_html("\n".join(lines), ok=False)
        try:
            result = self.library.add_files(accepted, progress)
        except Exception:
            log.exception("upload failed")
            return render.status_html(SORRY_DOCS, ok=False)
        lines += [f"{Path(name).name}: {reason}" for name, reason in result.failed.items()]
        if result.added:
            lines.insert(0, "Added and ready to ask about: " + ", ".join(result.added) + ".")
        ok = bool(result.added) and len(lines) == 1
        return render.status_html("\n".join(lines) or "Nothing was added.", ok=ok)

    def remove(self, doc_id: str | None) -> str:
        if not doc_id:
            return render.status_html("Choose a document to remove.", ok=False)
        try:
            removed = self.library.remove(doc_id)
        except Exception:
            log.exception("removing %s failed", doc_id)
            return render.status_html(SORRY_DOCS, ok=False)
        if not removed:
            return render.status_html(f"No document with id {doc_id}.", ok=False)
        return render.status_html(f"Removed {doc_id}; it is no longer used for answers.")
