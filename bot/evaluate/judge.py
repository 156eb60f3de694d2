"""The eval's optional model judge: a second model's probability that a cited passage supports a sentence.

``policybot eval --judge-model FILE.gguf | --judge-url URL`` and ``policybot faithfulness`` use it. The prompt
is ``prompts/judge.v1.yaml``; the score is P("yes") / (P("yes") + P("no")) for the reply's first token, read
from the model's own distribution (in process: llama.cpp's logits; a server: the OpenAI ``top_logprobs``).
How far to trust it is measured, not assumed: its accuracy on the hand-labelled suite and its agreement with
the strict metrics are reported beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from bot.errors import ModelError
from bot.llm.prompts import Prompt, load_prompt
from bot.llm.yes_no import NO, YES, p_yes


class Judge:
    """``p_supported(sentence, passage)``: in process (a GGUF file) or through an OpenAI-compatible server."""

    def __init__(self, prompts_dir: Path, *, model_path: str = "", url: str = "", n_ctx: int = 2048,
                 n_threads: int = 0, timeout_s: float = 60.0) -> None:
        if bool(model_path) == bool(url):
            raise ValueError("give exactly one of model_path and url")
        self.prompt: Prompt = load_prompt(prompts_dir, "judge")
        self.url = url.rstrip("/")
        self.name = Path(model_path).name if model_path else url
        self._model: Any = None
        self._client: httpx.Client | None = None
        if model_path:
            from bot.llm.local import LlamaCppModel

            self._model = LlamaCppModel(model_path, n_ctx=n_ctx, n_threads=n_threads)
        else:
            self._client = httpx.Client(timeout=timeout_s)

    def messages(self, sentence: str, passage: str) -> list[dict[str, str]]:
        return self.prompt.render(passage=passage, statement=sentence)

    def p_supported(self, sentence: str, passage: str) -> float:
        messages = self.messages(sentence, passage[:4000])
        if self._model is not None:
            return p_yes(self._model.next_token_logprobs(messages, YES + NO))
        return self._remote(messages)

    def _remote(self, messages: list[dict[str, str]]) -> float:
        assert self._client is not None
        payload = {"messages": messages, "max_tokens": 1, "temperature": 0, "logprobs": True, "top_logprobs": 20}
        try:
            response = self._client.post(self.url + "/chat/completions", json=payload)
            response.raise_for_status()
            choice = response.json()["choices"][0]
        except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
            raise ModelError(f"The judge server at {self.url} failed ({exc}). Fix: check --judge-url "
                             "(an OpenAI-compatible /v1 base URL).") from None
        content = ((choice.get("logprobs") or {}).get("content") or [{}])[0]
        tops = {t.get("token", "").strip(): float(t.get("logprob", -100.0)) for t in content.get("top_logprobs") or []}
        if tops:
            return p_yes(tops)
        text = (choice.get("message") or {}).get("content", "").strip().lower()
        return 1.0 if text.startswith("yes") else 0.0 if text.startswith("no") else 0.5  # no logprobs offered

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
