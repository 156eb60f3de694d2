"""The in-process backend: :class:`LlamaCppModel` runs a GGUF file with llama-cpp-python (default: the bundled
SmolLM2). The contract it implements is :class:`bot.llm.contract.ChatModel`; :class:`bot.llm.server.OpenAIServerModel`
is the other backend (any OpenAI-compatible server by URL); :func:`bot.llm.build.build_chat_model` picks one and
puts it behind the :class:`bot.llm.model_queue.ModelQueue`.

Prefix reuse: the prompt is rendered with the GGUF's own chat template and tokenised here, then handed to
llama.cpp as tokens. llama-cpp-python keeps the previous request's tokens in its KV cache and evaluates only
the part after the longest common prefix, so a fixed system prompt placed first is read once, not per question.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from bot.errors import ConfigError, ModelError
from bot.llm.contract import Message, PromptTooLongError, render_chatml
from bot.llm.gguf import MODEL_SETTING_HINT, check_gguf, file_sha256, physical_cores

Renderer = Callable[[list[Message]], tuple[str, list[str], bool]]  # -> (prompt, stop strings, add_bos)


def _render_chatml(messages: list[Message]) -> tuple[str, list[str], bool]:
    return render_chatml(messages), ["<|im_end|>"], True


class LlamaCppModel:
    """A GGUF file run in this process by llama-cpp-python. Not thread-safe: put it behind a ModelQueue."""

    backend = "llama-cpp"

    def __init__(self, model_path: str, n_ctx: int = 2048, n_threads: int = 0, seed: int = 0) -> None:
        self.model_path = Path(model_path)
        self.n_ctx = n_ctx
        self.n_threads = n_threads or physical_cores()
        self.seed = seed
        self.model_id = self.model_path.name
        self.last_usage: dict[str, Any] = {}
        self._llm: Any = None
        self._render: Renderer = _render_chatml
        self._template = "chatml (built in)"
        self._load_lock = threading.Lock()
        self._load_error = ""

    @property
    def model_hash(self) -> str:
        return file_sha256(self.model_path)

    def warm_up(self) -> None:
        """Load the model once; later calls return at once. Safe to call from several threads."""
        if self._llm is not None:
            return
        with self._load_lock:
            if self._llm is not None:
                return
            try:
                self._llm = self._load()
            except (ConfigError, ModelError) as exc:
                self._load_error = str(exc)
                raise

    def _load(self) -> Any:
        check_gguf(self.model_path)
        try:
            from llama_cpp import Llama
        except ImportError:
            raise ModelError(
                "llama-cpp-python is not installed. Run `pip install 'llama-cpp-python[server]'`, "
                "or point POLICYBOT_LLM_URL / --llm-url at a running llama.cpp server."
            ) from None
        try:
            llm = Llama(
                model_path=str(self.model_path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads,
                seed=self.seed,
                verbose=False,
            )
        except Exception as exc:  # llama.cpp reports a bad file as ValueError; treat anything alike
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ModelError(
                f"{self.model_path} is not a valid GGUF model that llama.cpp can load ({reason}); the file may be "
                f"truncated or corrupt. Re-copy it, or set {MODEL_SETTING_HINT} to a good .gguf file."
            ) from None
        self._render, self._template = _renderer_for(llm)
        return llm

    def _prompt_tokens(self, messages: list[Message]) -> tuple[list[int], list[str]]:
        self.warm_up()
        try:
            text, stop, add_bos = self._render(messages)
        except Exception as exc:
            raise ModelError(f"The model's chat template could not render the messages ({exc}).") from None
        return self._llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True), stop

    def count_tokens(self, messages: list[Message]) -> int:
        return len(self._prompt_tokens(messages)[0])

    def prime(self, messages: list[Message]) -> None:
        """Read ``messages`` into the KV cache (one token is generated and dropped), so the next prompt that
        starts the same way (the fixed system part) evaluates only what follows it."""
        for _ in self.stream_chat(messages, max_tokens=1):
            pass

    def next_token_logprobs(self, messages: list[Message], options: Sequence[str]) -> dict[str, float]:
        """Log-probability of each of ``options`` as the first token of the model's reply (the best-scoring
        tokenisation of each option, with and without a leading space). Reuses the KV cache's common prefix."""
        import numpy as np

        tokens, _ = self._prompt_tokens(messages)
        if len(tokens) >= self.n_ctx:
            raise PromptTooLongError(len(tokens), self.n_ctx)
        llm = self._llm
        keep = min(_common_prefix(llm.input_ids[: llm.n_tokens].tolist(), tokens), len(tokens) - 1)
        llm.n_tokens = keep
        try:
            llm.eval(tokens[keep:])
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"llama.cpp failed while reading the prompt ({exc}).") from None
        logits = np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(llm.n_vocab(),)).astype(np.float64)
        logprobs = logits - (logits.max() + np.log(np.exp(logits - logits.max()).sum()))
        out: dict[str, float] = {}
        for option in options:
            ids = {t[0] for form in (option, " " + option)
                   if (t := llm.tokenize(form.encode("utf-8"), add_bos=False, special=False))}
            out[option] = float(np.logaddexp.reduce([logprobs[i] for i in ids])) if ids else float("-inf")
        return out

    def stream_chat(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        start = time.perf_counter()
        tokens, template_stop = self._prompt_tokens(messages)  # loads the model on first use
        import llama_cpp

        if len(tokens) >= self.n_ctx:
            raise PromptTooLongError(len(tokens), self.n_ctx)
        llm = self._llm
        cached = _common_prefix(llm.input_ids[: llm.n_tokens].tolist(), tokens)
        llama_cpp.llama_perf_context_reset(llm.ctx)
        self.last_usage = {"prompt_tokens": len(tokens), "cached_tokens": cached}
        pieces: list[str] = []
        first: float | None = None
        finish: str | None = None
        chunks = llm.create_completion(
            prompt=tokens,
            max_tokens=max_tokens,
            temperature=temperature,
            stop=list(stop or []) + template_stop,
            stream=True,
            seed=self.seed,
        )
        try:
            for chunk in chunks:
                delta = chunk["choices"][0]["text"]
                finish = chunk["choices"][0].get("finish_reason") or finish
                if delta:
                    if first is None:
                        first = time.perf_counter()
                    pieces.append(delta)
                    yield delta
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"llama.cpp failed while generating ({exc}).") from None
        finally:
            chunks.close()
            self.last_usage = self._usage(tokens, cached, "".join(pieces), start, first, time.perf_counter())
            self.last_usage["finish_reason"] = finish  # "stop" or "length" (the max_tokens limit); None if cut off

    def _usage(
        self, tokens: list[int], cached: int, completion: str, start: float, first: float | None, end: float
    ) -> dict[str, Any]:
        import llama_cpp

        perf = llama_cpp.llama_perf_context(self._llm.ctx)
        n_out = (
            len(self._llm.tokenize(completion.encode("utf-8"), add_bos=False, special=False))
            if completion
            else 0
        )
        decode_s = end - first if first is not None else 0.0
        return {
            "prompt_tokens": len(tokens),
            "completion_tokens": n_out,
            "cached_tokens": cached,
            "ttft_s": (first - start) if first is not None else None,
            "total_s": end - start,
            "decode_tok_s": (n_out - 1) / decode_s if n_out > 1 and decode_s > 0 else None,
            "prompt_eval_tokens": perf.n_p_eval,
            "prompt_eval_s": perf.t_p_eval_ms / 1000,
            "prompt_tok_s": perf.n_p_eval / (perf.t_p_eval_ms / 1000) if perf.t_p_eval_ms > 0 else None,
            "raw_decode_tok_s": perf.n_eval / (perf.t_eval_ms / 1000) if perf.t_eval_ms > 0 else None,
        }

    def health(self) -> dict[str, Any]:
        loaded = self._llm is not None
        if loaded:
            detail = f"loaded; n_ctx={self.n_ctx}, threads={self.n_threads}, template={self._template}"
        else:
            detail = self._load_error or "not loaded yet (warm_up() loads it)"
        return {"ok": loaded, "backend": self.backend, "model_id": self.model_id, "detail": detail}


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _renderer_for(llm: Any) -> tuple[Renderer, str]:
    """The GGUF's own chat template (as llama-cpp-python's chat handler would use it), else ChatML."""
    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        return _render_chatml, "chatml (built in)"
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    def text_of(token_id: int) -> str:
        return llm.detokenize([token_id], special=True).decode("utf-8", "ignore") if token_id != -1 else ""

    eos, bos = text_of(llm.token_eos()), text_of(llm.token_bos())
    formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)

    def render(messages: list[Message]) -> tuple[str, list[str], bool]:
        result = formatter(messages=messages)  # type: ignore[arg-type]
        stop = result.stop if isinstance(result.stop, list) else [result.stop] if result.stop else []
        return result.prompt, [s for s in stop if s], not result.added_special

    return render, "gguf"
