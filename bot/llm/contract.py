"""The language-model contract: what the pipeline needs from any backend, and the errors it may raise.

``ChatModel`` is all the reader sees: stream a chat, count prompt tokens, warm up, report health. ``Message`` is
one chat turn; ``render_chatml`` is the ChatML template for models that carry none.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from bot.errors import UserInputError

Message = dict[str, str]
"""{"role": "system" | "user" | "assistant", "content": "..."}"""


class ChatModel(Protocol):
    """What the pipeline needs from a language model. Implementations may also keep ``last_usage`` (token counts,
    timings, and ``finish_reason``: "stop" when the model ended its reply, "length" at the ``max_tokens`` limit)."""

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


def render_chatml(messages: list[Message]) -> str:
    """ChatML, the template of SmolLM2 and many others; used when a GGUF carries no template of its own."""
    body = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return body + "<|im_start|>assistant\n"
