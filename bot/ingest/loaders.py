"""Read one source document (txt, md, html, pdf, docx) into normalised text with a title and paragraph spans.

Every failure is an ``IngestError`` naming the file and the reason, so ingestion can warn and go on.
Hidden HTML (scripts, comments, ``hidden``/``aria-hidden``/``display:none`` elements) is dropped: text a
reader cannot see must not reach the model (a prompt-injection vector).
"""

from __future__ import annotations

import codecs
import hashlib
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bs4 import BeautifulSoup, CData, NavigableString, PageElement, Tag

from bot.errors import IngestError
from bot.lang.text import detect_lang, normalize, paragraph_spans, word_set

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


def _fail(rel: str, reason: str) -> IngestError:
    return IngestError(f"{rel}: {reason}")


# --- plain text and Markdown ----------------------------------------------------------------------


def _encoding_of(raw: bytes, rel: str) -> str:
    """utf-8 (BOM optional), utf-16 with a BOM (Windows "Unicode"), else GB18030."""
    candidates = ("utf-16",) if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else ()
    for encoding in (*candidates, "utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            return encoding
    raise _fail(rel, "cannot decode the text (not UTF-8 or GB18030, or binary data); save it as UTF-8")


def _load_text_file(path: Path, raw: bytes, rel: str) -> str:
    from langchain_community.document_loaders import TextLoader

    docs = TextLoader(str(path), encoding=_encoding_of(raw, rel)).load()
    return "\n\n".join(d.page_content for d in docs)


_Rules = list[tuple[re.Pattern[str], str]]
_MD_HIDDEN: _Rules = [
    (re.compile(r"\A---\n.*?\n---\n", re.S), ""),  # YAML front matter
    (re.compile(r"<!--.*?(-->|\Z)", re.S), ""),  # comments (hidden text)
]
_MD_BLOCKS: _Rules = [
    (re.compile(r"^ {0,3}(`{3,}|~{3,}).*$", re.M), ""),  # code fences (content kept)
    (re.compile(r"^ {0,3}#{1,6}[ \t]+(.*?)[ \t#]*$", re.M), r"\n\1\n"),  # ATX headings become paragraphs
    (re.compile(r"^ {0,3}(=+|-+)[ \t]*$", re.M), "\n"),  # setext underlines and rules
    (re.compile(r"^[ \t|:]*-{3,}[- \t|:]*(\n|\Z)", re.M), ""),  # table rules
    (re.compile(r"^ {0,3}([*_])(?:[ \t]*\1){2,}[ \t]*$", re.M), "\n"),  # horizontal rules
    (re.compile(r"^ {0,3}\[[^\]]+\]:\s+\S+.*$", re.M), ""),  # link reference definitions
    (re.compile(r"^ {0,3}>[ \t]?", re.M), ""),  # block quotes
    (re.compile(r"^[ \t]*[-*+][ \t]+", re.M), ""),  # bullets
    (re.compile(r"[ \t]*\|[ \t]*"), " "),  # table cells
]
_MD_INLINE: _Rules = [
    (re.compile(r"!\[[^\]]*\]\([^)]*\)|!\[[^\]]*\]\[[^\]]*\]"), ""),  # images
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # inline links
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),  # reference links
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),  # strong
    (re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])"), r"\1"),  # *emphasis*
    (re.compile(r"(?<!\w)_(?=\S)(.+?)(?<=\S)_(?!\w)"), r"\1"),  # _emphasis_
    (re.compile(r"~~(.+?)~~"), r"\1"),  # strikethrough
    (re.compile(r"`([^`\n]+)`"), r"\1"),  # inline code
]
_MD_HEADING = re.compile(r"^ {0,3}#[ \t]+(.+?)[ \t#]*$", re.M)
_HTML_TAG = re.compile(r"</?[A-Za-z][^>]*>")


def _apply(rules: _Rules, text: str) -> str:
    for pattern, replacement in rules:
        text = pattern.sub(replacement, text)
    return text


def _markdown_to_text(md: str) -> tuple[str, str]:
    """Plain text of Markdown (headings, emphasis, links kept as text; images, comments dropped) and its title."""
    md = _apply(_MD_HIDDEN, md.replace("\r\n", "\n"))
    heading = _MD_HEADING.search(md)
    md = _apply(_MD_INLINE, _apply(_MD_BLOCKS, md))
    if _HTML_TAG.search(md):  # raw HTML inside Markdown: drop hidden parts, keep visible text
        md = _visible_fragment_text(md)
    return md, _apply(_MD_INLINE, heading.group(1)) if heading else ""


# --- HTML -----------------------------------------------------------------------------------------

_DROP_TAGS = word_set("script style template noscript iframe object embed svg canvas head")
_BLOCK_TAGS = word_set(
    "p div section article header footer main nav aside address blockquote pre figure figcaption "
    "h1 h2 h3 h4 h5 h6 ul ol li dl dt dd table thead tbody tfoot tr td th caption hr form fieldset "
    "details summary body html title"
)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)


def _invisible(tag: Tag) -> bool:
    if tag.name in _DROP_TAGS or tag.has_attr("hidden"):
        return True
    if str(tag.get("aria-hidden", "")).strip().lower() == "true":
        return True
    return bool(_HIDDEN_STYLE.search(str(tag.get("style", ""))))


