"""Ingest: docs/ -> chunks -> a new index generation -> atomic swap. Incremental and crash-safe.

Unchanged documents (same bytes) are skipped, changed ones replaced, deleted ones removed. A change of the
embedding model or chunker settings rebuilds everything. See ``bot.ingest.index`` for the on-disk layout.
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
    current_generation,
    read_chunks,
    remove_stale_generations,
    write_chunks,
    write_current,
    write_texts,
)
from bot.ingest.keyword import KeywordIndex
from bot.ingest.loaders import SourceDoc, discover, load_document
from bot.ingest.store import VectorStore
from bot.lang.text import tokenize
from bot.settings import Settings

log = logging.getLogger(__name__)

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


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def corpus_files(docs_dir: Path, settings: Settings) -> list[Path]:
    return discover(docs_dir, exclude={Path(settings.glossary_file).name})


def corpus_hash(docs_dir: Path, settings: Settings | None = None) -> str:
    """Hash of every file's relative path and bytes (glossary included: it changes retrieval)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(docs_dir).rglob("*") if p.is_file() and not p.name.startswith(".")):
        digest.update(path.relative_to(docs_dir).as_posix().encode())
        digest.update(file_sha256(path).encode())
    return digest.hexdigest()[:16]


def chunker_settings(settings: Settings) -> dict[str, object]:
    return {"chunk_tokens": settings.chunk_tokens, "overlap_sentences": settings.chunk_overlap_sentences,
            "tokenizer": "cl100k_base", "version": 2}


