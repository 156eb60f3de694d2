"""The HTTP API under test: the real app (``create_app``) served by uvicorn on a free loopback port.

Everything is real except the model and the embeddings: the pipeline, index, library, model queue, routes and
the page, over a copy of docs/ indexed with hashing embeddings, and a scripted model behind a real
``ModelQueue`` (optionally slow, so a test can disconnect in the middle of a stream).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from browser_support import free_port
from fakes import HashEmbeddings, ScriptedModel
from fixtures_docs import seed_workspace_settings

from bot.ingest.build import ingest
from bot.llm.model_queue import ModelQueue
from bot.reader.pipeline import Pipeline, build_pipeline
from bot.serve.app import create_app
from bot.settings import Settings

READER, WRITER = "reader-token-7f3a91", "writer-token-c52e08"
TOKENS = f"{READER},{WRITER}:write"
QUESTION = "Why were these five industries chosen?"
DRAFT = "The selection criteria mainly include strategic significance, knowledge and technology, and industrial foundation [1]."
CRITERIA = ("strategic significance", "knowledge and technology", "industrial foundation")


class SlowModel(ScriptedModel):
    """A scripted model that writes ``words`` pieces, one every ``every_s`` seconds (for every request)."""

    def __init__(self, words: int = 200, every_s: float = 0.05, draft: str = "") -> None:
        super().__init__()
        self.words, self.every_s, self.draft = words, every_s, draft
        self.pieces_written = 0

    def stream_chat(self, messages: list[dict[str, str]], *, max_tokens: int, temperature: float = 0.0,
                    stop: list[str] | None = None) -> Iterator[str]:
        self.prompts.append(messages)
        pieces = self.draft.split(" ") if self.draft else ["word"] * self.words
        for piece in pieces:
            time.sleep(self.every_s)
            self.pieces_written += 1
            yield piece + " "


class RepeatingModel(ScriptedModel):
    """Writes the same faithful draft for every request."""

    def stream_chat(self, messages: list[dict[str, str]], *, max_tokens: int, temperature: float = 0.0,
                    stop: list[str] | None = None) -> Iterator[str]:
        self.drafts = [DRAFT]
        yield from super().stream_chat(messages, max_tokens=max_tokens, temperature=temperature, stop=stop)


@dataclass
class Api:
    url: str
    settings: Settings
    pipeline: Pipeline
    app: Any

    @property
    def queue(self) -> ModelQueue:
        model = self.pipeline.model
        assert isinstance(model, ModelQueue)
        return model

    def client(self, token: str | None = READER, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=kwargs.pop("timeout", 60), **kwargs)

    def idle(self, timeout: float = 10.0) -> bool:
        """True once no answer runs or waits (model queue and API gate), within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.queue.running == 0 and self.queue.waiting == 0 and self.app.state.api_gate.busy == 0:
                return True
            time.sleep(0.05)
        return False


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; open streams get 3 s to end at shutdown."""
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning", timeout_graceful_shutdown=3)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the API server did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@contextlib.contextmanager
def api_server(root: Path, model: ScriptedModel | None = None, **overrides: Any) -> Iterator[Api]:
    values: dict[str, Any] = {"api_tokens": TOKENS, "rate_limit_per_minute": 1000, **overrides}
    settings = seed_workspace_settings(root, **values)
    embeddings = HashEmbeddings()
    ingest(settings, progress=False, embeddings=embeddings)
    queue = ModelQueue(model or RepeatingModel(), queue_size=settings.queue_size,
                       queue_timeout_s=settings.queue_timeout_s)
    pipeline = build_pipeline(settings, model=queue, embeddings=embeddings)
    app = create_app(settings, pipeline)
    with serve(app) as url:
        yield Api(url, settings, pipeline, app)


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    """(event, data) pairs of a server-sent-event stream; comments are ('comment', text)."""
    event, data = "message", []
    for line in lines:
        if line.startswith(":"):
            yield "comment", line[1:].strip()
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            text = "\n".join(data)
            yield event, (text if text == "[DONE]" else json.loads(text))
            event, data = "message", []


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The API's JSON error, checked for OpenAI's shape."""
    assert response.headers["content-type"].startswith("application/json"), response.text[:200]
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"], error
    return dict(error)
