"""Hybrid retrieval: how the vector and BM25 rankings are fused into the passages a question gets."""

from __future__ import annotations

from bot.ingest.index import Index
from bot.retrieve.glossary import Glossary
from bot.retrieve.hybrid import Retriever, rrf, top_with_leaders, vector_weight


def test_rrf_sums_reciprocal_ranks() -> None:
    fused = rrf([["a", "b"], ["b", "c"]], k=60)
    assert fused["b"] == 1 / 62 + 1 / 61
    assert fused["a"] == 1 / 61 and fused["c"] == 1 / 62


def test_a_weighted_ranking_counts_for_less() -> None:
    fused = rrf([["a", "b"], ["b", "a"]], k=60, weights=[0.2, 1.0])
    assert fused["b"] > fused["a"]  # first in the full-weight ranking wins the tie


def test_the_english_only_embedding_weighs_less_the_more_chinese_the_question() -> None:
    assert vector_weight("Why were these five industries chosen?", 0.2) == 1.0
    assert vector_weight("为什么选择这五个产业？", 0.2) == 0.2
    mixed = vector_weight("为什么选择这五个产业？ five future industries", 0.2)
    assert 0.2 < mixed < 1.0
    assert vector_weight("为什么选择这五个产业？", 1.0) == 1.0  # a multilingual embedding model: no discount


def test_each_rankings_leader_keeps_a_place_whatever_its_fused_rank() -> None:
    vector = ["v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12", "lead"]
    keyword = ["lead", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v1", "v10"]
    fused = rrf([vector, keyword], k=60)
    plain = [c for c, _ in sorted(fused.items(), key=lambda item: -item[1])[:6]]
    assert "lead" not in plain  # first for BM25, 13th for the vectors: fusion alone drops it

    best = [c for c, _ in top_with_leaders(fused, [vector, keyword], 6, keep=1)]
    assert "lead" in best and "v1" in best and len(best) == 6
    assert best[:5] == plain[:5]  # the leader took the last place, the order is still by fused score
    assert [c for c, _ in top_with_leaders(fused, [vector, keyword], 6, keep=0)] == plain


def test_leaders_never_push_each_other_out_and_short_lists_are_kept_whole() -> None:
    fused = rrf([["a", "b", "c"], ["c", "d"]], k=60)
    assert {c for c, _ in top_with_leaders(fused, [["a", "b", "c"], ["c", "d"]], 2, keep=1)} == {"a", "c"}
    assert len(top_with_leaders(fused, [["a", "b", "c"], ["c", "d"]], 10, keep=1)) == 4


def test_a_rare_name_only_bm25_ranks_first_reaches_the_passages(seed_settings, embeddings) -> None:  # type: ignore[no-untyped-def]
    # the byline ("Yangcheng Evening News reporters Xu Zhangchao and Sun Jing") is BM25's first chunk for this
    # question, but the vectors put chunks about the five clusters first
    question = "Which reporters wrote the Yangcheng Evening News story about the five future industry clusters?"
    retriever = Retriever(Index.open(seed_settings, embeddings), embeddings, seed_settings,
                          Glossary.load(seed_settings.glossary_path))
    passages = retriever.search(question)
    assert any("Xu Zhangchao" in p.text for p in passages)
    byline = next(p for p in passages if "Xu Zhangchao" in p.text)
    assert byline.keyword_rank == 1
