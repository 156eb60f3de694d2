"""PolicyBot as an OpenAI "model": the ``openai`` client and LangChain's ``ChatOpenAI`` against the live server.

The clients are used exactly as their users would (a base URL ending in /v1 and an API token as the key); the
server is the real app on a loopback port (tests/api_support.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from api_support import CRITERIA, QUESTION, READER, Api, api_server, error_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.answer import Turn


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with api_server(tmp_path_factory.mktemp("openai")) as running:
        yield running


def client_for(api: Api, key: str = READER) -> openai.OpenAI:
    return openai.OpenAI(base_url=api.url + "/v1", api_key=key, max_retries=0, timeout=60)


def test_the_model_list_names_policybot(api: Api) -> None:
    models = client_for(api).models.list()
    assert [m.id for m in models.data] == ["policybot"]
    assert client_for(api).models.retrieve("policybot").owned_by == "policybot"


def test_a_chat_completion_is_the_checked_answer_with_markers_sources_and_structured_citations(api: Api) -> None:
    completion = client_for(api).chat.completions.create(
        model="policybot", messages=[{"role": "system", "content": "You are helpful."},
                                     {"role": "user", "content": QUESTION}],
        temperature=0.7, max_tokens=10, top_p=0.5, user="someone")  # sampling parameters are ignored
    choice = completion.choices[0]
    content = choice.message.content or ""
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    answer, _, sources = content.partition("\n\nSources:\n")
    assert all(term in answer for term in CRITERIA) and "[1]" in answer
    citations: list[dict[str, Any]] = completion.model_extra["citations"]  # type: ignore[index]
    assert citations and completion.model_extra["status"] in ("answered", "partial")  # type: ignore[index]
    for cite in citations:
        assert f"[{cite['n']}]" in answer and f"[{cite['n']}] " in sources
        assert api.pipeline.index.doc_text(cite["doc_id"])[cite["start"]:cite["end"]] == cite["text"]
    assert completion.usage is not None and completion.usage.total_tokens >= completion.usage.completion_tokens


def test_streaming_sends_only_the_checked_answer_ending_with_citations(api: Api) -> None:
    client = client_for(api)
    whole = client.chat.completions.create(model="policybot", messages=[{"role": "user", "content": QUESTION}])
    stream = client.chat.completions.create(model="policybot", messages=[{"role": "user", "content": QUESTION}],
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content, "the stream is the same checked answer, never the draft"
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finish) == 1 and finish[0].choices[0].finish_reason == "stop"
    assert finish[0].model_extra["citations"] == whole.model_extra["citations"]  # type: ignore[index]
    assert chunks[-1].usage is not None and chunks[-1].choices == []


def test_earlier_messages_become_the_history_without_their_sources_lists(api: Api,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, list[Turn]]] = []
    original = api.pipeline.stream

    def recording(question: str, history: list[Turn] | None = None, scope: Any = None) -> Any:
        seen.append((question, list(history or [])))
        return original(question, history, scope)

    monkeypatch.setattr(api.pipeline, "stream", recording)
    first = client_for(api).chat.completions.create(model="policybot", messages=[{"role": "user", "content": QUESTION}])
    earlier = first.choices[0].message.content or ""
    client_for(api).chat.completions.create(model="policybot", messages=[
        {"role": "system", "content": "ignored"}, {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": earlier},
        {"role": "user", "content": [{"type": "text", "text": "And what are the goals for 2030?"}]}])
    question, history = seen[-1]
    assert question == "And what are the goals for 2030?"
    assert [t.role for t in history] == ["user", "assistant"] and history[0].content == QUESTION
    assert "Sources:" in earlier and "Sources:" not in history[1].content and "[1]" in history[1].content


@pytest.mark.parametrize(("kwargs", "error", "param"), [
    ({"model": "gpt-4o"}, openai.NotFoundError, "model"),
    ({"n": 2}, openai.BadRequestError, "n"),
    ({"tool_choice": "required", "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]},
     openai.BadRequestError, "tool_choice"),
    ({"messages": [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": "x"}]},
     openai.BadRequestError, "messages.1.role"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,"}}]}]},
     openai.BadRequestError, "messages.0.content"),
    ({"messages": [{"role": "user", "content": "   "}]}, openai.BadRequestError, "question"),
    ({"messages": []}, openai.BadRequestError, "messages"),
], ids=["unknown-model", "n", "required-tool", "last-not-user", "image", "empty-question", "no-messages"])
def test_unsupported_requests_are_refused_in_openais_error_shape(api: Api, kwargs: dict[str, Any],
                                                                error: type[openai.APIStatusError],
                                                                param: str) -> None:
    request: dict[str, Any] = {"model": "policybot", "messages": [{"role": "user", "content": QUESTION}], **kwargs}
    with pytest.raises(error) as raised:
        client_for(api).chat.completions.create(**request)
    body = raised.value.body
    assert isinstance(body, dict) and body.get("param") == param and body.get("message"), body


def test_a_wrong_key_is_an_authentication_error(api: Api) -> None:
    with pytest.raises(openai.AuthenticationError) as raised:
        client_for(api, "not-a-token-at-all").chat.completions.create(
            model="policybot", messages=[{"role": "user", "content": QUESTION}])
    assert "Invalid API token" in str(raised.value)


@pytest.mark.parametrize("body", [b"{", b'{"model": "policybot", "messages": "hi"}', b'{"model": 3, "messages": []}',
                                  b'{"messages": [{"role": "user", "content": "hi"}]}', b'{"model": "policybot", '
                                  b'"messages": [{"role": "user", "content": "hi"}], "stream": {"x": 1}}'],
                         ids=["truncated", "messages-type", "model-type", "no-model", "stream-type"])
def test_malformed_chat_requests_are_400_in_openais_shape(api: Api, body: bytes) -> None:
    response = httpx.post(api.url + "/v1/chat/completions", content=body, timeout=30,
                          headers={"Authorization": f"Bearer {READER}", "Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert error_of(response)["type"] == "invalid_request_error"


def test_langchain_chat_openai_can_use_policybot_as_its_model(api: Api) -> None:
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(model="policybot", base_url=api.url + "/v1", api_key=READER, max_retries=0,  # type: ignore[arg-type]
                     timeout=60)
    reply = llm.invoke(QUESTION)
    assert all(term in str(reply.content) for term in CRITERIA)
    streamed = "".join(str(chunk.content) for chunk in llm.stream(QUESTION))
    assert re.search(r"\[1\]", streamed) and "Sources:" in streamed


def test_a_rate_limited_client_gets_openais_rate_limit_error_with_retry_after(tmp_path: Path) -> None:
    with api_server(tmp_path, rate_limit_per_minute=1) as api:
        client = client_for(api)
        client.chat.completions.create(model="policybot", messages=[{"role": "user", "content": QUESTION}])
        with pytest.raises(openai.RateLimitError) as raised:
            client.chat.completions.create(model="policybot", messages=[{"role": "user", "content": QUESTION}])
        assert int(raised.value.response.headers["retry-after"]) >= 1


scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
chat_bodies = st.fixed_dictionaries(
    {"model": st.sampled_from(["policybot", "gpt-4o", ""]) | scalars,
     "messages": st.lists(st.fixed_dictionaries(
         {"role": st.sampled_from(["user", "assistant", "system", "tool", "x"]),
          "content": st.text(max_size=200) | scalars | st.lists(st.fixed_dictionaries(
              {"type": st.sampled_from(["text", "image_url"]), "text": st.text(max_size=50)}), max_size=2)}),
         max_size=4) | scalars},
    optional={"stream": scalars, "n": scalars, "temperature": scalars, "max_tokens": scalars, "tools": scalars,
              "tool_choice": scalars | st.just("required"), "stream_options": scalars, "logprobs": scalars,
              "response_format": scalars, "seed": scalars})


@settings(max_examples=40, suppress_health_check=list(HealthCheck), deadline=None)
@given(body=chat_bodies)
def test_any_chat_request_is_answered_or_refused_in_openais_shape_never_a_5xx(api: Api, body: dict[str, Any]) -> None:
    response = httpx.post(api.url + "/v1/chat/completions", json=body, timeout=60,
                          headers={"Authorization": f"Bearer {READER}"})
    assert response.status_code in (200, 400, 404), response.text[:300]
    if response.status_code != 200:
        error_of(response)
    elif not body.get("stream"):
        assert response.json()["choices"][0]["message"]["role"] == "assistant"
