"""The vector store: Chroma through ``langchain_chroma``, embedded (PersistentClient) or a server (HttpClient).

Telemetry is off and the embedding function is always ours, so Chroma never downloads its default model.
"""

from __future__ import annotations

import errno
import logging
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import chromadb
from chromadb.config import Settings as ChromaSettings
from langchain_chroma import Chroma
from langchain_core.embeddings import Embeddings

from bot.errors import ConfigError, IndexCorruptError
from bot.ingest.chunking import Chunk
from bot.settings import Settings

log = logging.getLogger(__name__)

CHROMA_SETTINGS = ChromaSettings(anonymized_telemetry=False, allow_reset=False)  # a template: never pass it


def _chroma_settings() -> ChromaSettings:
    """A fresh settings object per client: chromadb's HttpClient writes the host, port and HTTP API into the
    object it is given, so a shared one would turn a later PersistentClient in this process into an HTTP one."""
    return CHROMA_SETTINGS.model_copy() if hasattr(CHROMA_SETTINGS, "model_copy") else CHROMA_SETTINGS.copy()
ADD_BATCH = 256
DISK_FULL_BYTES = 4 * 1024 * 1024


def _client(settings: Settings, path: Path | None) -> Any:
    if settings.chroma_mode == "http":
        try:
            return chromadb.HttpClient(
                host=settings.chroma_host,
                port=settings.chroma_port,
                tenant=settings.chroma_tenant,
                database=settings.chroma_database,
                settings=_chroma_settings(),
            )
        except Exception as exc:  # chromadb raises several types for an unreachable server
            raise ConfigError(
                f"Cannot reach the Chroma server at {settings.chroma_host}:{settings.chroma_port} ({exc}). "
                "Start it with `chroma run --path DIR --port PORT` or fix POLICYBOT_CHROMA_HOST/PORT, "
                "or use POLICYBOT_CHROMA_MODE=persistent."
            ) from None
    assert path is not None
    return chromadb.PersistentClient(path=str(path), settings=_chroma_settings())


class VectorStore:
    """One Chroma collection holding the chunks of one index generation."""

    def __init__(self, settings: Settings, embeddings: Embeddings, collection: str, path: Path | None) -> None:
        self.collection_name = collection
        self.path = path
        try:
            self.client = _client(settings, path)
            self.chroma = Chroma(
                collection_name=collection,
                embedding_function=embeddings,
                client=self.client,
                collection_metadata={"hnsw:space": "cosine"},
            )
        except Exception as exc:
            if path is None or not (path / "chroma.sqlite3").is_file():
                raise
            # an existing Chroma directory that Chroma cannot open (damaged sqlite file, half-copied folder)
            raise IndexCorruptError(
                f"The vector index in {path.parent.parent}/ cannot be opened ({type(exc).__name__}: "
                f"{str(exc)[:120]}). Fix: `policybot ingest --rebuild --index {path.parent.parent}`."
            ) from None

    def count(self) -> int:
        try:
            return int(self.chroma._collection.count())
        except Exception as exc:
            raise IndexCorruptError(
                f"The vector index cannot be read ({type(exc).__name__}). "
                "Fix: rebuild it with `policybot ingest --rebuild`."
            ) from None

    def add(self, chunks: list[Chunk]) -> None:
        """Embed (with our embedding function, via the LangChain wrapper) and store the chunks."""
        try:
            for i in range(0, len(chunks), ADD_BATCH):
                part = chunks[i : i + ADD_BATCH]
                self.chroma.add_texts(
                    texts=[c.text for c in part], metadatas=[c.metadata() for c in part], ids=[c.id for c in part]
                )
        except Exception as exc:
            # Chroma reports a full disk as its own InternalError ("Error in compaction ..."): say what it is,
            # as the OSError the ingest turns into "the disk is full, the previous index is unchanged".
            usage = shutil.disk_usage(self.path) if self.path is not None else None
            if usage is not None and usage.free < min(DISK_FULL_BYTES, usage.total // 4):
                raise OSError(errno.ENOSPC, f"No space left on device ({type(exc).__name__} in Chroma)") from None
            raise

    def delete(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        for i in range(0, len(ids), ADD_BATCH):
            self.chroma.delete(ids=ids[i : i + ADD_BATCH])

    def copy_from(self, other: VectorStore, batch: int = 1000) -> None:
        """Copy every record (with its stored vector) from another collection: used for a new generation."""
        total = other.count()
        for offset in range(0, total, batch):
            got = other.chroma._collection.get(
                limit=batch, offset=offset, include=["embeddings", "documents", "metadatas"]
            )
            if got["ids"]:
                self.chroma._collection.upsert(
                    ids=got["ids"],
                    embeddings=got["embeddings"],
                    documents=got["documents"],
                    metadatas=got["metadatas"],
                )

    def search(self, vector: list[float], k: int, where: dict[str, Any] | None = None) -> list[tuple[str, float]]:
        """Ids and cosine similarities of the k nearest chunks, best first."""
        if k <= 0:
            return []
        hits = self.chroma.similarity_search_by_vector_with_relevance_scores(vector, k=k, filter=where)
        return [(str(doc.id), 1.0 - float(distance)) for doc, distance in hits]

    def drop(self) -> None:
        try:
            self.client.delete_collection(self.collection_name)
        except Exception:  # already gone
            log.debug("collection %s already dropped", self.collection_name)
