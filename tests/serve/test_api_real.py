"""The HTTP API over the real pipeline: real MiniLM embeddings, real Chroma, the bundled SmolLM2 in process,
served by uvicorn on a loopback port. Few and short: one streamed /api/v1/ask, one OpenAI chat and stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from api_support import CRITERIA, QUESTION, READER, TOKENS, serve, sse_events

from bot.serve.app import create_app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def url(seed_settings: Any, seed_pipeline: Any) -> Iterator[str]:
    settings = seed_settings.with_overrides(api_tokens=TOKENS)
    with serve(create_app(settings, seed_pipeline)) as running:
        yield running


def test_a_streamed_answer_from_the_real_model_is_checked_and_cited(url: str, seed_pipeline: Any) -> None:
    with httpx.Client(base_url=url, timeout=300, headers={"Authorization": f"Bearer {READER}"}) as client, \
            client.stream("POST", "/api/v1/ask", json={"question": QUESTION, "stream": True}) as response:
        events = [(e, d) for e, d in sse_events(response.iter_lines()) if e != "comment"]
    kinds = [e for e, _ in events]
    assert kinds[0] == "progress" and kinds[-1] == "answer"
    answer = events[-1][1]
    assert answer["status"] in ("answered", "partial") and answer["citations"]
    assert any(term in answer["text"] for term in CRITERIA)
    for cite in answer["citations"]:
        assert f"[{cite['n']}]" in answer["text"]
        assert seed_pipeline.index.doc_text(cite["doc_id"])[cite["start"]:cite["end"]] == cite["text"]
    assert answer["trace"]["model_id"] and answer["trace"]["timings"]["total"] > 0


def test_the_openai_client_gets_a_checked_cited_answer_whole_and_streamed(url: str) -> None:
    client = openai.OpenAI(base_url=url + "/v1", api_key=READER, max_retries=0, timeout=300)
    messages: list[Any] = [{"role": "user", "content": QUESTION}]
    whole = client.chat.completions.create(model="policybot", messages=messages)
    content = whole.choices[0].message.content or ""
    assert "[1]" in content and "\n\nSources:\n[1] " in content and whole.model_extra["citations"]  # type: ignore[index]
    streamed = "".join(c.choices[0].delta.content or "" for c in
                       client.chat.completions.create(model="policybot", messages=messages, stream=True) if c.choices)
    assert "[1]" in streamed and "\n\nSources:\n[1] " in streamed, "the stream is a checked, cited answer too"
