"""Errors of the HTTP API, in one JSON shape: OpenAI's ``{"error": {"message", "type", "param", "code"}}``.

Every route under ``/api/`` and ``/v1/`` answers a problem this way, whoever raised it: the routes
(:class:`ApiError`), FastAPI's request validation (malformed JSON, wrong types), Starlette (body too large,
bad multipart), the pipeline (:mod:`bot.errors`) or a bug (500, details only in the server log). Other paths
(the page, the chat webhooks) keep their own error handling.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.errors import BusyError, ConfigError, ModelError, PolicyBotError, UserInputError

log = logging.getLogger(__name__)

API_PREFIXES = ("/api/", "/v1/")
BUSY_RETRY_AFTER_S = 5  # Retry-After of a 503 "model busy"; one answer takes about a second or two
_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "permission_error",
          404: "invalid_request_error", 405: "invalid_request_error", 413: "invalid_request_error",
          415: "invalid_request_error", 422: "invalid_request_error", 429: "rate_limit_error"}
_CODES = {400: "bad_request", 401: "invalid_api_key", 403: "insufficient_permissions", 404: "not_found",
          405: "method_not_allowed", 413: "request_too_large", 415: "unsupported_media_type",
          422: "invalid_value", 429: "rate_limit_exceeded", 503: "model_busy"}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {  # for the OpenAPI description of the routes
    code: {"description": text, "content": {"application/json": {"example": {"error": {
        "message": "...", "type": "invalid_request_error", "param": None, "code": "..."}}}}}
    for code, text in [(400, "malformed JSON or an empty question"), (401, "missing or wrong token"),
                       (413, "body over max_body_kb"), (422, "wrong types or unknown fields"),
                       (429, "rate limit of the token (Retry-After)"), (503, "model busy (Retry-After)")]
}


class ApiError(Exception):
    """A problem the client can act on: its status, a stable ``code`` and a message that names the fix."""

    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None,
                 retry_after: float | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _CODES.get(status, "error")
        self.param = param
        self.headers = dict(headers or {})
        if retry_after is not None:
            self.headers["Retry-After"] = str(max(1, round(retry_after)))

    def body(self) -> dict[str, Any]:
        kind = _TYPES.get(self.status, "server_error")
        return {"error": {"message": self.message, "type": kind, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


class DeclaredSizeLimit:
    """ASGI middleware: an API request whose Content-Length is over its path's limit gets a JSON 413 unread.

    The routes' own ``max_body_size`` counts a body sent without a length; this answers the declared case in
    the API's error shape (Starlette's limiter would answer it in plain text). ``limits``: (path pattern, bytes),
    the first match applies.
    """

    def __init__(self, app: ASGIApp, limits: list[tuple[re.Pattern[str], int]]) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope.get("path", "")
            limit = next((n for pattern, n in self.limits if pattern.match(path)), None)
            declared = Headers(scope=scope).get("content-length")
            if limit is not None and declared is not None:
                if not declared.isascii() or not declared.isdigit():
                    await ApiError(400, "Invalid Content-Length header.").response()(scope, receive, send)
                    return
                if int(declared) > limit:
                    error = ApiError(413, f"The request body is {int(declared)} bytes; the limit here is {limit} "
                                          "bytes (max_body_kb; uploads: max_upload_files x max_upload_mb).")
                    await error.response()(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def from_policybot(error: PolicyBotError) -> ApiError:
    """The API's answer to an error of the pipeline (``bot.errors``), translated once here."""
    if isinstance(error, BusyError):
        return ApiError(503, f"{error} (Retry-After says when)", code="model_busy", retry_after=BUSY_RETRY_AFTER_S)
    if isinstance(error, UserInputError):
        return ApiError(400, str(error), code="invalid_question", param="question")
    if isinstance(error, ConfigError | ModelError):
        return ApiError(503, str(error), code="not_available", retry_after=30)
    log.error("API request failed: %s", error)
    return ApiError(500, "The request failed; the details are in the server log.", code="internal_error")


def error_of(error: BaseException) -> ApiError:
    """Any exception raised while answering, as the API error to send (a bug is logged and is a 500)."""
    if isinstance(error, ApiError):
        return error
    if isinstance(error, PolicyBotError):
        return from_policybot(error)
    log.error("API answer failed", exc_info=error)
    return ApiError(500, "The answer failed; the details are in the server log.", code="internal_error")


def is_api_path(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIXES)


def _validation_message(exc: RequestValidationError) -> tuple[int, str, str | None]:
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        detail = next(e for e in errors if e.get("type") == "json_invalid").get("ctx", {}).get("error", "")
        return 400, f"Malformed JSON in the request body ({detail}). Send one JSON object.", None
    first = errors[0] if errors else {}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body",)]
    param = ".".join(loc) or None
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    where = f"'{param}': " if param else ""
    return 422, f"Invalid request: {where}{first.get('msg', 'invalid value')}{more}. See /docs for the schema.", param


def install_error_handlers(app: FastAPI) -> None:
    """Answer every problem under ``/api/`` and ``/v1/`` in the API's JSON error shape."""

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return exc.response()

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if not is_api_path(request):
            return await request_validation_exception_handler(request, exc)
        status, message, param = _validation_message(exc)
        if request.url.path.startswith("/v1/"):
            status = 400  # OpenAI answers every invalid request with 400
        return ApiError(status, message, param=param).response()

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if not is_api_path(request):
            return await http_exception_handler(request, exc)
        message = str(exc.detail)
        if exc.status_code == 413:
            message = f"The request body is too large ({message}); see the limits in /docs."
        return ApiError(exc.status_code, message, headers=dict(exc.headers or {})).response()

    async def on_policybot(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PolicyBotError)
        if not is_api_path(request):
            raise exc
        return from_policybot(exc).response()

    async def on_crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
        if not is_api_path(request):
            return Response("Internal Server Error", status_code=500, media_type="text/plain")
        return ApiError(500, "The request failed; the details are in the server log.", code="internal_error").response()

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(PolicyBotError, on_policybot)
    app.add_exception_handler(Exception, on_crash)
