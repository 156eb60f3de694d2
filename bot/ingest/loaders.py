"""Read one source document (txt, md, html, pdf, docx) into normalised text with a title and paragraph spans.

Every failure is an ``IngestError`` naming the file and the reason, so ingestion can warn and go on.
The converters of each format (and the dropping of hidden HTML) are in ``bot.ingest.formats``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bot.ingest.formats import (
    check_docx_archive,
    docx_to_text,
    fail,
    html_to_text,
    load_text_file,
    markdown_to_text,
    pdf_to_text,
)
from bot.lang.cjk import detect_lang
from bot.lang.text import normalize, paragraph_spans

SUPPORTED_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx"})
DOCX_MAX_XML_BYTES = 50 * 1024 * 1024  # declared uncompressed size of the docx text parts (zip-bomb guard)


@dataclass(frozen=True)
class SourceDoc:
    doc_id: str
    title: str
    path: str  # posix, relative to the docs root
    text: str  # normalised; chunk and citation offsets point into it
    lang: str
    paragraphs: tuple[tuple[int, int], ...]  # paragraph spans into text
    file_hash: str  # sha256 of the raw bytes


def _is_hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def discover(docs_dir: Path, exclude: Iterable[str] = frozenset()) -> list[Path]:
    """Every file under ``docs_dir`` (sorted; hidden files/dirs and ``exclude`` names skipped).

    Unsupported files are returned too, so that ``load_document`` can report them.
    """
    excluded = set(exclude)
    found = []
    for path in docs_dir.rglob("*"):
        if not path.is_file() or _is_hidden(path, docs_dir):
            continue
        rel = path.relative_to(docs_dir).as_posix()
        if path.name in excluded or rel in excluded:
            continue
        found.append(path)
    return sorted(found, key=lambda p: p.relative_to(docs_dir).as_posix())


def check_docx(path: Path, rel: str) -> None:
    """Raise ``IngestError`` unless ``path`` is a zip with a Word body whose text parts unpack to a sane size
    (``DOCX_MAX_XML_BYTES``, what the archive declares), without unpacking anything."""
    check_docx_archive(path, rel, DOCX_MAX_XML_BYTES)


# --- one document ---------------------------------------------------------------------------------


def _first_line(text: str, limit: int = 200) -> str:
    line = next((line.strip() for line in text.split("\n") if line.strip()), "")
    if len(line) <= limit:
        return line
    cut = line.rfind(" ", 0, limit)
    return line[: cut if cut > limit // 2 else limit]


def _extract(path: Path, raw: bytes, rel: str, suffix: str) -> tuple[str, str]:
    """(raw text, title or "") for one file."""
    if suffix == ".txt":
        return load_text_file(path, raw, rel), ""
    if suffix in (".md", ".markdown"):
        return markdown_to_text(load_text_file(path, raw, rel))
    if suffix in (".html", ".htm"):
        return html_to_text(raw, rel)
    if suffix == ".pdf":
        return pdf_to_text(path, rel)
    return docx_to_text(path, rel, DOCX_MAX_XML_BYTES), ""


def load_document(path: Path, docs_root: Path, max_bytes: int | None = None) -> SourceDoc:
    """Load, normalise and title one file; raises ``IngestError`` naming the file and the reason."""
    try:
        rel = path.resolve().relative_to(docs_root.resolve()).as_posix()
    except ValueError:
        rel = path.name
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise fail(rel, f"unsupported file type '{suffix or '(none)'}'; convert it to one of {supported}")
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise fail(
                rel,
                f"file is {size} bytes, over the {max_bytes}-byte limit (max_file_mb); split or shrink it",
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise fail(rel, f"cannot read the file ({exc.strerror or exc})") from None
    if not raw.strip():
        raise fail(rel, "file is empty; add text or remove it")
    raw_text, title = _extract(path, raw, rel, suffix)
    text = normalize(raw_text)
    if not text:
        raise fail(rel, "no extractable text (scanned PDF or empty document?); add a text version")
    title = _first_line(normalize(title).replace("\n", " ")) or _first_line(text)
    if title not in text[: len(title) + 500]:
        text = f"{title}\n\n{text}"  # keep the title as part of the text
    return SourceDoc(
        doc_id=_doc_id(rel),
        title=title,
        path=rel,
        text=text,
        lang=detect_lang(text),
        paragraphs=tuple(paragraph_spans(text)),
        file_hash=hashlib.sha256(raw).hexdigest(),
    )


def _doc_id(rel: str) -> str:
    """The file stem; for files in sub-folders the relative path without suffix (keeps ids unique)."""
    return PurePosixPath(rel).with_suffix("").as_posix()
