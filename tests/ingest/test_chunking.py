"""The sentence/token chunker: exact offsets, nothing lost, budgets kept, headings kept with their answer."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.documents import Document

from bot.ingest.chunking import (
    Chunk,
    SentenceTokenSplitter,
    chunk_document,
    chunk_id,
    from_langchain,
    to_langchain,
    token_count,
)
from bot.ingest.loaders import SourceDoc, load_document
from bot.lang.text import normalize, paragraph_spans, sentence_spans

SEED = Path(__file__).resolve().parents[2] / "docs" / "guangdong-five-future-industry-clusters.txt"


def make_doc(text: str, doc_id: str = "doc") -> SourceDoc:
    text = normalize(text)
    return SourceDoc(
        doc_id=doc_id,
        title="Title",
        path=f"{doc_id}.txt",
        text=text,
        lang="en",
        paragraphs=tuple(paragraph_spans(text)),
        file_hash="0" * 64,
    )


@pytest.fixture(scope="module")
def seed_chunks() -> list[Chunk]:
    return chunk_document(load_document(SEED, SEED.parent))


# --- tokens --------------------------------------------------------------------------------------


def test_token_count_uses_cl100k_base() -> None:
    assert token_count("hello world") == 2
    assert token_count("") == 0


def test_token_count_treats_special_token_text_as_plain_text() -> None:
    assert token_count("<|endoftext|>") > 1


# --- the seed document ---------------------------------------------------------------------------


def test_selection_criteria_chunk_carries_its_question_heading(seed_chunks: list[Chunk]) -> None:
    [chunk] = [
        c for c in seed_chunks if "The selection criteria mainly include strategic significance" in c.text
    ]
    assert chunk.text.startswith("Why were these five industries chosen?")


def test_no_seed_chunk_ends_with_a_question_heading(seed_chunks: list[Chunk]) -> None:
    for chunk in seed_chunks[:-1]:
        last_paragraph = chunk.text.split("\n\n")[-1]
        assert not (last_paragraph.endswith("?") and len(last_paragraph.split()) <= 20), chunk.text


def test_seed_chunks_respect_budget_and_offsets(seed_chunks: list[Chunk]) -> None:
    text = load_document(SEED, SEED.parent).text
    assert len(seed_chunks) > 5
    for chunk in seed_chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.tokens == token_count(chunk.text) <= 160
        assert chunk.doc_id == "guangdong-five-future-industry-clusters"
        assert chunk.path == SEED.name


def test_paragraph_index_is_the_paragraph_holding_the_chunk_start(seed_chunks: list[Chunk]) -> None:
    doc = load_document(SEED, SEED.parent)
    for chunk in seed_chunks:
        start, end = doc.paragraphs[chunk.paragraph]
        assert start <= chunk.start < end


# --- packing rules -------------------------------------------------------------------------------


def sentence(n: int, words: int = 12) -> str:
    return f"Sentence {n} " + " ".join(["about", "policy"] * (words // 2)) + "."


def test_sentences_are_never_split_when_they_fit() -> None:
    text = " ".join(sentence(i) for i in range(30))
    splitter = SentenceTokenSplitter(chunk_tokens=60, overlap_sentences=0)
    whole = {text[s:e] for s, e in sentence_spans(text)}
    for piece in splitter.split_text(text):
        assert {piece[s:e] for s, e in sentence_spans(piece)} <= whole


def test_overlap_repeats_the_last_sentence_of_the_previous_chunk() -> None:
    text = " ".join(sentence(i) for i in range(20))
    chunks = SentenceTokenSplitter(chunk_tokens=60, overlap_sentences=1).split_text(text)
    assert len(chunks) > 2
    for before, after in zip(chunks, chunks[1:], strict=False):
        last = before[sentence_spans(before)[-1][0] :]
        assert after.startswith(last)


def test_without_overlap_chunks_tile_the_text() -> None:
    text = " ".join(sentence(i) for i in range(20))
    spans = SentenceTokenSplitter(chunk_tokens=60, overlap_sentences=0).spans(text)
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert end < start and text[end:start].isspace()


def test_a_chunk_half_full_ends_at_a_paragraph_break_rather_than_mid_paragraph() -> None:
    first = " ".join(sentence(i) for i in range(3))
    second = " ".join(sentence(i) for i in range(3, 9))
    text = f"{first}\n\n{second}"
    budget = token_count(first) + token_count(sentence(3)) * 2
    chunks = SentenceTokenSplitter(chunk_tokens=budget, overlap_sentences=0).split_text(text)
    assert chunks[0] == first


def test_short_heading_starts_the_next_chunk_with_the_paragraph_it_introduces() -> None:
    body = " ".join(sentence(i) for i in range(4))
    text = f"{body}\n\nWhy were these chosen?\n\nBecause of strategic significance. {sentence(9)}"
    budget = token_count(body) + 8  # the heading would still fit after the body, its answer would not
    chunks = SentenceTokenSplitter(chunk_tokens=budget, overlap_sentences=1).split_text(text)
    assert chunks[0] == body
    assert chunks[1].startswith("Why were these chosen?\n\nBecause of strategic significance.")


def test_chinese_text_is_split_at_chinese_sentence_ends() -> None:
    text = "".join(f"广东第{i}个未来产业集群将加快发展。" for i in range(40))
    chunks = SentenceTokenSplitter(chunk_tokens=50, overlap_sentences=0).split_text(text)
    assert len(chunks) > 1
    assert all(c.endswith("。") for c in chunks)


def test_an_overlong_sentence_is_cut_at_token_boundaries_within_budget() -> None:
    text = "word " * 500 + "end."
    spans = SentenceTokenSplitter(chunk_tokens=40, overlap_sentences=1).spans(text)
    assert len(spans) > 10
    assert all(token_count(text[s:e]) <= 40 for s, e in spans)
    assert all(text[s:e].startswith("word") or text[s:e] == "end." for s, e in spans)  # cut between words


def test_an_overlong_chinese_sentence_is_cut_within_budget() -> None:
    text = "广东省未来电子信息产业集群" * 60
    spans = SentenceTokenSplitter(chunk_tokens=30, overlap_sentences=0).spans(text)
    assert len(spans) > 1 and all(token_count(text[s:e]) <= 30 for s, e in spans)
    assert "".join(text[s:e] for s, e in spans) == text


def test_empty_and_blank_text_give_no_chunks() -> None:
    assert SentenceTokenSplitter().split_text("") == []
    assert SentenceTokenSplitter().split_text(" \n\n \t") == []


def test_splitter_works_as_a_langchain_text_splitter() -> None:
    splitter = SentenceTokenSplitter(chunk_tokens=40, overlap_sentences=0)
    docs = splitter.create_documents([" ".join(sentence(i) for i in range(10))], metadatas=[{"source": "x"}])
    assert len(docs) > 1 and all(isinstance(d, Document) and d.metadata["source"] == "x" for d in docs)


# --- ids, metadata, LangChain round trip ---------------------------------------------------------


def test_chunk_ids_are_content_hashes_stable_across_runs() -> None:
    doc = make_doc(" ".join(sentence(i) for i in range(20)))
    first, second = chunk_document(doc, 60), chunk_document(doc, 60)
    assert [c.id for c in first] == [c.id for c in second]
    assert len({c.id for c in first}) == len(first)
    assert all(c.id == chunk_id(doc.doc_id, c.start, c.text) and len(c.id) == 32 for c in first)


def test_chunk_ids_differ_between_documents_with_the_same_text() -> None:
    text = "Same text. In two documents."
    assert chunk_document(make_doc(text, "a"))[0].id != chunk_document(make_doc(text, "b"))[0].id


def test_metadata_round_trip_restores_the_chunk() -> None:
    chunk = chunk_document(make_doc("广东要发展未来产业。Five clusters."))[0]
    meta = chunk.metadata()
    assert "id" not in meta and "text" not in meta
    assert all(isinstance(v, str | int | float) for v in meta.values())
    assert Chunk.from_metadata(chunk.id, chunk.text, meta) == chunk


def test_langchain_document_round_trip_restores_the_chunk() -> None:
    chunk = chunk_document(make_doc("Some text here. And more."))[0]
    document = to_langchain(chunk)
    assert document.page_content == chunk.text and document.metadata["id"] == chunk.id
    assert from_langchain(document) == chunk


# --- properties ----------------------------------------------------------------------------------

_PIECES = st.sampled_from(
    ["policy", "future", "Guangdong", "industry", "2030", "10,000", "Mr.", "U.S.", "2.5", "e.g.",
     "广东", "未来产业", "集群", "发展", "。", "！", "？", "；", "，", ".", "!", "?", ",", "“", "”", '"',
     " ", " ", " ", "\n", "\n\n", "\t", "Why were these chosen?\n\n"]
)  # fmt: skip
_TEXT = st.one_of(
    st.lists(_PIECES, max_size=300).map("".join),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=400),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=_TEXT, budget=st.integers(min_value=8, max_value=120), overlap=st.integers(min_value=0, max_value=2)
)
def test_chunks_round_trip_lose_nothing_and_keep_the_budget(text: str, budget: int, overlap: int) -> None:
    doc = make_doc(text)
    chunks = chunk_document(doc, chunk_tokens=budget, overlap_sentences=overlap)
    covered = [False] * len(doc.text)
    for chunk in chunks:
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert chunk.text == chunk.text.strip()
        assert chunk.tokens <= budget or len(chunk.text) == 1
        for i in range(chunk.start, chunk.end):
            covered[i] = True
    assert all(covered[i] for i, ch in enumerate(doc.text) if not ch.isspace())
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)
    assert [c.id for c in chunk_document(doc, chunk_tokens=budget, overlap_sentences=overlap)] == [
        c.id for c in chunks
    ]


@settings(max_examples=100, deadline=None)
@given(text=_TEXT)
def test_splitter_spans_on_raw_text_round_trip(text: str) -> None:
    splitter = SentenceTokenSplitter(chunk_tokens=24, overlap_sentences=1)
    spans = splitter.spans(text)
    assert splitter.split_text(text) == [text[s:e] for s, e in spans]
    non_space = [i for i, ch in enumerate(text) if not ch.isspace()]
    assert all(any(s <= i < e for s, e in spans) for i in non_space)
