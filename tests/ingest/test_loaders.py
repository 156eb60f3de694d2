"""Loading each supported format, and every way a document can fail to load."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from fixtures_docs import FACTS, HIDDEN_MARKERS, TITLES, make_docx, make_pdf, write_mixed_corpus

from bot.errors import IngestError
from bot.ingest import loaders
from bot.ingest.loaders import SUPPORTED_SUFFIXES, SourceDoc, discover, load_document
from bot.lang.text import normalize

SEED = Path(__file__).resolve().parents[2] / "docs" / "guangdong-five-future-industry-clusters.txt"


@pytest.fixture
def corpus(tmp_path: Path) -> dict[str, Path]:
    return write_mixed_corpus(tmp_path)


def load(path: Path, **kwargs: int) -> SourceDoc:
    return load_document(path, path.parent, **kwargs)


def assert_fails(path: Path, *reason_words: str, **kwargs: int) -> None:
    with pytest.raises(IngestError) as caught:
        load(path, **kwargs)
    message = str(caught.value)
    assert path.name in message
    for word in reason_words:
        assert word in message.lower()


# --- every format --------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["txt", "md", "html", "pdf", "docx", "zh"])
def test_each_format_yields_normalised_text_with_its_fact_and_title(
    corpus: dict[str, Path], key: str
) -> None:
    doc = load(corpus[key])
    assert FACTS[key] in doc.text
    assert doc.title == TITLES[key]
    assert TITLES[key] in doc.text
    assert doc.text == normalize(doc.text)
    assert doc.doc_id == corpus[key].stem
    assert doc.path == corpus[key].name
    assert doc.file_hash == hashlib.sha256(corpus[key].read_bytes()).hexdigest()
    assert doc.lang == ("zh" if key == "zh" else "en")


def test_paragraph_spans_point_at_the_paragraphs_of_the_text(corpus: dict[str, Path]) -> None:
    doc = load(corpus["txt"])
    assert [doc.text[s:e] for s, e in doc.paragraphs] == doc.text.split("\n\n")
    assert doc.text.split("\n\n")[:2] == [TITLES["txt"], FACTS["txt"]]


def test_gb18030_chinese_text_is_decoded(corpus: dict[str, Path]) -> None:
    raw = corpus["zh"].read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    doc = load(corpus["zh"])
    assert "我们将建设十个创新中心！" in doc.text


def test_utf8_with_bom_is_decoded_without_the_bom(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeffTitle line\n\nBody.".encode())
    doc = load(path)
    assert doc.text == "Title line\n\nBody." and doc.title == "Title line"


def test_utf16_with_bom_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "notepad.md"
    path.write_bytes("# 标题\n\nUnicode text.".encode("utf-16"))
    doc = load(path)
    assert doc.text == "标题\n\nUnicode text." and doc.title == "标题"


def test_fullwidth_text_is_normalised_at_load(tmp_path: Path) -> None:
    path = tmp_path / "fw.txt"
    path.write_text("ＡＩ　Ｐｌａｎ\n\n\n\n   Ｔｅｘｔ　２０３０", encoding="utf-8")
    assert load(path).text == "AI Plan\n\nText 2030"


def test_html_hidden_text_is_removed_and_visible_text_kept(corpus: dict[str, Path]) -> None:
    doc = load(corpus["html"])
    for marker in HIDDEN_MARKERS:
        assert marker not in doc.text
    assert "Station A monitors turbidity." in doc.text
    assert "Station B monitors pH." in doc.text
    assert "The readings are published on the city website." in doc.text


def test_html_blocks_become_separate_paragraphs_and_inline_tags_do_not(tmp_path: Path) -> None:
    path = tmp_path / "p.html"
    path.write_text("<body><p>One <b>bold</b>\n  word.</p><div>Two<br>lines</div></body>", encoding="utf-8")
    assert load(path).text == "One bold word.\n\nTwo\nlines"


def test_html_title_falls_back_to_first_h1(tmp_path: Path) -> None:
    path = tmp_path / "h.html"
    path.write_text("<body><p>Intro text.</p><h1>Main Heading</h1><p>Body.</p></body>", encoding="utf-8")
    doc = load(path)
    assert doc.title == "Main Heading"


def test_html_title_missing_from_body_is_kept_at_the_top_of_the_text(tmp_path: Path) -> None:
    path = tmp_path / "t.html"
    path.write_text("<html><head><title>Notice 7</title></head><body><p>Body text.</p></body></html>")
    assert load(path).text == "Notice 7\n\nBody text."


def test_deeply_nested_html_loads_or_fails_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "deep.html"
    path.write_text("<div>" * 20_000 + "deep text" + "</div>" * 20_000)
    try:
        doc = load(path)
    except IngestError as error:
        assert "deep.html" in str(error)
    else:
        assert "deep text" in doc.text


def test_markdown_markup_is_stripped(corpus: dict[str, Path]) -> None:
    doc = load(corpus["md"])
    assert "district energy office" in doc.text and "**" not in doc.text
    assert "online guide" in doc.text and "https://example.org" not in doc.text
    assert "panels.png" not in doc.text and "solar panels" not in doc.text
    assert "Who qualifies?" in doc.text.split("\n\n")
    assert "Owners of detached houses" in doc.text
    assert "#" not in doc.text


def test_markdown_raw_html_hidden_parts_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "raw.md"
    path.write_text(
        "# T\n\nSeen text.\n\n| a | b |\n|---|:-:|\n| 1 | 2 |\n\n<div hidden>secret instructions</div>\n<script>x()</script>\n"
    )
    doc = load(path)
    assert "secret" not in doc.text and "x()" not in doc.text and "Seen text." in doc.text
    assert "a b\n1 2" in doc.text and "---" not in doc.text


def test_pdf_without_metadata_title_uses_its_first_line(tmp_path: Path) -> None:
    path = tmp_path / "plain.pdf"
    path.write_bytes(make_pdf(["Quarterly Review", "Output rose by 4 percent."]))
    doc = load(path)
    assert doc.title == "Quarterly Review"
    assert "Output rose by 4 percent." in doc.text


def test_docx_title_is_its_first_paragraph_and_paragraphs_are_kept(corpus: dict[str, Path]) -> None:
    doc = load(corpus["docx"])
    assert doc.text.split("\n\n")[:2] == [TITLES["docx"], FACTS["docx"]]


def test_seed_document_keeps_its_title_line_and_question_headings() -> None:
    doc = load_document(SEED, SEED.parent)
    assert doc.title == "How can Guangdong seize new industrial highlands in the future?"
    assert doc.text.startswith(doc.title + "\n\n")
    assert "Why were these five industries chosen?" in [doc.text[s:e] for s, e in doc.paragraphs]
    assert doc.doc_id == "guangdong-five-future-industry-clusters" and doc.lang == "en"


# --- failures ------------------------------------------------------------------------------------


def test_unsupported_extension_is_reported(corpus: dict[str, Path]) -> None:
    assert_fails(corpus["unsupported"], "unsupported", ".xlsx")


def test_empty_file_is_reported(corpus: dict[str, Path]) -> None:
    assert_fails(corpus["empty"], "empty")


def test_whitespace_only_file_is_reported_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "blank.md"
    path.write_text("  \n\n \t\n")
    assert_fails(path, "empty")


def test_document_without_extractable_text_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "only-image.md"
    path.write_text("![diagram](diagram.png)\n<!-- nothing else -->\n")
    assert_fails(path, "no extractable text")


def test_pdf_with_no_text_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    path.write_bytes(make_pdf([]))
    assert_fails(path, "no extractable text")


def test_corrupt_pdf_is_reported(corpus: dict[str, Path]) -> None:
    assert_fails(corpus["corrupt_pdf"], "corrupt pdf")


def test_truncated_pdf_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "truncated.pdf"
    path.write_bytes(make_pdf(["Some text here."])[:120])
    assert_fails(path)


def test_encrypted_pdf_is_reported(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(["Secret plan."], title="Secret"))))
    writer.encrypt(user_password="pw", owner_password="owner", algorithm="RC4-128")
    path = tmp_path / "locked.pdf"
    with path.open("wb") as handle:
        writer.write(handle)
    assert_fails(path, "encrypted")


def test_docx_that_is_not_a_zip_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "broken.docx"
    path.write_bytes(b"this is not a zip archive at all")
    assert_fails(path, "corrupt .docx", "zip")


def test_docx_without_document_part_is_reported(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "hi")
    path = tmp_path / "hollow.docx"
    path.write_bytes(buffer.getvalue())
    assert_fails(path, "word/document.xml")


def test_docx_with_malformed_xml_is_reported(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w:document><w:body><w:p>unclosed")
    path = tmp_path / "badxml.docx"
    path.write_bytes(buffer.getvalue())
    assert_fails(path, "corrupt .docx")


def test_docx_zip_bomb_is_refused_before_unpacking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loaders, "DOCX_MAX_XML_BYTES", 100_000)
    path = tmp_path / "bomb.docx"
    path.write_bytes(make_docx(["x" * 200_000]))
    assert path.stat().st_size < 10_000  # small on disk, large when unpacked
    assert_fails(path, "zip bomb")


def test_oversized_file_is_reported(corpus: dict[str, Path]) -> None:
    assert_fails(corpus["txt"], "limit", max_bytes=10)


def test_undecodable_text_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "binary.txt"
    path.write_bytes(b"\x00\x01\x02binary\xff\xfe\x00")
    assert_fails(path, "decode")


def test_failures_name_the_path_relative_to_the_docs_root(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "empty.md"
    path.write_text("")
    with pytest.raises(IngestError, match=r"^sub/empty\.md: "):
        load_document(path, tmp_path)


# --- discovery -----------------------------------------------------------------------------------


def test_discover_lists_all_files_sorted_including_unsupported(
    corpus: dict[str, Path], tmp_path: Path
) -> None:
    found = discover(tmp_path)
    assert found == sorted(corpus.values(), key=lambda p: p.name)
    assert corpus["unsupported"] in found


def test_discover_skips_hidden_files_and_folders_and_excluded_names(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config.txt").write_text("x")
    (tmp_path / ".draft.md").write_text("x")
    (tmp_path / "glossary.tsv").write_text("a\tb")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("b")
    (tmp_path / "a.txt").write_text("a")
    assert discover(tmp_path, exclude={"glossary.tsv"}) == [tmp_path / "a.txt", tmp_path / "sub" / "b.txt"]


def test_documents_in_subfolders_get_ids_unique_across_folders(tmp_path: Path) -> None:
    for folder in ("2023", "2024"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "plan.txt").write_text(f"Plan {folder}\n\nText.")
    ids = {load_document(p, tmp_path).doc_id for p in discover(tmp_path)}
    assert ids == {"2023/plan", "2024/plan"}


def test_supported_suffixes_cover_the_issue_formats() -> None:
    assert {".txt", ".md", ".html", ".pdf", ".docx"} <= SUPPORTED_SUFFIXES
