"""The checks every upload passes before it is written anywhere, shared by the page and the HTTP API."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bot.errors import IngestError
from bot.ingest.loaders import check_docx

UPLOAD_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf", ".docx")


@dataclass(frozen=True)
class UploadProblem:
    """Why a file is refused before it is written anywhere: ``kind`` is type, size, empty or corrupt."""

    kind: Literal["type", "size", "empty", "corrupt"]
    message: str


def upload_problem(path: Path, name: str, max_mb: float) -> UploadProblem | None:
    """The checks every upload passes (page and API) before it reaches the docs folder, or None if it passes.

    Cheap ones only: the type, the size, an empty file, and for a .docx what its archive declares (a zip bomb
    is refused unopened). A file that passes can still fail to load; ingest then reports it and drops it.
    """
    if Path(name).suffix.lower() not in UPLOAD_SUFFIXES:
        return UploadProblem("type", f"{name}: only {', '.join(UPLOAD_SUFFIXES)} files can be added.")
    size = path.stat().st_size
    if size > max_mb * 1024 * 1024:
        return UploadProblem("size", f"{name} is {size / (1024 * 1024):.1f} MB; the limit is {max_mb:g} MB.")
    if size == 0:
        return UploadProblem("empty", f"{name} is empty (0 bytes); choose a file with text in it.")
    if name.lower().endswith(".docx"):
        try:
            check_docx(path, name)
        except IngestError as exc:
            return UploadProblem("corrupt", str(exc))
    return None
