"""The HTTP API other tools use: ``POST /api/v1/ask`` (JSON or server-sent events), and :func:`mount_api`.

``mount_api(app, pipeline, library, settings)`` adds, before the page is mounted at ``/``:

- ``POST /api/v1/ask`` (here): the ``Answer`` contract as JSON, or with ``"stream": true`` server-sent events
  ``progress``, ``token`` (the model's draft, ``"checked": false``), then one ``answer`` (``"checked": true``) or
  one ``error``;
- the OpenAI-compatible ``/v1/chat/completions`` and ``/v1/models`` (``bot.serve.api.openai``);
- documents and ingest jobs under ``/api/v1/documents`` and ``/api/v1/jobs`` (``bot.serve.api.documents``).

Every route needs a bearer token (``bot.serve.api.auth``); questions count against the token's rate limit and pass
the same model queue as the page and the webhooks. Bodies are limited to ``max_body_kb`` (uploads to
``max_upload_files`` x ``max_upload_mb``); every problem is a JSON error (``bot.serve.api.errors``).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from bot.answer import Answer, AnswerService, DocumentLibrary, Final, Progress, Scope, Token, Turn
from bot.reader.pipeline import clean_question
from bot.serve.api.auth import Access, Reader
from bot.serve.api.documents import build_documents_router, upload_limit
from bot.serve.api.errors import (
    ERROR_RESPONSES,
    ApiError,
    DeclaredSizeLimit,
    error_of,
    install_error_handlers,
)
from bot.serve.api.format import SSE_HEADERS, public_answer, sse
from bot.serve.api.openai import build_openai_router
from bot.serve.api.stream import (
    KEEPALIVE_S,
    AnswerGate,
    EventPump,
    Failed,
    Idle,
    check_model_queue,
    final_unless_disconnected,
)
from bot.settings import Settings


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    role: Literal["user", "assistant"]
    content: str


class ScopeFilter(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    doc_ids: list[str] = Field(default_factory=list)
    titles: list[str] = Field(default_factory=list)
    paths: list[str] = Field(default_factory=list)


class AskRequest(BaseModel):
    """A question, the conversation before it, and optionally the documents to search."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [
        {"question": "Why were these five industries chosen?"},
        {"question": "And for 2030?", "history": [{"role": "user", "content": "What goals are set for 2025?"},
                                                   {"role": "assistant", "content": "..."}], "stream": True}]})
    question: str = Field(description="The question (at most max_question_chars).")
    history: list[Message] = Field(default_factory=list, max_length=50,
                                   description="Earlier turns, oldest first: a follow-up is rewritten from them.")
    scope: str | list[str] | ScopeFilter | None = Field(
        None, description="Only search these documents: a doc id, a list of ids, or {doc_ids, titles, paths}.")
    stream: bool = Field(False, description="Server-sent events (progress, draft tokens, the checked answer).")


def to_scope(scope: str | list[str] | ScopeFilter | None) -> Scope | None:
    if scope is None:
        return None
    if isinstance(scope, str):
        return Scope(doc_ids=(scope,))
    if isinstance(scope, list):
        return Scope(doc_ids=tuple(scope))
    return Scope(tuple(scope.doc_ids), tuple(scope.titles), tuple(scope.paths))


def build_ask_router(service: AnswerService, settings: Settings, access: Access, gate: AnswerGate) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["ask"])

    async def events(pump: EventPump) -> Any:
        try:
            async for item in pump.events(KEEPALIVE_S):
                if isinstance(item, Idle):
                    yield ": keep-alive\n\n"
                elif isinstance(item, Progress):
                    yield sse("progress", {"message": item.message})
                elif isinstance(item, Token):
                    yield sse("token", {"text": item.text, "checked": False})
                elif isinstance(item, Final):
                    yield sse("answer", {**public_answer(item.answer, settings), "checked": True})
                elif isinstance(item, Failed):
                    error = error_of(item.error)
                    yield sse("error", {**error.body(), "retry_after": error.headers.get("Retry-After")})
        finally:
            pump.cancel()  # the client went away mid-stream (no-op once the answer is complete)

    @router.post("/ask", response_model=Answer, responses=ERROR_RESPONSES, max_body_size=settings.max_body_kb * 1024,
                 summary="Ask a question: the checked, cited answer as JSON, or streamed as server-sent events")
    async def ask(body: AskRequest, request: Request, caller: Reader) -> Response:
        access.limit(caller)
        question = clean_question(body.question, settings.max_question_chars)
        history = [Turn(m.role, m.content) for m in body.history]
        scope = to_scope(body.scope)
        check_model_queue(service)
        pump = EventPump(lambda: service.stream(question, history, scope), gate)
        if body.stream:
            return StreamingResponse(events(pump), media_type="text/event-stream", headers=SSE_HEADERS)
        answer = await final_unless_disconnected(pump, request.is_disconnected)
        if answer is None:
            return Response(status_code=499)  # nobody is listening any more
        return JSONResponse(public_answer(answer, settings))

    return router


def mount_api(app: FastAPI, service: AnswerService, library: DocumentLibrary, settings: Settings) -> Access:
    """Add the HTTP API's routes and error handling to ``app`` (call before mounting the page at ``/``)."""
    access = Access(settings)
    app.state.api_access = access
    gate = AnswerGate(settings.queue_size + 1)
    install_error_handlers(app)
    routers = [build_ask_router(service, settings, access, gate), build_openai_router(service, settings, access, gate),
               build_documents_router(library, settings, access)]
    known = [(route.path_regex, route.methods or set()) for router in routers for route in router.routes
             if isinstance(route, APIRoute)]
    for router in routers:
        app.include_router(router)
    app.state.api_gate = gate

    async def unknown_route(request: Request, rest: str) -> Response:
        allowed = sorted({m for regex, methods in known if regex.match(request.url.path) for m in methods})
        if allowed:
            raise ApiError(405, f"{request.method} is not allowed on {request.url.path}; use {', '.join(allowed)}.",
                           headers={"Allow": ", ".join(allowed)})
        raise ApiError(404, f"No API route {request.url.path}; /docs lists them.")

    for prefix in ("/api", "/v1"):  # an unknown API path answers JSON, not the page's 404
        app.add_api_route(prefix + "/{rest:path}", unknown_route, include_in_schema=False,
                          methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
    app.add_middleware(DeclaredSizeLimit, limits=[(re.compile(r"^/api/v1/documents/?$"), upload_limit(settings)),
                                                  (re.compile(r"^/(api|v1)/"), settings.max_body_kb * 1024)])
    return access