def _visible_text(root: Tag, html_spacing: bool) -> tuple[str, str]:
    """(visible text, text of the first visible <h1>), walking the tree without recursion.

    Skips comments, scripts and hidden elements. With ``html_spacing``, whitespace runs become one space
    (except in <pre>), block elements become paragraphs and <br> a line break.
    """
    parts: list[str] = []
    h1 = ""
    h1_start = -1
    in_pre = 0
    stack: list[tuple[PageElement, str]] = [(root, "open")]
    while stack:
        node, event = stack.pop()
        if event == "close":
            assert isinstance(node, Tag)
            in_pre -= node.name == "pre"
            if node.name == "h1" and h1_start >= 0 and not h1:
                h1 = " ".join("".join(parts[h1_start:]).split())
            if html_spacing and node.name in _BLOCK_TAGS:
                parts.append("\n\n")
        elif isinstance(node, NavigableString):
            if type(node) is NavigableString or isinstance(node, CData):
                parts.append(re.sub(r"\s+", " ", node) if html_spacing and not in_pre else str(node))
        elif isinstance(node, Tag) and not _invisible(node):
            if html_spacing and node.name == "br":
                parts.append("\n")
                continue
            if html_spacing and node.name in _BLOCK_TAGS:
                parts.append("\n\n")
            in_pre += node.name == "pre"
            if node.name == "h1" and h1_start < 0:
                h1_start = len(parts)
            stack.append((node, "close"))
            stack.extend((child, "open") for child in reversed(node.contents))
    return "".join(parts), h1


def _visible_fragment_text(fragment: str) -> str:
    return _visible_text(BeautifulSoup(fragment, "html.parser"), html_spacing=False)[0]


def _html_to_text(raw: bytes, rel: str) -> tuple[str, str]:
    try:
        soup = BeautifulSoup(raw, "html.parser")
        title_tag = soup.find("title")
        text, h1 = _visible_text(soup, html_spacing=True)
    except RecursionError:
        raise _fail(rel, "HTML is nested too deeply to read; simplify or convert it to text") from None
    title = title_tag.get_text(" ", strip=True) if isinstance(title_tag, Tag) else ""
    return text, title or h1


# --- PDF and Word ---------------------------------------------------------------------------------


_JUNK_PDF_TITLE = re.compile(r"^(untitled|title|document\d*)$|\.(docx?|pdf|txt|odt|rtf)$", re.I)


def _pdf_title(reader: object) -> str:
    metadata = getattr(reader, "metadata", None) or {}
    title = str(metadata.get("/Title") or "").strip()
    return "" if _JUNK_PDF_TITLE.search(title) else title


def _pdf_to_text(path: Path, rel: str) -> tuple[str, str]:
    from langchain_community.document_loaders import PyPDFLoader
    from pypdf import PdfReader

    try:
        reader = PdfReader(str(path))
        encrypted = reader.is_encrypted
        meta_title = "" if encrypted else _pdf_title(reader)
    except Exception as exc:  # pypdf raises many types on damaged files
        raise _fail(rel, f"corrupt PDF ({type(exc).__name__}: {exc}); re-export it") from None
    if encrypted:
        raise _fail(rel, "PDF is encrypted; save an unencrypted copy")
    try:
        pages = PyPDFLoader(str(path)).load()
    except Exception as exc:
        raise _fail(rel, f"corrupt PDF ({type(exc).__name__}: {exc}); re-export it") from None
    return "\n\n".join(p.page_content for p in pages), meta_title


def check_docx(path: Path, rel: str) -> None:
    """Raise ``IngestError`` unless ``path`` is a zip with a Word body whose text parts unpack to a sane size
    (what the archive declares; reading never unpacks more than that), without unpacking anything."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = {info.filename: info.file_size for info in archive.infolist()}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise _fail(rel, f"corrupt .docx (not a valid zip archive: {exc}); re-save it from Word") from None
    if "word/document.xml" not in names:
        raise _fail(rel, "corrupt .docx (no word/document.xml); re-save it from Word")
    xml_bytes = sum(
        size for name, size in names.items() if name.startswith("word/") and name.endswith(".xml")
    )
    if xml_bytes > DOCX_MAX_XML_BYTES:
        raise _fail(
            rel,
            f".docx text parts unpack to {xml_bytes} bytes (limit {DOCX_MAX_XML_BYTES}); possible zip bomb",
        )


def _docx_to_text(path: Path, rel: str) -> str:
    from langchain_community.document_loaders import Docx2txtLoader

    check_docx(path, rel)
    try:
        docs = Docx2txtLoader(str(path)).load()
    except Exception as exc:
        raise _fail(rel, f"corrupt .docx ({type(exc).__name__}: {exc}); re-save it from Word") from None
    return "\n\n".join(d.page_content for d in docs)


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
        return _load_text_file(path, raw, rel), ""
    if suffix in (".md", ".markdown"):
        return _markdown_to_text(_load_text_file(path, raw, rel))
    if suffix in (".html", ".htm"):
        return _html_to_text(raw, rel)
    if suffix == ".pdf":
        return _pdf_to_text(path, rel)
    return _docx_to_text(path, rel), ""


def load_document(path: Path, docs_root: Path, max_bytes: int | None = None) -> SourceDoc:
    """Load, normalise and title one file; raises ``IngestError`` naming the file and the reason."""
    try:
        rel = path.resolve().relative_to(docs_root.resolve()).as_posix()
    except ValueError:
        rel = path.name
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise _fail(rel, f"unsupported file type '{suffix or '(none)'}'; convert it to one of {supported}")
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise _fail(
                rel,
                f"file is {size} bytes, over the {max_bytes}-byte limit (max_file_mb); split or shrink it",
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise _fail(rel, f"cannot read the file ({exc.strerror or exc})") from None
    if not raw.strip():
        raise _fail(rel, "file is empty; add text or remove it")
    raw_text, title = _extract(path, raw, rel, suffix)
    text = normalize(raw_text)
    if not text:
        raise _fail(rel, "no extractable text (scanned PDF or empty document?); add a text version")
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
