"""Which model this process runs: a server by URL if one is set, else a GGUF file in process (the bundled
SmolLM2, re-encoded once for fast prompt reading), always behind the one queue.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bot.llm.contract import ChatModel
from bot.llm.gguf import bundled_model_path, check_gguf
from bot.llm.local import LlamaCppModel
from bot.llm.model_queue import ModelQueue

if TYPE_CHECKING:
    from bot.settings import Settings


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
