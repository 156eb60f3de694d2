"""The bundled model is served re-encoded as Q8_0 (fast prompt reading); a model file the user names is not."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.llm.build import served_model_path
from bot.llm.gguf import bundled_model_path, check_gguf
from bot.llm.local import LlamaCppModel
from bot.llm.recode import recoded
from bot.settings import Settings


@pytest.fixture
def gguf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("POLICYBOT_GGUF_CACHE", str(tmp_path / "gguf"))
    return tmp_path / "gguf"


def test_a_model_path_the_user_sets_is_served_as_is(tmp_path: Path, gguf_cache: Path) -> None:
    mine = tmp_path / "mine.gguf"
    assert served_model_path(Settings(model_path=str(mine))) == mine
    assert served_model_path(Settings(bundled_model_recode="off")) == bundled_model_path()
    assert not gguf_cache.exists()


@pytest.mark.slow
def test_the_bundled_model_is_re_encoded_once_and_answers(gguf_cache: Path) -> None:
    path = served_model_path(Settings())
    assert path.parent.parent == gguf_cache and path.name.endswith(".q8_0.gguf")
    check_gguf(path)
    assert path.stat().st_size > bundled_model_path().stat().st_size  # 8 bits a weight, not 4
    stamp = path.stat().st_mtime_ns
    assert served_model_path(Settings()) == path and path.stat().st_mtime_ns == stamp  # built once, then reused
    model = LlamaCppModel(str(path), n_ctx=512)
    text = "".join(model.stream_chat([{"role": "user", "content": "Name a colour."}], max_tokens=8))
    assert text.strip()


def test_a_file_that_cannot_be_re_encoded_is_served_as_shipped(tmp_path: Path, gguf_cache: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    with caplog.at_level(logging.WARNING, logger="bot.llm.recode"):
        assert recoded(broken) == broken
    assert "using it as shipped" in caplog.text
    assert not list(gguf_cache.rglob("*.gguf")) and not list(gguf_cache.rglob("*.tmp*"))
