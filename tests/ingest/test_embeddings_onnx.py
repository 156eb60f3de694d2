"""The int8 ONNX MiniLM route: built offline from the shipped weights, close to sentence-transformers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import SEED_DOCS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def onnx_embeddings():  # type: ignore[no-untyped-def]
    from bot.ingest.embeddings_onnx import OnnxMiniLMEmbeddings

    emb = OnnxMiniLMEmbeddings(batch_size=8)
    emb.warm_up()
    return emb


def _seed_sentences(n: int = 24) -> list[str]:
    text = (SEED_DOCS / "guangdong-five-future-industry-clusters.txt").read_text(encoding="utf-8")
    return [s.strip() for s in text.replace("\n", " ").split(". ") if len(s.strip()) > 30][:n]


def test_onnx_vectors_are_unit_length_and_close_to_sentence_transformers(onnx_embeddings, embeddings) -> None:  # type: ignore[no-untyped-def]
    texts = [*_seed_sentences(), "Why were these five industries chosen?", "文生视频", "x"]
    ours = onnx_embeddings.embed_array(texts)
    theirs = embeddings.embed_array(texts)
    assert ours.shape == theirs.shape == (len(texts), 384)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
    cosine = (ours * theirs).sum(axis=1)
    assert cosine.min() > 0.95 and cosine.mean() > 0.98


def test_a_text_gets_nearly_the_same_vector_alone_or_padded_in_a_batch(onnx_embeddings) -> None:  # type: ignore[no-untyped-def]
    """Dynamic int8 quantisation scales activations per batch, so a batch changes a vector slightly, no more."""
    texts = _seed_sentences(12)
    batch = onnx_embeddings.embed_array(texts)
    alone = np.stack([onnx_embeddings.embed_array([t])[0] for t in texts])
    assert (batch * alone).sum(axis=1).min() > 0.98


def test_long_texts_are_truncated_to_the_models_256_tokens(onnx_embeddings) -> None:  # type: ignore[no-untyped-def]
    long_text = " ".join(_seed_sentences(60))
    assert onnx_embeddings.max_tokens == 256
    assert np.allclose(onnx_embeddings.embed_array([long_text]), onnx_embeddings.embed_array([long_text + " more"]),
                       atol=1e-5)


def test_the_onnx_route_has_its_own_model_id_so_indexes_are_rebuilt(onnx_embeddings, embeddings) -> None:  # type: ignore[no-untyped-def]
    from bot.ingest.embeddings import build_embeddings

    assert onnx_embeddings.model_id != embeddings.model_id
    assert type(build_embeddings(backend="onnx")).__name__ == "OnnxMiniLMEmbeddings"


def test_the_built_model_is_cached_by_weights_hash_and_reused(onnx_embeddings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from bot.ingest.embeddings_onnx import cached_onnx_model

    first = cached_onnx_model()
    stamp = first.stat().st_mtime_ns
    assert cached_onnx_model() == first and first.stat().st_mtime_ns == stamp
    assert first.parent.name.endswith("-int8pc") and first.stat().st_size < 40_000_000  # int8, not fp32


def test_the_default_fp32_route_gives_sentence_transformers_vectors_without_torch() -> None:
    """onnx-exact shares the index (model_id) with sentence-transformers because its vectors are the same."""
    import subprocess
    import sys

    from bot.ingest.embeddings import MiniLMEmbeddings, build_embeddings
    from bot.settings import Settings

    assert Settings().embedding_backend == "onnx-exact"
    exact, torch_route = build_embeddings(backend="onnx-exact"), MiniLMEmbeddings()
    texts = [*_seed_sentences(8), "Why were these five industries chosen?", "文生视频"]
    cosine = (exact.embed_array(texts) * torch_route.embed_array(texts)).sum(axis=1)  # type: ignore[attr-defined]
    assert cosine.min() > 0.99999
    assert exact.model_id == torch_route.model_id  # type: ignore[attr-defined]
    code = ("import sys; from bot.ingest.embeddings import build_embeddings; e = build_embeddings(); e.embed_query('x'); "
            "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
