"""PolicyBot as an OpenAI-compatible "model": ``POST /v1/chat/completions`` and ``GET /v1/models``.

So the ``openai`` client, LangChain's ``ChatOpenAI``, Open WebUI or LibreChat can use it with a base URL of
``http://host:7860/v1`` and an API token as the key. The last message is the question (it must be the user's);
earlier user and assistant messages are the history; system and tool messages are ignored (the pipeline has
its own prompt). The reply's content is the checked answer with its ``[n]`` markers and a sources list; the
citations and the status also come as structured fields (``citations``, ``status``) beside ``choices``.

Streaming sends the checked answer only, never the unchecked draft (a client shows what it receives): a role
chunk at once, keep-alive comments while the pipeline works, then the answer in pieces, a last chunk with
``finish_reason`` and the citations, an optional usage chunk, and ``data: [DONE]``.

Parameters that steer sampling (temperature, max_tokens, top_p, stop, seed, ...) are accepted and ignored:
the pipeline decides how the model writes. Those that ask for something PolicyBot cannot do are rejected
with OpenAI's error shape: ``n`` > 1, a required tool call, image or audio content.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from bot.answer import Answer, AnswerService, Final, Turn
from bot.reader.pipeline import clean_question
from bot.serve.api.auth import Access, Reader
from bot.serve.api.errors import ERROR_RESPONSES, ApiError, error_of
from bot.serve.api.format import SSE_HEADERS, answer_text, public_answer, without_sources
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

CREATED = int(time.time())


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatRequest(BaseModel):
    """OpenAI's chat-completion request; unknown and sampling parameters are accepted and ignored."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [
        {"model": "policybot", "messages": [{"role": "user", "content": "Why were these five industries chosen?"}]}]})
    model: str
    messages: list[ChatMessage] = Field(min_length=1, max_length=100)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int | None = None
    tool_choice: str | dict[str, Any] | None = None


def text_of(message: ChatMessage, index: int) -> str:
    if message.content is None or isinstance(message.content, str):
        return message.content or ""
    parts = []
    for part in message.content:
        if part.type != "text":
            raise ApiError(400, f"PolicyBot reads text only; messages[{index}] has a '{part.type}' part.",
                           param=f"messages.{index}.content", code="unsupported_content")
        parts.append(part.text or "")
    return "\n".join(parts)


def question_and_history(body: ChatRequest) -> tuple[str, list[Turn]]:
    if body.n is not None and body.n != 1:
        raise ApiError(400, "PolicyBot writes one answer per request: n must be 1.", param="n", code="unsupported_value")
    choice = body.tool_choice
    if choice not in (None, "none", "auto"):
        raise ApiError(400, "PolicyBot does not call tools: tool_choice must be 'none' or 'auto'.",
                       param="tool_choice", code="unsupported_value")
    last = len(body.messages) - 1
    if body.messages[last].role != "user":
        raise ApiError(400, "The last message must be the user's question.", param=f"messages.{last}.role")
    history = []
    for i, message in enumerate(body.messages[:last]):
        if message.role in ("user", "assistant"):
            history.append(Turn(message.role, without_sources(text_of(message, i))))  # type: ignore[arg-type]
    return text_of(body.messages[last], last), history


def usage(answer: Answer) -> dict[str, int]:
    prompt, completion = answer.trace.prompt_tokens, answer.trace.completion_tokens
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def build_openai_router(service: AnswerService, settings: Settings, access: Access, gate: AnswerGate) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["openai-compatible"])
    model_card = {"id": settings.api_model_name, "object": "model", "created": CREATED, "owned_by": "policybot"}

    def check_model(name: str) -> None:
        if name != settings.api_model_name:
            raise ApiError(404, f"The model '{name}' does not exist; use '{settings.api_model_name}' "
                                "(GET /v1/models, setting api_model_name).", param="model", code="model_not_found")

    def extra(answer: Answer) -> dict[str, Any]:
        data = public_answer(answer, settings)
        return {"citations": data["citations"], "status": data["status"]}

    async def chunks(pump: EventPump, ident: str, include_usage: bool) -> AsyncIterator[str]:
        import json

        def chunk(delta: dict[str, Any], finish: str | None = None, **more: Any) -> str:
            body = {"id": ident, "object": "chat.completion.chunk", "created": int(time.time()),
                    "model": settings.api_model_name,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **more}
            return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

        try:
            yield chunk({"role": "assistant", "content": ""})
            quiet_since = time.monotonic()
            async for item in pump.events(KEEPALIVE_S):
                if not isinstance(item, Final | Failed):  # the draft is not sent: say we are alive now and then
                    if isinstance(item, Idle) or time.monotonic() - quiet_since >= KEEPALIVE_S:
                        quiet_since = time.monotonic()
                        yield ": keep-alive\n\n"
                elif isinstance(item, Failed):
                    yield f"data: {json.dumps(error_of(item.error).body(), ensure_ascii=False)}\n\n"
                    return
                elif isinstance(item, Final):
                    answer = item.answer
                    for piece in re.findall(r"\s*\S+", answer_text(answer)):
                        yield chunk({"content": piece})
                    yield chunk({}, "stop", **extra(answer))
                    if include_usage:
                        body = {"id": ident, "object": "chat.completion.chunk", "created": int(time.time()),
                                "model": settings.api_model_name, "choices": [], "usage": usage(answer)}
                        yield f"data: {json.dumps(body)}\n\n"
                    yield "data: [DONE]\n\n"
                    return
        finally:
            pump.cancel()

    @router.get("/models", summary="The one model: PolicyBot")
    async def models(caller: Reader) -> dict[str, Any]:
        return {"object": "list", "data": [model_card]}

    @router.get("/models/{model}", summary="One model by id")
    async def model(model: str, caller: Reader) -> dict[str, Any]:
        check_model(model)
        return model_card

    @router.post("/chat/completions", responses=ERROR_RESPONSES, max_body_size=settings.max_body_kb * 1024,
                 summary="OpenAI-compatible chat completion: the checked, cited answer to the last user message")
    async def chat_completions(body: ChatRequest, request: Request, caller: Reader) -> Response:
        check_model(body.model)
        question, history = question_and_history(body)
        access.limit(caller)
        question = clean_question(question, settings.max_question_chars)
        check_model_queue(service)
        pump = EventPump(lambda: service.stream(question, history, None), gate)
        ident = f"chatcmpl-{secrets.token_hex(12)}"
        if body.stream:
            include = bool(body.stream_options and body.stream_options.include_usage)
            return StreamingResponse(chunks(pump, ident, include), media_type="text/event-stream", headers=SSE_HEADERS)
        answer = await final_unless_disconnected(pump, request.is_disconnected)
        if answer is None:
            return Response(status_code=499)
        message = {"role": "assistant", "content": answer_text(answer), "refusal": None}
        return JSONResponse({"id": ident, "object": "chat.completion", "created": int(time.time()),
                             "model": settings.api_model_name,
                             "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
                             "usage": usage(answer), **extra(answer)})

    return router
