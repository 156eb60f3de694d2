"""The Gradio 6 chat page: streaming cited answers, a sources panel, feedback and a documents tab.

:func:`build_page` wires the handlers of ``bot.serve.page.handlers`` to Gradio components. :func:`mount_page`
mounts it on the server's FastAPI app; use it rather than ``gr.mount_gradio_app`` directly, because in
Gradio 6 the theme, CSS, auth, upload limit and error display are arguments of the mount, and these make
the page safe offline: system fonts only, analytics and run history off, no error text shown to users.

The page's events are private except one: ``/ask`` (``gr.api``), the page's own API for ``gradio_client``, under
the page's password and the chat's per-user rate limit and concurrency. Changing documents from a script goes
through the HTTP API (``bot.serve.api.documents``), which has tokens with write rights; a page password has no such split.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Iterator
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("GRADIO_RUN_HISTORY", "False")

import gradio as gr  # noqa: E402
from fastapi import FastAPI  # noqa: E402

from bot.answer import Answer, AnswerService, DocumentLibrary  # noqa: E402
from bot.errors import BusyError, UserInputError  # noqa: E402
from bot.serve.api.format import public_answer  # noqa: E402
from bot.serve.feedback import FeedbackStore  # noqa: E402
from bot.serve.limits import RateLimiter  # noqa: E402
from bot.serve.page import render  # noqa: E402
from bot.serve.page.handlers import (  # noqa: E402
    EXAMPLES,
    SORRY,
    ChatHandler,
    ChatTurn,
    DocumentsHandler,
    busy_message,
)
from bot.serve.uploads import UPLOAD_SUFFIXES  # noqa: E402
from bot.settings import Settings  # noqa: E402

log = logging.getLogger(__name__)

INTRO = (
    '<div class="pb-intro"><h2>PolicyBot</h2><p>Answers come only from the indexed documents. '
    "Every claim is cited; hover or click a [n] to see its passage. If the documents do not say, "
    "the bot says so.</p></div>"
)
PLACEHOLDER = "Ask a question about the documents, or pick an example."


def page_theme() -> gr.themes.Base:
    """The default look with system fonts, so the page never fetches a font from the network."""
    return gr.themes.Default(
        font=["system-ui", "-apple-system", "Segoe UI", "Noto Sans", "sans-serif"],
        font_mono=["ui-monospace", "DejaVu Sans Mono", "monospace"],
    )


def _client_key(request: gr.Request | None) -> str:
    if request is None:
        return ""
    if request.username:
        return f"user:{request.username}"
    client = getattr(request, "client", None)
    host = getattr(client, "host", None)
    return f"ip:{host}" if host else f"session:{request.session_hash}"


def build_page(
    service: AnswerService,
    library: DocumentLibrary,
    settings: Settings,
    feedback: FeedbackStore | None = None,
) -> gr.Blocks:
    """The page as a ``gr.Blocks``; mount it with :func:`mount_page`."""
    chat = ChatHandler(service, settings, RateLimiter(settings.rate_limit_per_minute), feedback)
    docs = DocumentsHandler(library, settings)

    def respond(question: str, turns: list[ChatTurn], request: gr.Request) -> Iterator[tuple[Any, ...]]:
        yield from chat.respond(question, turns, _client_key(request))

    def ask_api(question: str, history: list[dict[str, str]] | None = None,
                request: gr.Request = None) -> Iterator[dict[str, Any]]:  # type: ignore[assignment]
        """Ask a question about the documents. `history`: earlier turns, [{"role": "user" | "assistant",
        "content": ...}]. Yields progress and draft updates; the last value is the checked answer: text with [n]
        markers, citations (passage, offsets, source_path), status, trace. Same password and rate limit as the page."""
        try:
            yield from chat.api_answer(question, history, _client_key(request), public)
        except BusyError as error:
            raise gr.Error(busy_message(error)) from None
        except UserInputError as error:
            raise gr.Error(str(error)) from None
        except Exception:
            log.exception("page API question failed")
            raise gr.Error(SORRY) from None

    def public(answer: Answer) -> dict[str, Any]:
        # gradio_client takes any dict with a "path" key for a file to download: the citations' path is "source_path"
        body = public_answer(answer, settings)
        body["citations"] = [{("source_path" if k == "path" else k): v for k, v in c.items()} for c in body["citations"]]
        return body

    def pick_example(selection: gr.SelectData) -> str:
        value = selection.value
        return str(value.get("text", "")) if isinstance(value, dict) else str(value)

    def rate(turns: list[ChatTurn], data: gr.LikeData) -> str:
        return chat.rate(turns, data.index, data.liked)

    def clear() -> tuple[list[ChatTurn], str, str]:
        return [], render.sources_html([]), ""

    def refresh_docs() -> tuple[str, Any]:
        return docs.table(), gr.Dropdown(choices=docs.choices(), value=None)

    def upload(files: list[str] | None, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        def report(fraction: float, message: str) -> None:
            progress(fraction, desc=message)

        status = docs.upload(files, report)
        return (status, *refresh_docs(), None)

    def remove(doc_id: str | None) -> tuple[Any, ...]:
        return (docs.remove(doc_id), *refresh_docs())

    with gr.Blocks(title="PolicyBot", analytics_enabled=False, fill_height=True) as page:
        gr.HTML(INTRO)
        with gr.Tabs():
            with gr.Tab("Ask", id="ask", elem_id="pb-tab-ask"), gr.Row(equal_height=False):
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(
                        label="Conversation",
                        elem_id="pb-chat",
                        height=560,
                        placeholder=PLACEHOLDER,
                        examples=[{"text": q} for q in (settings.example_questions or EXAMPLES)],
                        sanitize_html=True,
                        render_markdown=True,
                        allow_tags=False,
                        latex_delimiters=[],
                        feedback_options=("Like", "Dislike"),
                        buttons=["copy"],
                        allow_file_downloads=False,
                    )
                    question = gr.Textbox(
                        show_label=False,
                        placeholder="Ask about the documents and press Enter",
                        elem_id="pb-question",
                        max_lines=4,
                        submit_btn=True,
                    )
                    note = gr.HTML("", elem_id="pb-feedback-note")
                with gr.Column(scale=2):
                    sources = gr.HTML(render.sources_html([]), elem_id="pb-sources")
            with gr.Tab("Documents", id="documents", elem_id="pb-tab-documents"):
                table = gr.HTML(elem_id="pb-docs")
                files = gr.File(
                    label=f"Add documents ({' '.join(UPLOAD_SUFFIXES)}; up to {settings.max_upload_mb:g} MB each)",
                    file_count="multiple",
                    file_types=list(UPLOAD_SUFFIXES),
                    type="filepath",
                    elem_id="pb-upload",
                )
                status = gr.HTML("", elem_id="pb-upload-status")
                with gr.Row():
                    choice = gr.Dropdown(label="Remove a document", choices=[], elem_id="pb-remove-choice", scale=3)
                    remove_button = gr.Button("Remove", variant="stop", elem_id="pb-remove", scale=1)
        turns = gr.State([])

        chat_io: dict[str, Any] = {
            "inputs": [question, turns],
            "outputs": [question, chatbot, sources, turns],
            "concurrency_limit": settings.queue_size + 1,
            "concurrency_id": "answer",  # the chat and the page's API (/ask) share one limit
            "api_visibility": "private",
            "show_progress": "hidden",
        }
        question.submit(respond, **chat_io)
        chatbot.example_select(pick_example, None, question, api_visibility="private").then(respond, **chat_io)
        chatbot.like(rate, [turns], note, api_visibility="private")
        chatbot.clear(clear, None, [turns, sources, note], api_visibility="private")
        files.upload(
            upload, files, [status, table, choice, files], concurrency_limit=1, api_visibility="private"
        )
        remove_button.click(remove, choice, [status, table, choice], concurrency_limit=1, api_visibility="private")
        page.load(refresh_docs, None, [table, choice], api_visibility="private")
        gr.api(ask_api, api_name="ask", concurrency_limit=settings.queue_size + 1, concurrency_id="answer")
    page.queue(default_concurrency_limit=4)
    return page


def mount_page(
    app: FastAPI,
    service: AnswerService,
    library: DocumentLibrary,
    settings: Settings,
    path: str = "/",
    feedback: FeedbackStore | None = None,
) -> FastAPI:
    """Mount the page on ``app`` at ``path`` with the offline/production settings (see module doc)."""
    password = settings.page_password.get_secret_value()

    def check(_user: str, given: str) -> bool:
        return hmac.compare_digest(given.encode(), password.encode())

    return gr.mount_gradio_app(
        app,
        build_page(service, library, settings, feedback),
        path=path,
        footer_links=[],
        run_history=False,
        auth=check if password else None,
        auth_message="Enter the page password (any user name)." if password else None,
        show_error=False,
        max_file_size=int(settings.max_upload_mb * 1024 * 1024),
        ssr_mode=False,
        mcp_server=False,
        theme=page_theme(),
        css=render.PAGE_CSS,
    )
