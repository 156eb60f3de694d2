"""Documents over HTTP: upload -> job -> ask -> delete, write rights, and uploads that must change nothing.

The live app on a loopback port (tests/api_support.py) with the real library, ingest and index; httpx as the
client, multipart uploads as curl would send them.
"""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import QUESTION, READER, WRITER, Api, api_server, error_of
from fixtures_docs import make_docx

NEW_DOC = ("Qingyuan Lantern Festival notice\n\n"
           "The Qingyuan Harbour Lantern Festival is held every year on the ninth of October at Beijiang Pier.\n\n"
           "The festival is organised by the Qingyuan Lantern Guild, which was founded in 1987.\n")
NEW_QUESTION = "When is the Qingyuan Harbour Lantern Festival held?"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with api_server(tmp_path_factory.mktemp("docs"), max_upload_mb=2, max_upload_files=3) as running:
        yield running


def wait_for(client: httpx.Client, job: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while job["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
        response = client.get(f"/api/v1/jobs/{job['id']}")
        assert response.status_code == 200
        job = response.json()
    return job


def doc_ids(client: httpx.Client) -> set[str]:
    return {d["doc_id"] for d in client.get("/api/v1/documents").json()["documents"]}


def docs_folder(api: Api) -> set[str]:
    return {p.name for p in Path(api.settings.docs_dir).iterdir()}


def test_upload_then_ask_then_delete(api: Api) -> None:
    with api.client(WRITER) as client:
        assert "qingyuan-lantern-festival" not in doc_ids(client)
        response = client.post("/api/v1/documents", files=[("files", ("qingyuan-lantern-festival.txt",
                                                                      NEW_DOC.encode(), "text/plain"))])
        assert response.status_code == 202 and response.headers["location"] == f"/api/v1/jobs/{response.json()['id']}"
        job = wait_for(client, response.json())
        assert job["state"] == "done" and job["added"] == ["qingyuan-lantern-festival"] and job["progress"] == 1.0
        assert "qingyuan-lantern-festival" in doc_ids(client)

        answer = client.post("/api/v1/ask", json={"question": NEW_QUESTION}).json()
        assert answer["status"] in ("answered", "partial")
        assert {c["doc_id"] for c in answer["citations"]} == {"qingyuan-lantern-festival"}
        assert any("ninth of October" in c["text"] for c in answer["citations"])

        deleted = client.delete("/api/v1/documents/qingyuan-lantern-festival")
        assert deleted.status_code == 202
        assert wait_for(client, deleted.json())["removed"] == ["qingyuan-lantern-festival"]
        assert "qingyuan-lantern-festival" not in doc_ids(client)
        after = client.post("/api/v1/ask", json={"question": NEW_QUESTION}).json()
        assert all(c["doc_id"] != "qingyuan-lantern-festival" for c in after["citations"])


def test_several_files_in_one_upload_and_a_docx(api: Api) -> None:
    files = [("files", ("a-notice.md", b"# Ferry timetable\n\nThe Zhuhai ferry leaves at 7:15 every morning.\n")),
             ("files", ("b-memo.docx", make_docx(["Port memo", "The Nansha port will deploy 40 automated cranes."])))]
    with api.client(WRITER) as client:
        job = wait_for(client, client.post("/api/v1/documents", files=files).json())
        assert job["state"] == "done" and sorted(job["added"]) == ["a-notice", "b-memo"]
        for doc in ("a-notice", "b-memo"):
            wait_for(client, client.delete(f"/api/v1/documents/{doc}").json())
        assert not {"a-notice", "b-memo"} & doc_ids(client)


def test_a_read_only_token_may_list_and_ask_but_not_change_documents(api: Api) -> None:
    with api.client(READER) as client:
        assert client.get("/api/v1/documents").status_code == 200
        upload = client.post("/api/v1/documents", files=[("files", ("x.txt", b"Some text here."))])
        delete = client.delete("/api/v1/documents/guangdong-five-future-industry-clusters")
    assert upload.status_code == delete.status_code == 403
    assert "write" in error_of(upload)["message"]
    assert "x.txt" not in docs_folder(api)


def zip_bomb_docx() -> bytes:
    """A .docx whose body unpacks to 64 MB (about 70 KB packed)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as part:
            part.write(b"<w:document><w:body>")
            for _ in range(64):
                part.write(b" " * (1024 * 1024))
            part.write(b"</w:body></w:document>")
    return buffer.getvalue()


@pytest.mark.parametrize(("files", "status", "words"), [
    ([("bomb.docx", zip_bomb_docx())], 400, "zip bomb"),
    ([("empty.txt", b"")], 400, "empty"),
    ([("notes.txt", b"Fine text."), ("empty.md", b"")], 400, "empty"),
    ([("archive.zip", b"PK\x03\x04 not for us")], 415, "only"),
    ([("big.txt", b"a" * (3 * 1024 * 1024))], 413, "limit"),
    ([("not-a-zip.docx", b"PK\x03\x04 this is no archive")], 400, "corrupt"),
    ([("same.txt", b"One."), ("same.txt", b"Two.")], 400, "same name"),
    ([(f"f{i}.txt", b"Text.") for i in range(4)], 400, "files"),
], ids=["zip-bomb", "zero-bytes", "one-good-one-empty", "zip", "too-big", "broken-docx", "duplicate", "too-many"])
def test_a_bad_upload_is_a_4xx_and_nothing_is_written_or_ingested(api: Api, files: list[tuple[str, bytes]],
                                                                  status: int, words: str) -> None:
    with api.client(WRITER) as client:
        before_docs, before_folder = doc_ids(client), docs_folder(api)
        response = client.post("/api/v1/documents", files=[("files", f) for f in files])
        assert response.status_code == status, response.text
        assert words in error_of(response)["message"].lower()
        assert doc_ids(client) == before_docs and docs_folder(api) == before_folder
        assert not list((Path(api.settings.data_dir) / "api-uploads").glob("*/*")), "spooled files are removed"
        assert client.post("/api/v1/ask", json={"question": QUESTION}).json()["citations"], "still answering"


def test_an_upload_without_files_or_with_a_json_body_is_422(api: Api) -> None:
    with api.client(WRITER) as client:
        for response in (client.post("/api/v1/documents", json={"files": ["a.txt"]}),
                         client.post("/api/v1/documents", files=[("other", ("a.txt", b"text"))])):
            assert response.status_code == 422 and error_of(response)["param"] == "files"


def test_an_upload_over_the_request_limit_is_413_before_it_is_read(api: Api) -> None:
    body = b"-" * (12 * 1024 * 1024)  # max_upload_files (3) x max_upload_mb (2) + framing < 12 MB
    with api.client(WRITER) as client:
        response = client.post("/api/v1/documents", content=body,
                               headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert response.status_code == 413 and error_of(response)["code"] == "request_too_large"


def test_an_unknown_document_or_job_id_is_404(api: Api) -> None:
    with api.client(WRITER) as client:
        for response in (client.delete("/api/v1/documents/no-such-doc"), client.get("/api/v1/jobs/no-such-job"),
                         client.delete("/api/v1/documents/../../etc/passwd")):
            assert response.status_code == 404
            assert error_of(response)["code"] in ("document_not_found", "job_not_found", "not_found")


def test_a_file_that_cannot_be_read_fails_its_job_and_is_not_kept(api: Api) -> None:
    with api.client(WRITER) as client:
        response = client.post("/api/v1/documents", files=[("files", ("scan.pdf", b"%PDF-1.4 no pages at all"))])
        assert response.status_code == 202
        job = wait_for(client, response.json())
    assert job["state"] == "failed" and "scan.pdf" in job["failed"] and job["message"]
    assert "scan.pdf" not in docs_folder(api) and "scan" not in doc_ids(api.client())


def test_upload_then_ask_over_the_loopback_opt_in(tmp_path: Path) -> None:
    with api_server(tmp_path, api_tokens="", api_allow_loopback=True) as local:
        client = httpx.Client(base_url=local.url, timeout=60)
        job = wait_for(client, client.post("/api/v1/documents", files=[("files", ("lantern.txt", NEW_DOC.encode()))])
                       .json())
        assert job["state"] == "done"
        assert client.post("/api/v1/ask", json={"question": NEW_QUESTION}).json()["citations"]
