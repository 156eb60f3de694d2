"""Ingest: docs/ -> chunks -> a new index generation -> atomic swap. Incremental and crash-safe.

Unchanged documents (same bytes) are skipped, changed ones replaced, deleted ones removed. A change of the
embedding model or chunker settings rebuilds everything. See ``bot.ingest.index`` for the on-disk layout.

``ingest`` runs the steps in order: plan the changes against the live manifest (``bot.ingest.plan``), load
and chunk the new and changed files, embed and write a complete new generation, switch CURRENT to it.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from langchain_core.embeddings import Embeddings
from tqdm import tqdm

from bot.errors import IngestError
from bot.ingest.chunking import Chunk, chunk_document
from bot.ingest.embeddings import build_embeddings
from bot.ingest.index import (
    DocRecord,
    Manifest,
    collection_name,
    read_chunks,
    remove_stale_generations,
    write_chunks,
    write_current,
    write_texts,
)
from bot.ingest.keyword import KeywordIndex
from bot.ingest.loaders import SourceDoc, load_document
from bot.ingest.plan import Plan, chunker_settings, file_sha256, plan_changes
from bot.ingest.store import VectorStore
from bot.lang.words import tokenize
from bot.settings import Settings

log = logging.getLogger(__name__)

# How long a batch job (the eval runner, calibrate) waits for another process building the same cached index: the
# largest benchmark corpus builds in about ten minutes on 2 cores, so an hour covers it with room to spare.
BATCH_WAIT_S = 3600.0

Progress = Callable[[float, str], None]


@dataclass
class IngestReport:
    documents: int = 0
    chunks: int = 0
    added: list[str] = field(default_factory=list)
    skipped: int = 0
    removed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    generation: str = ""
    changed: bool = False

    def summary(self) -> str:
        return (
            f"{self.documents} documents, {self.chunks} chunks; {len(self.added)} added or changed, "
            f"{self.skipped} unchanged, {len(self.removed)} removed, {len(self.failed)} failed "
            f"in {self.seconds:.1f} s"
        )


def corpus_hash(docs_dir: Path, settings: Settings | None = None) -> str:
    """Hash of every file's relative path and bytes (glossary included: it changes retrieval)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(docs_dir).rglob("*") if p.is_file() and not p.name.startswith(".")):
        digest.update(path.relative_to(docs_dir).as_posix().encode())
        digest.update(file_sha256(path).encode())
    return digest.hexdigest()[:16]


