"""The persisted index: generations of (Chroma collection + BM25 + chunk table + manifest) and the swap.

Layout of ``index_dir``::

    CURRENT                  name of the live generation (replaced atomically, last step of an ingest)
    gen-<time>-<rand>/       one complete generation
        manifest.json        embedding model, chunker settings, corpus hash, index hash, documents
        chunks.jsonl         every chunk with its metadata and keyword tokens
        bm25/                the keyword index
        chroma/              the Chroma persistent directory (chroma_mode=persistent)

An ingest builds a new generation beside the live one and swaps ``CURRENT`` only when it is complete, so a
crash, a kill or a full disk mid-ingest leaves the previous generation answering.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from bot.errors import IndexCorruptError, IndexMissingError
from bot.ingest.chunking import Chunk
from bot.ingest.keyword import KeywordIndex
from bot.ingest.store import VectorStore
from bot.settings import Settings

log = logging.getLogger(__name__)

MANIFEST_VERSION = 1
CURRENT = "CURRENT"


@dataclass
class DocRecord:
    doc_id: str
    path: str
    title: str
    file_hash: str
    lang: str
    chunk_ids: list[str]
    indexed_at: str


@dataclass
class Manifest:
    embedding_model: str
    chunker: dict[str, Any]
    corpus_hash: str = ""
    index_hash: str = ""
    created: str = ""
    collection: str = ""
    documents: dict[str, DocRecord] = field(default_factory=dict)
    failed: dict[str, dict[str, str]] = field(default_factory=dict)  # doc id -> file name, hash, reason
    version: int = MANIFEST_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, raw: str) -> Manifest:
        data = json.loads(raw)
        docs = {k: DocRecord(**v) for k, v in data.pop("documents", {}).items()}
        return cls(documents=docs, **data)


def collection_name(settings: Settings, gen: str) -> str:
    """Per-generation collection in server mode (one server, many generations); fixed name when embedded."""
    return f"{settings.collection}-{gen}" if settings.chroma_mode == "http" else settings.collection


def current_generation(index_dir: Path) -> str | None:
    marker = index_dir / CURRENT
    if not marker.is_file():
        return None
    name = marker.read_text(encoding="utf-8").strip()
    return name or None


def write_current(index_dir: Path, gen: str) -> None:
    """Atomically point CURRENT at ``gen`` (write a temporary file, fsync, rename over)."""
    tmp = index_dir / f".{CURRENT}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(gen + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, index_dir / CURRENT)
    fd = os.open(index_dir, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_chunks(gen_dir: Path) -> tuple[dict[str, Chunk], dict[str, list[str]]]:
    chunks: dict[str, Chunk] = {}
    tokens: dict[str, list[str]] = {}
    with open(gen_dir / "chunks.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            kw = row.pop("kw")
            chunk = Chunk(**row)
            chunks[chunk.id] = chunk
            tokens[chunk.id] = kw
    return chunks, tokens


def write_chunks(gen_dir: Path, chunks: list[Chunk], tokens: dict[str, list[str]]) -> None:
    with open(gen_dir / "chunks.jsonl", "w", encoding="utf-8") as handle:
        for chunk in chunks:
            row = asdict(chunk)
            row["kw"] = tokens[chunk.id]
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_texts(gen_dir: Path, previous: Path | None, keep: dict[str, DocRecord], texts: dict[str, str]) -> None:
    """Store each document's normalised text (offsets of chunks and citations point into it)."""
    folder = gen_dir / "texts"
    folder.mkdir(exist_ok=True)
    for doc_id in keep:
        if previous is not None and (previous / "texts" / f"{doc_id}.txt").is_file():
            shutil.copyfile(previous / "texts" / f"{doc_id}.txt", folder / f"{doc_id}.txt")
    for doc_id, text in texts.items():
        (folder / f"{doc_id}.txt").write_text(text, encoding="utf-8")


class Index:
    """A read-only view of one complete generation: what retrieval searches."""

    def __init__(
        self,
        root: Path,
        gen: str,
        manifest: Manifest,
        chunks: dict[str, Chunk],
        vectors: VectorStore,
        keywords: KeywordIndex,
    ) -> None:
        self.root, self.gen, self.manifest = root, gen, manifest
        self.chunks, self.vectors, self.keywords = chunks, vectors, keywords

        self._texts: dict[str, str] = {}

    @property
    def gen_dir(self) -> Path:
        return self.root / self.gen

    def doc_text(self, doc_id: str) -> str:
        """The normalised text of a document (what chunk and citation offsets index into)."""
        if doc_id not in self._texts:
            path = self.gen_dir / "texts" / f"{doc_id}.txt"
            self._texts[doc_id] = path.read_text(encoding="utf-8") if path.is_file() else ""
        return self._texts[doc_id]

    @classmethod
    def open(cls, settings: Settings, embeddings: Embeddings, index_dir: Path | None = None) -> Index:
        root = Path(index_dir or settings.index_dir)
        gen = current_generation(root)
        if gen is None:
            raise IndexMissingError(
                f"No index in {root}/. Fix: run `policybot ingest --docs {settings.docs_dir} --index {root}`."
            )
        gen_dir = root / gen
        try:
            manifest = Manifest.from_json((gen_dir / "manifest.json").read_text(encoding="utf-8"))
            chunks, _ = read_chunks(gen_dir)
            keywords = KeywordIndex.load(gen_dir / "bm25")
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise IndexCorruptError(
                f"The index in {root}/ is damaged ({type(exc).__name__} in {gen}). "
                f"Fix: `policybot ingest --rebuild --index {root}`."
            ) from None
        vectors = VectorStore(settings, embeddings, manifest.collection or collection_name(settings, gen),
                              gen_dir / "chroma" if settings.chroma_mode == "persistent" else None)
        stored = vectors.count()
        if stored != len(chunks) or len(keywords) != len(chunks):
            raise IndexCorruptError(
                f"The index in {root}/ is inconsistent ({stored} vectors, {len(keywords)} keyword entries, "
                f"{len(chunks)} chunks). Fix: `policybot ingest --rebuild --index {root}`."
            )
        return cls(root, gen, manifest, chunks, vectors, keywords)


def remove_stale_generations(root: Path, keep: set[str], settings: Settings) -> None:
    """Delete generations not in ``keep`` (half-written ones from a crash, and old ones)."""
    for path in root.glob("gen-*"):
        if path.name in keep or not path.is_dir():
            continue
        if settings.chroma_mode == "http":
            try:
                manifest = Manifest.from_json((path / "manifest.json").read_text(encoding="utf-8"))
                VectorStore(settings, _NoEmbeddings(), manifest.collection, None).drop()
            except Exception as exc:  # a half-written generation may have no manifest
                log.debug("could not drop collection of %s: %s", path.name, exc)
        shutil.rmtree(path, ignore_errors=True)


class _NoEmbeddings(Embeddings):
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise NotImplementedError

    def embed_query(self, text: str) -> list[float]:
        raise NotImplementedError
