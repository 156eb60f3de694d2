"""The corpus as a live library: list, add and remove documents while the server runs.

``docs/`` stays the source of truth: an upload is written into it (atomically), a removal deletes the file,
and either runs the same incremental ingest as the CLI, then swaps the pipeline onto the new generation.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

from bot.answer import AddResult, DocumentInfo
from bot.errors import IngestError, UserInputError
from bot.ingest.build import ingest
from bot.ingest.index import Index
from bot.ingest.loaders import SUPPORTED_SUFFIXES
from bot.lang.cjk import CJK_CLASS
from bot.reader.pipeline import Pipeline

log = logging.getLogger(__name__)

_SAFE_NAME = re.compile(rf"[^\w.\- {CJK_CLASS}]+")


def safe_filename(name: str) -> str:
    """A file name that cannot escape the docs folder."""
    base = Path(name.replace("\\", "/")).name
    base = _SAFE_NAME.sub("_", base).strip(" .")
    if not base:
        raise UserInputError("The file has no usable name.")
    return base[:120]


class Library:
    """Implements ``bot.answer.DocumentLibrary`` over the pipeline's index and the docs folder."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.settings = pipeline.settings
        self._lock = threading.Lock()

    def documents(self) -> list[DocumentInfo]:
        manifest = self.pipeline.index.manifest
        return [DocumentInfo(doc_id=r.doc_id, title=r.title, path=r.path, chunks=len(r.chunk_ids),
                             indexed_at=r.indexed_at) for r in manifest.documents.values()]

    def _reindex(self, progress: Callable[[float, str], None] | None) -> dict[str, str]:
        report = ingest(self.settings, progress=False, on_progress=progress, embeddings=self.pipeline.embeddings)
        if report.changed:
            self.pipeline.use_index(Index.open(self.settings, self.pipeline.embeddings))
        return report.failed

    def add_files(self, paths: list[Path], progress: Callable[[float, str], None] | None = None) -> AddResult:
        result = AddResult()
        limit = int(self.settings.max_upload_mb * 1024 * 1024)
        docs = Path(self.settings.docs_dir)
        with self._lock:
            written: list[str] = []
            for path in paths:
                name = safe_filename(Path(path).name)
                if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
                    result.failed[name] = (f"unsupported file type; use one of {', '.join(sorted(SUPPORTED_SUFFIXES))}")
                    continue
                size = Path(path).stat().st_size
                if size > limit:
                    result.failed[name] = f"the file is {size / 1e6:.1f} MB; the limit is {self.settings.max_upload_mb} MB"
                    continue
                target = docs / name
                tmp = docs / f".{name}.part"
                shutil.copyfile(path, tmp)
                os.replace(tmp, target)
                written.append(name)
            if not written:
                return result
            try:
                failed = self._reindex(progress)
            except IngestError as exc:
                for name in written:
                    result.failed[name] = str(exc)
                return result
            for name in written:
                if name in failed:
                    result.failed[name] = failed[name]
                    (docs / name).unlink(missing_ok=True)  # a file that cannot be read is not kept
                else:
                    result.added.append(Path(name).stem)
        return result

    def remove(self, doc_id: str) -> bool:
        with self._lock:
            record = self.pipeline.index.manifest.documents.get(doc_id)
            if record is None:
                return False
            target = (Path(self.settings.docs_dir) / record.path).resolve()
            if Path(self.settings.docs_dir).resolve() not in target.parents:
                raise UserInputError("That document is not inside the documents folder.")
            target.unlink(missing_ok=True)
            self._reindex(None)
            return True
