"""Step 1 of an ingest: the files in the docs folder against the live generation's manifest.

Unchanged documents (same bytes) are kept as they are, new and changed ones are (re)loaded, deleted ones
dropped. A change of the embedding model or chunker settings means a rebuild: nothing is kept.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from bot.ingest.index import DocRecord, Manifest, current_generation
from bot.ingest.loaders import discover
from bot.settings import Settings


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def corpus_files(docs_dir: Path, settings: Settings) -> list[Path]:
    return discover(docs_dir, exclude={Path(settings.glossary_file).name})


def chunker_settings(settings: Settings) -> dict[str, object]:
    return {"chunk_tokens": settings.chunk_tokens, "overlap_sentences": settings.chunk_overlap_sentences,
            "tokenizer": "cl100k_base", "version": 2}


@dataclass
class Plan:
    """What an ingest does, from the docs folder compared with the live generation's manifest."""

    live: str | None  # the live generation, None before the first ingest
    old: Manifest | None  # its manifest
    rebuild: bool  # nothing is reused (asked for, or the embedding model or chunker changed)
    previous: dict[str, DocRecord]  # the live generation's documents
    keep: dict[str, DocRecord]  # documents carried over as they are
    todo: dict[str, tuple[Path, str]]  # new or changed: doc id -> (path, file hash)
    gone: list[str]  # deleted since the live generation
    failed_names: dict[str, str]  # file name -> reason: refused without loading (for the report)
    failed_ids: dict[str, dict[str, str]]  # doc id -> name, file hash, reason (kept in the manifest)

    @property
    def reuse(self) -> bool:
        """Does the new generation start as a copy of the live one?"""
        return self.live is not None and not self.rebuild and self.old is not None


def plan_changes(settings: Settings, docs: Path, root: Path, model_id: str, rebuild: bool) -> Plan:
    """Compare the files in ``docs`` (by file hash) with the manifest of the live generation in ``root``.

    Files sharing a document id, and files that failed before and have not changed since, are refused
    (``failed_names``) and not loaded again.
    """
    live = current_generation(root)
    old: Manifest | None = None
    if live and (root / live / "manifest.json").is_file():
        old = Manifest.from_json((root / live / "manifest.json").read_text(encoding="utf-8"))
    if old and (old.embedding_model != model_id or old.chunker != chunker_settings(settings)):
        rebuild = True  # vectors or chunk boundaries would differ: nothing can be reused
    failed_names: dict[str, str] = {}
    by_id: dict[str, tuple[Path, str]] = {}
    for path in corpus_files(docs, settings):
        doc_id = path.stem
        if doc_id in by_id:
            failed_names[path.name] = f"another file already has the document id '{doc_id}'; rename one"
            continue
        by_id[doc_id] = (path, file_sha256(path))
    previous = dict(old.documents) if old else {}
    keep = {d: r for d, r in previous.items()
            if not rebuild and d in by_id and r.file_hash == by_id[d][1]}
    todo = {d: v for d, v in by_id.items() if d not in keep}
    known_bad = {d: f for d, f in (old.failed if old else {}).items()
                 if d in todo and f.get("file_hash") == todo[d][1] and d not in previous}
    for doc_id, info in known_bad.items():  # failed before, unchanged since: report again, no re-index
        failed_names[info["name"]] = info["reason"]
        del todo[doc_id]
    gone = [d for d in previous if d not in by_id]
    return Plan(live=live, old=old, rebuild=rebuild, previous=previous, keep=keep, todo=todo, gone=gone,
                failed_names=failed_names, failed_ids=dict(known_bad))
