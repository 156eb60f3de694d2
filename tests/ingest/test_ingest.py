"""Ingest into a real Chroma with the real embedding model: mixed formats, incremental, crash-safe."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixtures_docs import HIDDEN_MARKERS, write_mixed_corpus

from bot.answer import Scope
from bot.errors import IndexCorruptError, IndexMissingError, IngestError
from bot.ingest.build import corpus_hash, ingest
from bot.ingest.index import Index, current_generation
from bot.retrieve.glossary import Glossary
from bot.retrieve.hybrid import Retriever, rrf
from bot.settings import Settings

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory, embeddings):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("mixed")
    write_mixed_corpus(root / "docs")
    (root / "docs" / "glossary.tsv").write_text("无人机\tdrone\n", encoding="utf-8")
    settings = Settings(docs_dir=root / "docs", index_dir=root / "index", data_dir=root / "data")
    report = ingest(settings, progress=False, embeddings=embeddings)
    return root, settings, report


def _alpha_index(tmp_path: Path, embeddings) -> tuple[Settings, Path]:  # type: ignore[no-untyped-def]
    """A one-document corpus, indexed: the starting point of the damage and kill tests."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Alpha policy\n\nThe alpha fund holds 7 million yuan.\n", encoding="utf-8")
    settings = Settings(docs_dir=docs, index_dir=tmp_path / "index")
    ingest(settings, progress=False, embeddings=embeddings)
    return settings, docs


def _retriever(settings: Settings, embeddings) -> Retriever:  # type: ignore[no-untyped-def]
    index = Index.open(settings, embeddings)
    return Retriever(index, embeddings, settings, Glossary.load(settings.glossary_path))


def test_every_supported_format_is_ingested_and_bad_files_are_reported(mixed) -> None:  # type: ignore[no-untyped-def]
    _, _, report = mixed
    assert report.documents == 6
    assert set(report.failed) == {"broken.pdf", "empty.txt", "budget.xlsx"}
    assert all(reason for reason in report.failed.values())
    assert "glossary" not in " ".join(report.added)


def test_chunks_carry_offsets_into_the_stored_source(mixed, embeddings) -> None:  # type: ignore[no-untyped-def]
    _, settings, _ = mixed
    index = Index.open(settings, embeddings)
    for chunk in index.chunks.values():
        assert index.doc_text(chunk.doc_id)[chunk.start : chunk.end] == chunk.text
        assert chunk.id and chunk.content_hash and chunk.title


def test_hidden_html_text_is_never_indexed(mixed, embeddings) -> None:  # type: ignore[no-untyped-def]
    _, settings, _ = mixed
    index = Index.open(settings, embeddings)
    everything = " ".join(c.text for c in index.chunks.values())
    assert not [m for m in HIDDEN_MARKERS if m in everything]


@pytest.mark.parametrize(
    ("question", "doc_id"),
    [
        ("How many automated cranes will the Nansha port deploy?", "port-memo"),
        ("How much tonnage will the battery recycling plant handle?", "battery-report"),
        ("What subsidy do households get for rooftop solar?", "solar-guide"),
        ("到2030年人工智能核心产业规模是多少？", "ai-plan-zh"),
        ("无人机配送试点覆盖多少个区？", "drone-pilot"),  # Chinese question, English document, via the glossary
    ],
)
def test_retrieval_finds_the_right_document(mixed, embeddings, question: str, doc_id: str) -> None:  # type: ignore[no-untyped-def]
    _, settings, _ = mixed
    results = _retriever(settings, embeddings).search(question, k=3)
    assert results[0].doc_id == doc_id


def test_a_scope_filter_restricts_both_searches(mixed, embeddings) -> None:  # type: ignore[no-untyped-def]
    _, settings, _ = mixed
    results = _retriever(settings, embeddings).search("cranes port", k=5, scope=Scope(doc_ids=("solar-guide",)))
    assert results and {p.doc_id for p in results} == {"solar-guide"}


def test_reingesting_an_unchanged_corpus_is_a_no_op(mixed, embeddings) -> None:  # type: ignore[no-untyped-def]
    _, settings, _ = mixed
    before = current_generation(settings.index_dir)
    again = ingest(settings, progress=False, embeddings=embeddings)
    assert not again.changed and again.skipped == 6 and not again.added
    assert current_generation(settings.index_dir) == before


def test_changed_and_deleted_documents_are_replaced_and_removed(tmp_path: Path, embeddings) -> None:  # type: ignore[no-untyped-def]
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Alpha policy\n\nThe alpha fund holds 7 million yuan.\n", encoding="utf-8")
    (docs / "b.txt").write_text("Beta policy\n\nThe beta park opens in 2031.\n", encoding="utf-8")
    settings = Settings(docs_dir=docs, index_dir=tmp_path / "index")
    ingest(settings, progress=False, embeddings=embeddings)
    (docs / "a.txt").write_text("Alpha policy\n\nThe alpha fund holds 9 million yuan.\n", encoding="utf-8")
    (docs / "b.txt").unlink()
    report = ingest(settings, progress=False, embeddings=embeddings)
    assert report.added == ["a"] and report.removed == ["b"]
    index = Index.open(settings, embeddings)
    texts = " ".join(c.text for c in index.chunks.values())
    assert "9 million" in texts and "7 million" not in texts and "beta" not in texts.lower()
    assert index.vectors.count() == len(index.chunks)
    assert len(list((tmp_path / "index").glob("gen-*"))) <= 2


