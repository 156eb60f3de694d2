"""Scale-out for real: the bot against a `chroma run` server and against `python -m llama_cpp.server`.

Both servers are started as subprocesses on free loopback ports; nothing is faked except, in the Chroma
test, the language model (a scripted one: the test is about the vector store, not about prose).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import REPO, SEED_DOC_ID, SEED_DOCS
from fakes import ScriptedModel

pytestmark = pytest.mark.slow

CHROMA = Path(sys.executable).with_name("chroma")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{url} did not answer within {timeout_s} s"
        time.sleep(0.25)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    root = tmp_path_factory.mktemp("chroma-server")
    port = _free_port()
    log = root / "server.log"
    env = dict(os.environ, ANONYMIZED_TELEMETRY="False")
    with log.open("wb") as out:
        proc = subprocess.Popen([str(CHROMA), "run", "--path", str(root / "data"), "--host", "127.0.0.1",
                                 "--port", str(port)], stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        _wait(f"http://127.0.0.1:{port}/api/v2/heartbeat", proc, log, 60)
        yield port
    finally:
        _stop(proc)


def _http_settings(root: Path, port: int):  # type: ignore[no-untyped-def]
    from bot.settings import Settings

    return Settings(docs_dir=root / "docs", index_dir=root / "index", data_dir=root / "data",
                    prompts_dir=REPO / "prompts", chroma_mode="http", chroma_host="127.0.0.1", chroma_port=port)


def test_the_bot_ingests_and_answers_through_a_chroma_server(chroma_server: int, tmp_path: Path, embeddings) -> None:  # type: ignore[no-untyped-def]
    import chromadb

    from bot.ingest.build import ingest
    from bot.ingest.index import Index
    from bot.reader.pipeline import build_pipeline

    shutil.copytree(SEED_DOCS, tmp_path / "docs")
    settings = _http_settings(tmp_path, chroma_server)
    first = ingest(settings, progress=False, embeddings=embeddings)
    assert first.changed and first.chunks > 0 and not first.failed
    assert not (tmp_path / "index" / first.generation / "chroma").exists(), "vectors must live in the server"

    again = ingest(settings, progress=False, embeddings=embeddings)
    assert not again.changed and again.generation == first.generation and again.chunks == first.chunks

    index = Index.open(settings, embeddings)
    server = chromadb.HttpClient(host="127.0.0.1", port=chroma_server)
    assert server.get_collection(index.manifest.collection).count() == first.chunks

    model = ScriptedModel("The five industries were chosen for their strategic significance [1].")
    answer = build_pipeline(settings, model=model, embeddings=embeddings).answer("Why were these five industries chosen?")
    assert answer.status in ("answered", "partial") and answer.citations
    for citation in answer.citations:
        assert citation.doc_id == SEED_DOC_ID
        assert index.doc_text(SEED_DOC_ID)[citation.start : citation.end].strip() == citation.text.strip()


def test_a_changed_corpus_moves_to_a_new_server_collection_and_old_ones_are_dropped(  # type: ignore[no-untyped-def]
    chroma_server: int, tmp_path: Path, embeddings
) -> None:
    import chromadb

    from bot.ingest.build import ingest
    from bot.ingest.index import Index

    shutil.copytree(SEED_DOCS, tmp_path / "docs")
    settings = _http_settings(tmp_path, chroma_server)
    server = chromadb.HttpClient(host="127.0.0.1", port=chroma_server)
    first = ingest(settings, progress=False, embeddings=embeddings)
    collections = [Index.open(settings, embeddings).manifest.collection]
    for n in (1, 2):
        (tmp_path / "docs" / f"extra-note-{n}.txt").write_text(
            f"Extra note {n}\n\nThe provincial audit office will review the cluster funds {n} times a year.\n",
            encoding="utf-8")
        report = ingest(settings, progress=False, embeddings=embeddings)
        assert report.changed and report.added == [f"extra-note-{n}"] and report.chunks > first.chunks
        index = Index.open(settings, embeddings)
        assert index.vectors.count() == report.chunks  # unchanged vectors copied server-side, new ones added
        collections.append(index.manifest.collection)
    names = {c.name for c in server.list_collections()}
    # the live generation and the one before it (a running server may still read it) stay; older ones go
    assert collections[2] in names and collections[1] in names and collections[0] not in names


def test_an_embedded_index_built_after_a_server_one_stays_on_disk(  # type: ignore[no-untyped-def]
    chroma_server: int, tmp_path: Path, embeddings
) -> None:
    """chromadb's HttpClient writes into the settings object it gets; a shared one once sent later
    'persistent' indexes of the same process to the server."""
    from bot.ingest.build import ingest
    from bot.settings import Settings

    shutil.copytree(SEED_DOCS, tmp_path / "docs")
    ingest(_http_settings(tmp_path / "server", chroma_server), docs_dir=tmp_path / "docs", progress=False,
           embeddings=embeddings)
    local = Settings(docs_dir=tmp_path / "docs", index_dir=tmp_path / "local", prompts_dir=REPO / "prompts")
    report = ingest(local, progress=False, embeddings=embeddings)
    code = ("import sys; from bot.settings import Settings; from bot.ingest.index import Index; "
            "from bot.ingest.embeddings import build_embeddings; "
            "print(Index.open(Settings(index_dir=sys.argv[1]), build_embeddings()).vectors.count())")
    done = subprocess.run([sys.executable, "-c", code, str(local.index_dir)], capture_output=True, text=True,
                          cwd=REPO, timeout=300)
    assert done.stdout.strip() == str(report.chunks), done.stderr[-1500:]


@pytest.fixture(scope="module")
def llama_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from bot.llm.gguf import bundled_model_path, physical_cores

    port = _free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(bundled_model_path()), "--host", "127.0.0.1",
               "--port", str(port), "--n_ctx", "2048", "--n_threads", str(physical_cores())]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait(f"http://127.0.0.1:{port}/v1/models", proc, log, 90)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        _stop(proc)


def _ask(question: str, url: str, settings) -> dict:  # type: ignore[no-untyped-def]
    env = dict(os.environ, POLICYBOT_DOCS_DIR=str(settings.docs_dir), POLICYBOT_DATA_DIR=str(settings.data_dir),
               POLICYBOT_PROMPTS_DIR=str(settings.prompts_dir), ANONYMIZED_TELEMETRY="False")
    done = subprocess.run([sys.executable, "-m", "bot.cli", "ask", question, "--json", "--llm-url", url,
                           "--index", str(settings.index_dir)], capture_output=True, text=True, env=env,
                          timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_policybot_ask_answers_through_a_llama_cpp_server(llama_server_url: str, seed_settings) -> None:  # type: ignore[no-untyped-def]
    answer = _ask("Why were these five industries chosen?", llama_server_url, seed_settings)
    assert answer["status"] == "answered"
    assert any("strategic significance" in c["text"] for c in answer["citations"])
    assert answer["trace"]["model_hash"].startswith("server:")


def test_policybot_ask_refuses_through_a_llama_cpp_server(llama_server_url: str, seed_settings) -> None:  # type: ignore[no-untyped-def]
    answer = _ask("How many yuan has the province earmarked for the five clusters?", llama_server_url, seed_settings)
    assert answer["status"] == "refused" and not answer["citations"]
