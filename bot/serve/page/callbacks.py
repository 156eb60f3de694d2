"""The Gradio event callbacks of the chat page, bound to one chat handler and one documents handler.

:class:`PageCallbacks` adapts the plain-Python handlers of ``bot.serve.page.handlers`` to Gradio: it turns the
``gr.Request`` into a rate-limit key, Gradio's event data (``gr.SelectData``, ``gr.LikeData``, ``gr.Progress``)
into plain values, and errors of the page's API (``/ask``) into ``gr.Error``. ``bot.serve.page.page`` lays out the
components and wires these callbacks to them. The method names are the names Gradio gives the events.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("GRADIO_RUN_HISTORY", "False")

import gradio as gr  # noqa: E402

from bot.answer import Answer  # noqa: E402
from bot.errors import BusyError, UserInputError  # noqa: E402
from bot.serve.api.format import public_answer  # noqa: E402
from bot.serve.page import render  # noqa: E402
from bot.serve.page.handlers import SORRY, ChatHandler, ChatTurn, DocumentsHandler, busy_message  # noqa: E402
from bot.settings import Settings  # noqa: E402

log = logging.getLogger("bot.serve.page.page")  # the page's logger, so its log lines keep one name


def client_key(request: gr.Request | None) -> str:
    """Who is asking, for the rate limit: the page user, else the client's address, else the session."""
    if request is None:
        return ""
    if request.username:
        return f"user:{request.username}"
    client = getattr(request, "client", None)
    host = getattr(client, "host", None)
    return f"ip:{host}" if host else f"session:{request.session_hash}"


class PageCallbacks:
    """One callback per page event; each only translates between Gradio and the handlers."""

    def __init__(self, chat: ChatHandler, docs: DocumentsHandler, settings: Settings) -> None:
        self.chat = chat
        self.docs = docs
        self.settings = settings

    def respond(self, question: str, turns: list[ChatTurn], request: gr.Request) -> Iterator[tuple[Any, ...]]:
        yield from self.chat.respond(question, turns, client_key(request))

    def ask_api(self, question: str, history: list[dict[str, str]] | None = None,
                request: gr.Request = None) -> Iterator[dict[str, Any]]:  # type: ignore[assignment]
        """Ask a question about the documents. `history`: earlier turns, [{"role": "user" | "assistant",
        "content": ...}]. Yields progress and draft updates; the last value is the checked answer: text with [n]
        markers, citations (passage, offsets, source_path), status, trace. Same password and rate limit as the page."""
        try:
            yield from self.chat.api_answer(question, history, client_key(request), self.public)
        except BusyError as error:
            raise gr.Error(busy_message(error)) from None
        except UserInputError as error:
            raise gr.Error(str(error)) from None
        except Exception:
            log.exception("page API question failed")
            raise gr.Error(SORRY) from None

    def public(self, answer: Answer) -> dict[str, Any]:
        # gradio_client takes any dict with a "path" key for a file to download: the citations' path is "source_path"
        body = public_answer(answer, self.settings)
        body["citations"] = [{("source_path" if k == "path" else k): v for k, v in c.items()} for c in body["citations"]]
        return body

    @staticmethod
    def pick_example(selection: gr.SelectData) -> str:
        value = selection.value
        return str(value.get("text", "")) if isinstance(value, dict) else str(value)

    def rate(self, turns: list[ChatTurn], data: gr.LikeData) -> str:
        return self.chat.rate(turns, data.index, data.liked)

    @staticmethod
    def clear() -> tuple[list[ChatTurn], str, str]:
        return [], render.sources_html([]), ""

    def refresh_docs(self) -> tuple[str, Any]:
        return self.docs.table(), gr.Dropdown(choices=self.docs.choices(), value=None)

    def upload(self, files: list[str] | None, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        def report(fraction: float, message: str) -> None:
            progress(fraction, desc=message)

        status = self.docs.upload(files, report)
        return (status, *self.refresh_docs(), None)

    def remove(self, doc_id: str | None) -> tuple[Any, ...]:
        return (self.docs.remove(doc_id), *self.refresh_docs())