@contextmanager
def ingest_lock(index_dir: Path, wait: float = 0.0) -> Iterator[None]:
    """Hold the index folder's lock for one ingest. Another ingest holding it is an error at once, or after
    ``wait`` seconds of waiting for it (a batch job, the eval or calibrate, waits instead of losing its run)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as handle:
        deadline, told = time.monotonic() + wait, False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    waited = f" (waited {wait:g} s)" if wait else ""
                    raise IngestError(f"Another ingest is running on {index_dir}/{waited}; wait for it to finish, "
                                      "then run this again.") from None
                if not told:
                    log.warning("another ingest is running on %s/: waiting up to %.0f s for it", index_dir, wait)
                    told = True
                time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def ingest(
    settings: Settings,
    *,
    docs_dir: Path | None = None,
    index_dir: Path | None = None,
    rebuild: bool = False,
    progress: bool = True,
    on_progress: Progress | None = None,
    embeddings: Embeddings | None = None,
    wait: float = 0.0,
) -> IngestReport:
    """Bring the index in ``index_dir`` up to date with ``docs_dir``. Returns what changed. ``wait``: seconds to
    wait for another ingest of the same index to finish before giving up (0: fail at once)."""
    docs = Path(docs_dir or settings.docs_dir)
    root = Path(index_dir or settings.index_dir)
    if not docs.is_dir():
        raise IngestError(f"The documents folder {docs}/ does not exist. Fix: create it or pass --docs DIR.")
    started = time.perf_counter()
    report = IngestReport()
    emb = embeddings or build_embeddings(settings.embedding_batch, settings.embedding_backend)
    model_id = getattr(emb, "model_id", type(emb).__name__)
    with ingest_lock(root, wait):
        # 1. what changed since the live generation
        plan = plan_changes(settings, docs, root, model_id, rebuild)
        report.failed.update(plan.failed_names)
        report.skipped = len(plan.keep)
        if plan.live and not plan.todo and not plan.gone:  # nothing changed: the live generation stays
            report.documents = len(plan.keep)
            report.chunks = sum(len(r.chunk_ids) for r in plan.keep.values())
            report.generation, report.seconds = plan.live, time.perf_counter() - started
            return report
        # 2. load and chunk the new and changed files
        loaded = _load_and_chunk(settings, docs, plan, report, progress, on_progress)
        report.removed = plan.gone
        report.added = sorted(loaded.docs)
        # 3. embed and write a complete new generation, then switch CURRENT to it
        gen, documents, chunks = _write_generation(settings, emb, model_id, docs, root, plan, loaded,
                                                   progress, on_progress)
        # 4. drop the generations no longer needed, and report
        remove_stale_generations(root, keep={gen, plan.live or gen}, settings=settings)
        if on_progress:
            on_progress(1.0, "done")
        report.documents = documents
        report.chunks = chunks
        report.generation = gen
        report.changed = True
        report.seconds = time.perf_counter() - started
        return report


# --- 2. load and chunk what is new or changed (a bad file is reported, the rest goes on) -----------------
@dataclass
class _Loaded:
    """The new and changed documents, loaded and chunked."""

    chunks: list[Chunk] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)  # doc id -> normalised text
    docs: dict[str, DocRecord] = field(default_factory=dict)


def _load_and_chunk(settings: Settings, docs: Path, plan: Plan, report: IngestReport, progress: bool,
                    on_progress: Progress | None) -> _Loaded:
    """Load and chunk every file in ``plan.todo``, with the "reading" progress bar.

    A file that fails goes to ``report.failed`` and ``plan.failed_ids``; unless rebuilding, its last good
    version stays in ``plan.keep`` and goes on answering.
    """
    loaded = _Loaded()
    bar = tqdm(plan.todo.items(), desc="reading", unit="doc", disable=not progress, file=sys.stderr)
    for i, (doc_id, (path, fhash)) in enumerate(bar):
        if on_progress:
            on_progress(0.4 * i / max(1, len(plan.todo)), f"reading {path.name}")
        try:
            doc: SourceDoc = load_document(path, docs, max_bytes=int(settings.max_file_mb * 1024 * 1024))
            chunks = chunk_document(doc, settings.chunk_tokens, settings.chunk_overlap_sentences)
        except IngestError as exc:
            report.failed[path.name] = str(exc)
            plan.failed_ids[doc_id] = {"name": path.name, "file_hash": fhash, "reason": str(exc)}
            log.warning("skipped %s: %s", path.name, exc)
            if doc_id in plan.previous and not plan.rebuild:
                plan.keep[doc_id] = plan.previous[doc_id]  # keep the last good version answering
            continue
        loaded.chunks.extend(chunks)
        loaded.texts[doc_id] = doc.text
        loaded.docs[doc_id] = DocRecord(doc_id, doc.path, doc.title, fhash, doc.lang,
                                        [c.id for c in chunks], _now())
    return loaded


# --- 3. write a complete new generation beside the live one, then swap ------------------------------------
def _write_generation(settings: Settings, emb: Embeddings, model_id: str, docs: Path, root: Path, plan: Plan,
                      loaded: _Loaded, progress: bool, on_progress: Progress | None) -> tuple[str, int, int]:
    """Write the new generation and point CURRENT at it; returns (generation, documents, chunks).

    Any failure removes the half-written generation, so the live one stays whole and answering; a failed
    write (a full disk, say) is an ``IngestError`` that says so.
    """
    removed_ids = [cid for d, r in plan.previous.items() if d not in plan.keep for cid in r.chunk_ids]
    gen = f"gen-{int(time.time() * 1000)}-{uuid.uuid4().hex[:6]}"
    gen_dir = root / gen
    try:
        gen_dir.mkdir(parents=True)
        base = root / plan.live if plan.reuse and plan.live else None  # the generation to start from
        store, chunks, tokens = _carry_over(settings, emb, plan, base, gen, gen_dir, removed_ids)
        fresh = [c for c in loaded.chunks if c.id not in chunks]
        _embed(store, fresh, settings, progress, on_progress)
        for chunk in fresh:
            tokens[chunk.id] = tokenize(f"{chunk.title}\n{chunk.text}" if chunk.start > 0 else chunk.text)
            chunks[chunk.id] = chunk
        ordered = sorted(chunks.values(), key=lambda c: (c.doc_id, c.start))
        write_chunks(gen_dir, ordered, tokens)
        write_texts(gen_dir, base, plan.keep, loaded.texts)
        KeywordIndex.build([c.id for c in ordered], [tokens[c.id] for c in ordered]).save(gen_dir / "bm25")
        documents = {**plan.keep, **loaded.docs}
        manifest = Manifest(
            embedding_model=model_id,
            chunker=chunker_settings(settings),
            corpus_hash=corpus_hash(docs),
            index_hash=hashlib.sha256("\n".join(sorted(chunks)).encode()).hexdigest()[:16],
            created=_now(),
            collection=collection_name(settings, gen),
            documents=dict(sorted(documents.items())),
            failed=plan.failed_ids,
        )
        (gen_dir / "manifest.json").write_text(manifest.to_json(), encoding="utf-8")
        if store.count() != len(ordered):
            raise IngestError(f"vector count {store.count()} != chunk count {len(ordered)}")
        write_current(root, gen)
    except OSError as exc:
        shutil.rmtree(gen_dir, ignore_errors=True)
        hint = " The disk is full: free space and run the ingest again." if exc.errno == errno.ENOSPC else ""
        raise IngestError(f"Could not write the new index in {root}/ ({exc.strerror or exc}).{hint} "
                          "The previous index is unchanged.") from None
    except BaseException:
        shutil.rmtree(gen_dir, ignore_errors=True)
        raise
    return gen, len(documents), len(ordered)


def _carry_over(settings: Settings, emb: Embeddings, plan: Plan, base: Path | None, gen: str, gen_dir: Path,
                removed_ids: list[str]) -> tuple[VectorStore, dict[str, Chunk], dict[str, list[str]]]:
    """The new generation's vector store, chunks and keyword tokens: those of ``base`` (the live generation)
    without ``removed_ids``, or empty when there is nothing to reuse (``base`` is None)."""
    chunks: dict[str, Chunk] = {}
    tokens: dict[str, list[str]] = {}
    if base is not None:
        chunks, tokens = read_chunks(base)
        for cid in removed_ids:
            chunks.pop(cid, None)
            tokens.pop(cid, None)
        if settings.chroma_mode == "persistent":
            shutil.copytree(base / "chroma", gen_dir / "chroma")
    store = VectorStore(settings, emb, collection_name(settings, gen),
                        gen_dir / "chroma" if settings.chroma_mode == "persistent" else None)
    if base is not None:
        if settings.chroma_mode == "http" and plan.old is not None:
            store.copy_from(VectorStore(settings, emb, plan.old.collection, None))
        store.delete(removed_ids)
    return store, chunks, tokens


def _embed(store: VectorStore, chunks: list[Chunk], settings: Settings, progress: bool,
           on_progress: Progress | None) -> None:
    """Add ``chunks`` to ``store`` (which embeds them) in batches, with the "embedding" progress bar."""
    step = max(1, settings.embedding_batch * 4)
    ebar = tqdm(total=len(chunks), desc="embedding", unit="chunk", disable=not progress, file=sys.stderr)
    for i in range(0, len(chunks), step):
        store.add(chunks[i : i + step])
        ebar.update(len(chunks[i : i + step]))
        if on_progress:
            on_progress(0.4 + 0.5 * (i + step) / max(1, len(chunks)), "embedding")
    ebar.close()
