"""The Gradio 6 chat page: streaming cited answers, a sources panel, feedback and a documents tab.

:func:`build_page` wires the handlers of ``bot.serve.page.handlers`` to Gradio components. :func:`mount_page`
mounts it on the server's FastAPI app; use it rather than ``gr.mount_gradio_app`` directly, because in
Gradio 6 the theme, CSS, auth, upload limit and error display are arguments of the mount, and these make
the page safe offline: system fonts only, analytics and run history off, no error text shown to users.

The page's events are private except one: ``/ask`` (``gr.api``), the page's own API for ``gradio_client``, under
the page's password and the chat's per-user rate limit and concurrency. Changing documents from a script goes
through the HTTP API (``bot.serve.api.documents``), which has tokens with write rights; a page password has no such split.

Layout: :func:`build_page` lays out the chat tab (:func:`chat_tab`) and the documents tab (:func:`documents_tab`),
then :func:`wire_events` connects their components to the callbacks of ``bot.serve.page.callbacks``.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("GRADIO_RUN_HISTORY", "False")

import gradio as gr  # noqa: E402
from fastapi import FastAPI  # noqa: E402

from bot.answer import AnswerService, DocumentLibrary  # noqa: E402
from bot.serve.feedback import FeedbackStore  # noqa: E402
from bot.serve.limits import RateLimiter  # noqa: E402
from bot.serve.page import render  # noqa: E402
from bot.serve.page.callbacks import PageCallbacks  # noqa: E402
from bot.serve.page.handlers import EXAMPLES, ChatHandler, DocumentsHandler  # noqa: E402
from bot.serve.uploads import UPLOAD_SUFFIXES  # noqa: E402
from bot.settings import Settings  # noqa: E402

INTRO = (
    '<div class="pb-intro"><h2>PolicyBot</h2><p>Answers come only from the indexed documents. '
    "Every claim is cited; hover or click a [n] to see its passage. If the documents do not say, "
    "the bot says so.</p></div>"
)
PLACEHOLDER = "Ask a question about the documents, or pick an example."


@dataclass(frozen=True)
class ChatTab:
    """The components of the "Ask" tab that events read or write."""

    chatbot: gr.Chatbot
    question: gr.Textbox
    note: gr.HTML
    sources: gr.HTML


@dataclass(frozen=True)
class DocumentsTab:
    """The components of the "Documents" tab that events read or write."""

    table: gr.HTML
    files: gr.File
    status: gr.HTML
    choice: gr.Dropdown
    remove_button: gr.Button


def page_theme() -> gr.themes.Base:
    """The default look with system fonts, so the page never fetches a font from the network."""
    return gr.themes.Default(
        font=["system-ui", "-apple-system", "Segoe UI", "Noto Sans", "sans-serif"],
        font_mono=["ui-monospace", "DejaVu Sans Mono", "monospace"],
    )


def build_page(
    service: AnswerService,
    library: DocumentLibrary,
    settings: Settings,
    feedback: FeedbackStore | None = None,
) -> gr.Blocks:
    """The page as a ``gr.Blocks``; mount it with :func:`mount_page`."""
    chat = ChatHandler(service, settings, RateLimiter(settings.rate_limit_per_minute), feedback)
    callbacks = PageCallbacks(chat, DocumentsHandler(library, settings), settings)
    with gr.Blocks(title="PolicyBot", analytics_enabled=False, fill_height=True) as page:
        gr.HTML(INTRO)
        with gr.Tabs():
            ask = chat_tab(settings)
            documents = documents_tab(settings)
        turns = gr.State([])
        wire_events(page, callbacks, ask, documents, turns, settings)
    page.queue(default_concurrency_limit=4)
    return page


def chat_tab(settings: Settings) -> ChatTab:
    """The "Ask" tab: the conversation, the question box and the feedback note; the sources panel beside them."""
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
    return ChatTab(chatbot=chatbot, question=question, note=note, sources=sources)


def documents_tab(settings: Settings) -> DocumentsTab:
    """The "Documents" tab: the document table, the upload box with its status, and removing a document."""
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
    return DocumentsTab(table=table, files=files, status=status, choice=choice, remove_button=remove_button)


def wire_events(
    page: gr.Blocks,
    callbacks: PageCallbacks,
    ask: ChatTab,
    documents: DocumentsTab,
    turns: gr.State,
    settings: Settings,
) -> None:
    """Connect the components to the callbacks. Every event is private except the page's API, ``/ask``."""
    chat_io: dict[str, Any] = {
        "inputs": [ask.question, turns],
        "outputs": [ask.question, ask.chatbot, ask.sources, turns],
        "concurrency_limit": settings.queue_size + 1,
        "concurrency_id": "answer",  # the chat and the page's API (/ask) share one limit
        "api_visibility": "private",
        "show_progress": "hidden",
    }
    ask.question.submit(callbacks.respond, **chat_io)
    ask.chatbot.example_select(callbacks.pick_example, None, ask.question, api_visibility="private").then(
        callbacks.respond, **chat_io
    )
    ask.chatbot.like(callbacks.rate, [turns], ask.note, api_visibility="private")
    ask.chatbot.clear(callbacks.clear, None, [turns, ask.sources, ask.note], api_visibility="private")
    documents.files.upload(
        callbacks.upload,
        documents.files,
        [documents.status, documents.table, documents.choice, documents.files],
        concurrency_limit=1,
        api_visibility="private",
    )
    documents.remove_button.click(
        callbacks.remove,
        documents.choice,
        [documents.status, documents.table, documents.choice],
        concurrency_limit=1,
        api_visibility="private",
    )
    page.load(callbacks.refresh_docs, None, [documents.table, documents.choice], api_visibility="private")
    gr.api(callbacks.ask_api, api_name="ask", concurrency_limit=settings.queue_size + 1, concurrency_id="answer")


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