@contextmanager
def ingest_lock(index_dir: Path) -> Iterator[None]:
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IngestError(f"Another ingest is running on {index_dir}/; wait for it to finish.") from None
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
) -> IngestReport:
    """Bring the index in ``index_dir`` up to date with ``docs_dir``. Returns what changed."""
    docs = Path(docs_dir or settings.docs_dir)
    root = Path(index_dir or settings.index_dir)
    if not docs.is_dir():
        raise IngestError(f"The documents folder {docs}/ does not exist. Fix: create it or pass --docs DIR.")
    started = time.perf_counter()
    report = IngestReport()
    emb = embeddings or build_embeddings(settings.embedding_batch, settings.embedding_backend)
    model_id = getattr(emb, "model_id", type(emb).__name__)
    with ingest_lock(root):
        live = current_generation(root)
        old: Manifest | None = None
        if live and (root / live / "manifest.json").is_file():
            old = Manifest.from_json((root / live / "manifest.json").read_text(encoding="utf-8"))
        if old and (old.embedding_model != model_id or old.chunker != chunker_settings(settings)):
            rebuild = True  # vectors or chunk boundaries would differ: nothing can be reused

        # 1. what changed
        files = corpus_files(docs, settings)
        by_id: dict[str, tuple[Path, str]] = {}
        for path in files:
            doc_id = path.stem
            if doc_id in by_id:
                report.failed[path.name] = f"another file already has the document id '{doc_id}'; rename one"
                continue
            by_id[doc_id] = (path, file_sha256(path))
        previous = dict(old.documents) if old else {}
        keep = {d: r for d, r in previous.items()
                if not rebuild and d in by_id and r.file_hash == by_id[d][1]}
        todo = {d: v for d, v in by_id.items() if d not in keep}
        known_bad = {d: f for d, f in (old.failed if old else {}).items()
                     if d in todo and f.get("file_hash") == todo[d][1] and d not in previous}
        for doc_id, info in known_bad.items():  # failed before, unchanged since: report again, no re-index
            report.failed[info["name"]] = info["reason"]
            del todo[doc_id]
        failed_ids: dict[str, dict[str, str]] = dict(known_bad)
        gone = [d for d in previous if d not in by_id]
        report.skipped = len(keep)
        if live and not todo and not gone:
            report.documents, report.chunks = len(keep), sum(len(r.chunk_ids) for r in keep.values())
            report.generation, report.seconds = live, time.perf_counter() - started
            return report

        # 2. load and chunk what is new or changed (a bad file is reported, the rest goes on)
        new_chunks: list[Chunk] = []
        texts: dict[str, str] = {}
        new_docs: dict[str, DocRecord] = {}
        bar = tqdm(todo.items(), desc="reading", unit="doc", disable=not progress, file=sys.stderr)
        for i, (doc_id, (path, fhash)) in enumerate(bar):
            if on_progress:
                on_progress(0.4 * i / max(1, len(todo)), f"reading {path.name}")
            try:
                doc: SourceDoc = load_document(path, docs, max_bytes=int(settings.max_file_mb * 1024 * 1024))
                chunks = chunk_document(doc, settings.chunk_tokens, settings.chunk_overlap_sentences)
            except IngestError as exc:
                report.failed[path.name] = str(exc)
                failed_ids[doc_id] = {"name": path.name, "file_hash": fhash, "reason": str(exc)}
                log.warning("skipped %s: %s", path.name, exc)
                if doc_id in previous and not rebuild:
                    keep[doc_id] = previous[doc_id]  # keep the last good version answering
                continue
            new_chunks.extend(chunks)
            texts[doc_id] = doc.text
            new_docs[doc_id] = DocRecord(doc_id, doc.path, doc.title, fhash, doc.lang,
                                         [c.id for c in chunks], _now())
        removed_ids = [cid for d, r in previous.items() if d not in keep for cid in r.chunk_ids]
        report.removed = gone
        report.added = sorted(new_docs)

        # 3. write a complete new generation beside the live one, then swap
        gen = f"gen-{int(time.time() * 1000)}-{uuid.uuid4().hex[:6]}"
        gen_dir = root / gen
        try:
            gen_dir.mkdir(parents=True)
            reuse = live is not None and not rebuild and old is not None
            kept_chunks: dict[str, Chunk] = {}
            tokens: dict[str, list[str]] = {}
            if reuse and live:
                kept_chunks, tokens = read_chunks(root / live)
                for cid in removed_ids:
                    kept_chunks.pop(cid, None)
                    tokens.pop(cid, None)
                if settings.chroma_mode == "persistent":
                    shutil.copytree(root / live / "chroma", gen_dir / "chroma")
            store = VectorStore(settings, emb, collection_name(settings, gen),
                                gen_dir / "chroma" if settings.chroma_mode == "persistent" else None)
            if reuse and live and settings.chroma_mode == "http" and old is not None:
                store.copy_from(VectorStore(settings, emb, old.collection, None))
            if reuse:
                store.delete(removed_ids)
            fresh = [c for c in new_chunks if c.id not in kept_chunks]
            step = max(1, settings.embedding_batch * 4)
            ebar = tqdm(total=len(fresh), desc="embedding", unit="chunk", disable=not progress, file=sys.stderr)
            for i in range(0, len(fresh), step):
                store.add(fresh[i : i + step])
                ebar.update(len(fresh[i : i + step]))
                if on_progress:
                    on_progress(0.4 + 0.5 * (i + step) / max(1, len(fresh)), "embedding")
            ebar.close()
            for chunk in fresh:
                tokens[chunk.id] = tokenize(f"{chunk.title}\n{chunk.text}" if chunk.start > 0 else chunk.text)
                kept_chunks[chunk.id] = chunk
            ordered = sorted(kept_chunks.values(), key=lambda c: (c.doc_id, c.start))
            write_chunks(gen_dir, ordered, tokens)
            write_texts(gen_dir, root / live if reuse and live else None, keep, texts)
            KeywordIndex.build([c.id for c in ordered], [tokens[c.id] for c in ordered]).save(gen_dir / "bm25")
            documents = {**keep, **new_docs}
            manifest = Manifest(
                embedding_model=model_id,
                chunker=chunker_settings(settings),
                corpus_hash=corpus_hash(docs),
                index_hash=hashlib.sha256("\n".join(sorted(kept_chunks)).encode()).hexdigest()[:16],
                created=_now(),
                collection=collection_name(settings, gen),
                documents=dict(sorted(documents.items())),
                failed=failed_ids,
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
        remove_stale_generations(root, keep={gen, live or gen}, settings=settings)
        if on_progress:
            on_progress(1.0, "done")
        report.documents = len(documents)
        report.chunks = len(ordered)
        report.generation = gen
        report.changed = True
        report.seconds = time.perf_counter() - started
        return report
