"""Loopback servers for the webhook tests: a fake Slack Web API (plus response_url / incoming-webhook
endpoints) that records every call, and a helper that serves a FastAPI app with uvicorn in a thread.

The fake answers ``auth.test``, ``chat.postMessage``, ``chat.update`` and ``conversations.replies`` the way
Slack does (JSON ``{"ok": ...}``), keeps the messages it was sent per thread (with their metadata), and can be
told to fail the next N calls of a method with 500 or 429 (``fail("chat.postMessage", 500, 429)``).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import uvicorn


@dataclass
class Call:
    method: str  # Web API method ("chat.postMessage") or "response/<name>" / "hooks/<name>"
    params: dict[str, Any]
    status: int
    authorization: str = ""
    at: float = field(default_factory=time.monotonic)


def _truthy(value: Any) -> bool:
    return value in (True, 1, "1", "true", "True")


class FakeSlack:
    def __init__(self, token: str = "xoxb-test-token", bot_user_id: str = "UBOT", bot_id: str = "BBOT") -> None:
        self.token = token
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.calls: list[Call] = []
        self.threads: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._failures: dict[str, list[int]] = {}
        self._cond = threading.Condition()
        self._ts = 1_700_000_000
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    # --- lifecycle and URLs ------------------------------------------------------------------------
    def start(self) -> FakeSlack:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return f"{self.root}/api/"

    def response_url(self, name: str = "cmd") -> str:
        return f"{self.root}/response/{name}"

    def hook_url(self, name: str = "mm") -> str:
        return f"{self.root}/hooks/{name}"

    # --- scripting and inspection --------------------------------------------------------------------
    def fail(self, method: str, *statuses: int) -> None:
        """The next ``len(statuses)`` calls of ``method`` answer with these HTTP statuses (500, 429, ...)."""
        with self._cond:
            self._failures.setdefault(method, []).extend(statuses)

    def add_message(self, channel: str, thread_ts: str, message: dict[str, Any]) -> None:
        with self._cond:
            self.threads.setdefault((channel, thread_ts), []).append(message)

    def ok_calls(self, method: str) -> list[Call]:
        with self._cond:
            return [c for c in self.calls if c.method == method and c.status == 200]

    def all_calls(self, method: str) -> list[Call]:
        with self._cond:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    def wait_calls(self, method: str, n: int = 1, timeout: float = 10.0) -> list[Call]:
        self.wait_for(lambda: len([c for c in self.calls if c.method == method and c.status == 200]) >= n, timeout)
        return self.ok_calls(method)

    # --- the fake API itself -----------------------------------------------------------------------
    def _record(self, method: str, params: dict[str, Any], status: int, authorization: str) -> None:
        with self._cond:
            self.calls.append(Call(method, params, status, authorization))
            self._cond.notify_all()

    def _next_failure(self, method: str) -> int | None:
        with self._cond:
            queue = self._failures.get(method)
            return queue.pop(0) if queue else None

    def _api(self, method: str, params: dict[str, Any], authorization: str) -> tuple[int, dict[str, Any]]:
        if authorization != f"Bearer {self.token}":
            return 200, {"ok": False, "error": "invalid_auth"}
        if method == "auth.test":
            return 200, {"ok": True, "user_id": self.bot_user_id, "bot_id": self.bot_id, "team_id": "T1"}
        if method in ("chat.postMessage", "chat.update"):
            with self._cond:
                self._ts += 1
                ts = f"{self._ts}.000100"
            metadata = params.get("metadata")
            if isinstance(metadata, str):
                metadata = json.loads(metadata)
            message = {"type": "message", "user": self.bot_user_id, "bot_id": self.bot_id, "ts": ts,
                       "text": params.get("text", ""), "blocks": params.get("blocks"), "metadata": metadata}
            if method == "chat.postMessage" and params.get("thread_ts"):
                self.add_message(str(params["channel"]), str(params["thread_ts"]), message)
            return 200, {"ok": True, "channel": params.get("channel"), "ts": ts, "message": message}
        if method == "conversations.replies":
            with self._cond:
                messages = [dict(m) for m in self.threads.get((str(params.get("channel")), str(params.get("ts"))), [])]
            if not _truthy(params.get("include_all_metadata")):
                for m in messages:
                    m.pop("metadata", None)
            return 200, {"ok": True, "messages": messages, "has_more": False}
        return 200, {"ok": False, "error": "unknown_method"}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _params(self) -> dict[str, Any]:
                url = urllib.parse.urlsplit(self.path)
                params: dict[str, Any] = dict(urllib.parse.parse_qsl(url.query))
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if raw and "json" in (self.headers.get("Content-Type") or ""):
                    params.update(json.loads(raw))
                elif raw:
                    params.update(dict(urllib.parse.parse_qsl(raw.decode())))
                return params

            def _reply(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def _handle(self) -> None:
                path = urllib.parse.urlsplit(self.path).path.strip("/")
                params = self._params()
                authorization = self.headers.get("Authorization") or ""
                if path.startswith("api/"):
                    method = path[len("api/"):]
                elif path.startswith(("response/", "hooks/")):
                    method = path
                else:
                    self._reply(404, {"ok": False})
                    return
                failure = fake._next_failure(method.split("/")[0] if "/" in method else method)
                if failure is not None:
                    fake._record(method, params, failure, authorization)
                    error = "ratelimited" if failure == 429 else "internal_error"
                    self._reply(failure, {"ok": False, "error": error}, {"Retry-After": "0"})
                    return
                if method.startswith(("response/", "hooks/")):
                    status, payload = 200, {"ok": True}
                else:
                    status, payload = fake._api(method, params, authorization)
                fake._record(method, params, status, authorization)
                self._reply(status, payload)

            do_GET = _handle
            do_POST = _handle

        return Handler


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a loopback port in a thread; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