def test_corpus_hash_changes_with_content(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("one", encoding="utf-8")
    first = corpus_hash(tmp_path)
    (tmp_path / "a.txt").write_text("two", encoding="utf-8")
    assert corpus_hash(tmp_path) != first


def test_search_without_an_index_says_to_run_ingest(tmp_path: Path, embeddings) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(IndexMissingError, match="policybot ingest"):
        Index.open(Settings(index_dir=tmp_path / "none"), embeddings)


def test_a_damaged_index_is_detected_with_the_fix(tmp_path: Path, embeddings) -> None:  # type: ignore[no-untyped-def]
    settings, docs = _alpha_index(tmp_path, embeddings)
    gen = current_generation(settings.index_dir)
    (settings.index_dir / str(gen) / "chunks.jsonl").write_text("{not json", encoding="utf-8")
    with pytest.raises(IndexCorruptError, match="--rebuild"):
        Index.open(settings, embeddings)


def test_a_missing_docs_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="does not exist"):
        ingest(Settings(docs_dir=tmp_path / "nope", index_dir=tmp_path / "i"), progress=False)


def test_rrf_rewards_agreement_between_rankings() -> None:
    fused = rrf([["a", "b", "c"], ["b", "c", "a"]], k=60)
    assert max(fused, key=fused.__getitem__) == "b"
    assert rrf([[], []]) == {}


_KILL_SCRIPT = """
import sys, time
from pathlib import Path
from bot.settings import Settings
from bot.ingest.build import ingest
import bot.ingest.store as store
real_add = store.VectorStore.add
def slow_add(self, chunks):
    real_add(self, chunks)
    print("ADDING", flush=True)
    time.sleep(30)
store.VectorStore.add = slow_add
ingest(Settings(docs_dir=Path(sys.argv[1]), index_dir=Path(sys.argv[2])), progress=False)
"""


def test_a_killed_ingest_leaves_the_previous_index_answering(tmp_path: Path, embeddings) -> None:  # type: ignore[no-untyped-def]
    settings, docs = _alpha_index(tmp_path, embeddings)
    before = current_generation(settings.index_dir)
    (docs / "b.txt").write_text("Beta policy\n\nThe beta park opens in 2031.\n", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, str(docs), str(settings.index_dir)],
                            stdout=subprocess.PIPE, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout is not None
    deadline = time.time() + 240
    while time.time() < deadline and "ADDING" not in proc.stdout.readline():
        pass
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert current_generation(settings.index_dir) == before
    old = _retriever(settings, embeddings).search("alpha fund", k=1)
    assert old and old[0].doc_id == "a"
    report = ingest(settings, progress=False, embeddings=embeddings)
    assert report.added == ["b"] and report.changed
    assert [g.name for g in settings.index_dir.glob("gen-*")].count(str(current_generation(settings.index_dir))) == 1
    assert _retriever(settings, embeddings).search("When does the beta park open?", k=1)[0].doc_id == "b"


def test_cli_ingest_then_search_json_ranks_the_selection_criteria_first(seed_settings) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "POLICYBOT_INDEX_DIR": str(seed_settings.index_dir),
           "POLICYBOT_DOCS_DIR": str(seed_settings.docs_dir)}
    out = subprocess.run([sys.executable, "-m", "bot.cli", "search", "Why were these five industries chosen?",
                          "--json"], capture_output=True, text=True, env=env, cwd=REPO, timeout=300, check=True)
    results = json.loads(out.stdout)["results"]
    assert "strategic significance, knowledge and technology, and industrial foundation" in results[0]["text"]
    assert set(results[0]) >= {"doc_id", "title", "text", "start", "end", "score"}
    zh = subprocess.run([sys.executable, "-m", "bot.cli", "search", "广东选择这五个未来产业的标准是什么", "--json"],
                        capture_output=True, text=True, env=env, cwd=REPO, timeout=300, check=True)
    top3 = [r["text"] for r in json.loads(zh.stdout)["results"][:3]]
    assert any("strategic significance" in t for t in top3)


def test_the_glossary_is_a_name_inside_the_docs_folder_or_a_path_of_its_own(tmp_path: Path) -> None:
    inside = Settings(docs_dir=tmp_path / "docs")
    assert inside.glossary_path == tmp_path / "docs" / "glossary.tsv"
    elsewhere = tmp_path / "terms" / "glossary.tsv"
    assert Settings(docs_dir=tmp_path / "docs", glossary_file=str(elsewhere)).glossary_path == elsewhere
    assert Settings(docs_dir=tmp_path / "docs", glossary_file="eval/terms.tsv").glossary_path == Path("eval/terms.tsv")
    assert Glossary.load(tmp_path / "absent.tsv").expansions("drone") == [], "no glossary, no expansions"
