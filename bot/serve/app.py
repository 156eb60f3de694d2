"""One server process: the Gradio page at ``/``, the HTTP API (``/api/v1``, ``/v1``, ``/docs``), the webhook
routes, and ``GET /healthz``.

The pipeline (model, embeddings, index) is built once here and handed to each front end.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from bot.errors import PolicyBotError
from bot.settings import Settings

log = logging.getLogger(__name__)

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

API_DESCRIPTION = (
    "Offline question answering over policy documents, every claim cited. `/api/v1` is PolicyBot's own API "
    "(ask, documents, jobs); `/v1` is OpenAI-compatible (chat completions, models). Every API route needs "
    "`Authorization: Bearer <token>` (POLICYBOT_API_TOKENS). The chat page is at `/`."
)


def create_app(settings: Settings, pipeline: Any = None) -> FastAPI:
    """The ASGI app. ``pipeline`` defaults to ``build_pipeline(settings)`` (tests may pass their own)."""
    from fastapi_offline import FastAPIOffline

    from bot.reader.pipeline import build_pipeline
    from bot.serve.api.routes import mount_api
    from bot.serve.chat.routes import build_webhook_router
    from bot.serve.library import Library
    from bot.serve.page.page import mount_page

    started = time.perf_counter()
    pipeline = pipeline or build_pipeline(settings)
    library = Library(pipeline)
    ready = threading.Event()
    status: dict[str, Any] = {"warm_up_error": ""}

    def warm_up() -> None:
        try:
            pipeline.warm_up()
        except PolicyBotError as exc:
            status["warm_up_error"] = str(exc)
            log.error("warm-up failed: %s", exc)
        finally:
            status["ready_s"] = round(time.perf_counter() - started, 3)
            ready.set()
        if not status["warm_up_error"]:
            try:
                pipeline.prime()
            except PolicyBotError as exc:  # only the first answer is slower
                log.warning("could not prime the model's prompt cache: %s", exc)

    router = build_webhook_router(pipeline, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
        yield
        state = getattr(router, "state", None)
        if state is not None and hasattr(state, "drain"):
            await state.drain(10.0)

    app = FastAPIOffline(title="PolicyBot", version="0.1.0", lifespan=lifespan, docs_url="/docs", redoc_url=None,
                         description=API_DESCRIPTION,  # /docs: Swagger UI from a local copy, no CDN,
                         swagger_ui_parameters={"validatorUrl": None})  # and no online validator
    app.state.pipeline = pipeline
    app.state.library = library
    app.state.started = started

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        try:
            info = pipeline.health()
        except Exception as exc:  # a health check must answer, whatever broke
            log.exception("health check failed")
            return JSONResponse({"ok": False, "error": type(exc).__name__}, status_code=503)
        model_ok = bool(info.get("model", {}).get("ok")) and not status["warm_up_error"]
        ok = ready.is_set() and model_ok and info["index"]["chunks"] > 0
        body = {"ok": ok, "ready": ready.is_set(), "model_loaded": model_ok, "index_loaded": True,
                "documents": info["index"]["documents"], "chunks": info["index"]["chunks"],
                "warm_up_error": status["warm_up_error"], "ready_s": status.get("ready_s"), **info}
        return JSONResponse(body, status_code=200 if ok else 503)

    app.include_router(router)
    mount_api(app, pipeline, library, settings)
    return mount_page(app, pipeline, library, settings)


def serve(settings: Settings) -> None:
    import uvicorn

    app = create_app(settings)
    log.info("PolicyBot on http://%s:%s", settings.host, settings.port)
    uvicorn.run(app, host=settings.host, port=settings.port, workers=1, log_level="info", access_log=False)
