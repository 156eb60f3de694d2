"""Format converters for ``bot.ingest.loaders``: plain text, Markdown, HTML, PDF and Word to (text, title).

Every failure is an ``IngestError`` naming the file and the reason (``fail``). Hidden HTML (scripts, comments,
``hidden``/``aria-hidden``/``display:none`` elements) is dropped, in HTML files and in raw HTML inside
Markdown: text a reader cannot see must not reach the model (a prompt-injection vector).
"""

from __future__ import annotations

import codecs
import re
import zipfile
from pathlib import Path

from bs4 import BeautifulSoup, CData, NavigableString, PageElement, Tag

from bot.errors import IngestError
from bot.lang.text import word_set


def fail(rel: str, reason: str) -> IngestError:
    """The error for the file at ``rel`` (relative to the docs root): raise it."""
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
    raise fail(rel, "cannot decode the text (not UTF-8 or GB18030, or binary data); save it as UTF-8")


def load_text_file(path: Path, raw: bytes, rel: str) -> str:
    """Text of a plain-text (or Markdown) file in its detected encoding."""
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


def markdown_to_text(md: str) -> tuple[str, str]:
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


def html_to_text(raw: bytes, rel: str) -> tuple[str, str]:
    """Visible text of an HTML page and its title (<title>, else the first visible <h1>)."""
    try:
        soup = BeautifulSoup(raw, "html.parser")
        title_tag = soup.find("title")
        text, h1 = _visible_text(soup, html_spacing=True)
    except RecursionError:
        raise fail(rel, "HTML is nested too deeply to read; simplify or convert it to text") from None
    title = title_tag.get_text(" ", strip=True) if isinstance(title_tag, Tag) else ""
    return text, title or h1


# --- PDF and Word ---------------------------------------------------------------------------------


_JUNK_PDF_TITLE = re.compile(r"^(untitled|title|document\d*)$|\.(docx?|pdf|txt|odt|rtf)$", re.I)


def _pdf_title(reader: object) -> str:
    metadata = getattr(reader, "metadata", None) or {}
    title = str(metadata.get("/Title") or "").strip()
    return "" if _JUNK_PDF_TITLE.search(title) else title


def pdf_to_text(path: Path, rel: str) -> tuple[str, str]:
    """Text of a PDF's pages and its metadata title (unless a placeholder); encrypted or damaged files fail."""
    from langchain_community.document_loaders import PyPDFLoader
    from pypdf import PdfReader

    try:
        reader = PdfReader(str(path))
        encrypted = reader.is_encrypted
        meta_title = "" if encrypted else _pdf_title(reader)
    except Exception as exc:  # pypdf raises many types on damaged files
        raise fail(rel, f"corrupt PDF ({type(exc).__name__}: {exc}); re-export it") from None
    if encrypted:
        raise fail(rel, "PDF is encrypted; save an unencrypted copy")
    try:
        pages = PyPDFLoader(str(path)).load()
    except Exception as exc:
        raise fail(rel, f"corrupt PDF ({type(exc).__name__}: {exc}); re-export it") from None
    return "\n\n".join(p.page_content for p in pages), meta_title


def check_docx_archive(path: Path, rel: str, max_xml_bytes: int) -> None:
    """Raise ``IngestError`` unless ``path`` is a zip with a Word body whose text parts unpack to at most
    ``max_xml_bytes`` (what the archive declares; reading never unpacks more than that), without unpacking
    anything."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = {info.filename: info.file_size for info in archive.infolist()}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise fail(rel, f"corrupt .docx (not a valid zip archive: {exc}); re-save it from Word") from None
    if "word/document.xml" not in names:
        raise fail(rel, "corrupt .docx (no word/document.xml); re-save it from Word")
    xml_bytes = sum(
        size for name, size in names.items() if name.startswith("word/") and name.endswith(".xml")
    )
    if xml_bytes > max_xml_bytes:
        raise fail(
            rel,
            f".docx text parts unpack to {xml_bytes} bytes (limit {max_xml_bytes}); possible zip bomb",
        )


def docx_to_text(path: Path, rel: str, max_xml_bytes: int) -> str:
    """Text of a Word file, checked first by ``check_docx_archive``."""
    from langchain_community.document_loaders import Docx2txtLoader

    check_docx_archive(path, rel, max_xml_bytes)
    try:
        docs = Docx2txtLoader(str(path)).load()
    except Exception as exc:
        raise fail(rel, f"corrupt .docx ({type(exc).__name__}: {exc}); re-save it from Word") from None
    return "\n\n".join(d.page_content for d in docs)
