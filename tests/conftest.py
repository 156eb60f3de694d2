"""Shared fixtures. A guard makes any network access other than loopback fail the tests.

Heavy real components (embedding model, seed index, llama.cpp model) are built once per session.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

REPO = Path(__file__).resolve().parent.parent
SEED_DOCS = REPO / "docs"
SEED_GLOSSARY = REPO / "eval" / "seed-glossary.tsv"  # the seed report's glossary, kept out of the shipped docs/
SEED_DOC_ID = "guangdong-five-future-industry-clusters"

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_loopback(address: object) -> bool:
    if isinstance(address, tuple) and address:
        host = str(address[0])
        if host in ("localhost", ""):
            return True
        try:
            return ipaddress.ip_address(host.split("%")[0]).is_loopback
        except ValueError:
            return False
    return True  # AF_UNIX paths


def _guarded_connect(self: socket.socket, address: object) -> None:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        raise OSError(f"network access outside loopback is blocked in tests: {address!r}")
    return _real_connect(self, address)  # type: ignore[arg-type]


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        raise OSError(f"network access outside loopback is blocked in tests: {address!r}")
    return _real_connect_ex(self, address)  # type: ignore[arg-type]


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def embeddings():  # type: ignore[no-untyped-def]
    from bot.ingest.embeddings import build_embeddings

    emb = build_embeddings()
    emb.warm_up()  # type: ignore[attr-defined]
    return emb


@pytest.fixture(scope="session")
def seed_workspace(tmp_path_factory: pytest.TempPathFactory, embeddings) -> Path:  # type: ignore[no-untyped-def]
    """A copy of docs/ with the seed report's glossary beside it, as a corpus that brings its own, indexed once with
    the real embeddings and real Chroma."""
    from bot.ingest.build import ingest
    from bot.settings import Settings

    root = tmp_path_factory.mktemp("seed")
    shutil.copytree(SEED_DOCS, root / "docs")
    shutil.copy(SEED_GLOSSARY, root / "docs" / "glossary.tsv")
    settings = Settings(docs_dir=root / "docs", index_dir=root / "index", data_dir=root / "data",
                        prompts_dir=REPO / "prompts")
    report = ingest(settings, progress=False, embeddings=embeddings)
    assert report.chunks > 0 and not report.failed
    return root


@pytest.fixture(scope="session")
def seed_settings(seed_workspace: Path):  # type: ignore[no-untyped-def]
    from bot.settings import Settings

    return Settings(docs_dir=seed_workspace / "docs", index_dir=seed_workspace / "index",
                    data_dir=seed_workspace / "data", prompts_dir=REPO / "prompts")


@pytest.fixture(scope="session")
def real_model(seed_settings):  # type: ignore[no-untyped-def]
    """The bundled SmolLM2 in process, behind the one bounded queue, loaded once."""
    from bot.llm.build import build_chat_model

    model = build_chat_model(seed_settings)
    model.warm_up()
    return model


@pytest.fixture(scope="session")
def seed_pipeline(seed_settings, embeddings, real_model):  # type: ignore[no-untyped-def]
    from bot.reader.pipeline import build_pipeline

    return build_pipeline(seed_settings, model=real_model, embeddings=embeddings)


@pytest.fixture
def free_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    yield port


from hypothesis import settings as _hypothesis_settings  # noqa: E402

# The CI machine has 2 shared cores and jieba loads its dictionary on first use: no per-example deadline.
_hypothesis_settings.register_profile("policybot", deadline=None, max_examples=60)
_hypothesis_settings.load_profile("policybot")
