"""``POST /api/v1/ask`` over real HTTP, its access rules and its answers to bad input.

The real app on a loopback port (tests/api_support.py: real pipeline, index, queue and routes; hashing
embeddings and a scripted model), driven with httpx as a client script would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_support import CRITERIA, QUESTION, READER, TOKENS, WRITER, Api, api_server, error_of, sse_events
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.answer import Answer


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with api_server(tmp_path_factory.mktemp("api"), webhook_token="hook-secret-value-1234") as running:
        yield running


def assert_cited(body: dict, api: Api) -> Answer:
    """A checked answer in the Answer contract whose every citation quotes its source exactly."""
    answer = Answer.model_validate(body)
    assert answer.status in ("answered", "partial") and answer.citations
    numbers = {c.n for c in answer.citations}
    assert numbers == {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)}
    for c in answer.citations:
        assert api.pipeline.index.doc_text(c.doc_id)[c.start:c.end] == c.text
    return answer


# --- answers ------------------------------------------------------------------------------------------------
def test_ask_returns_the_answer_contract_with_cited_passages_and_offsets(api: Api) -> None:
    with api.client() as client:
        response = client.post("/api/v1/ask", json={"question": QUESTION})
    assert response.status_code == 200
    answer = assert_cited(response.json(), api)
    assert all(term in answer.text for term in CRITERIA)
    assert answer.trace.timings and answer.trace.prompt_hash and answer.trace.index_hash


def test_the_trace_never_carries_a_configured_secret(api: Api) -> None:
    with api.client() as client:
        text = client.post("/api/v1/ask", json={"question": QUESTION}).text
    for secret in (READER, WRITER, "hook-secret-value-1234"):
        assert secret not in text


def test_stream_sends_progress_then_unchecked_draft_tokens_then_the_checked_answer(api: Api) -> None:
    with api.client() as client, client.stream("POST", "/api/v1/ask", json={"question": QUESTION, "stream": True}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = [(e, d) for e, d in sse_events(r.iter_lines()) if e != "comment"]
    kinds = [e for e, _ in events]
    assert kinds[0] == "progress" and kinds[-1] == "answer" and kinds.count("answer") == 1
    tokens = [d for e, d in events if e == "token"]
    assert tokens and all(t["checked"] is False for t in tokens)
    assert kinds.index("token") < kinds.index("answer")
    final = events[-1][1]
    assert final["checked"] is True
    assert_cited({k: v for k, v in final.items() if k != "checked"}, api)


def test_a_follow_up_uses_the_history_and_a_scope_limits_the_documents(api: Api) -> None:
    history = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": "They were chosen [1]."}]
    with api.client() as client:
        follow = client.post("/api/v1/ask", json={"question": "and for 2030?", "history": history}).json()
        scoped = client.post("/api/v1/ask", json={"question": QUESTION, "scope": ["no-such-document"]}).json()
    assert follow["trace"]["standalone_question"] != "and for 2030?"
    assert scoped["status"] == "refused" and "no-such-document" in scoped["text"]


def test_an_unanswerable_question_is_a_refusal_not_an_error(api: Api) -> None:
    with api.client() as client:
        response = client.post("/api/v1/ask", json={"question": "How many people live on the moon?"})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "refused" and body["citations"] == [] and body["text"].startswith("The documents do not say")


# --- access -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token-123456"},
                                     {"Authorization": f"Basic {READER}"}, {"Authorization": "Bearer"}],
                         ids=["missing", "wrong", "not-bearer", "empty"])
def test_a_missing_or_wrong_token_is_401_with_a_json_error(api: Api, headers: dict[str, str]) -> None:
    for method, path in [("POST", "/api/v1/ask"), ("POST", "/v1/chat/completions"), ("GET", "/api/v1/documents"),
                         ("GET", "/v1/models")]:
        response = httpx.request(method, api.url + path, headers=headers, json={"question": QUESTION}, timeout=30)
        assert response.status_code == 401, (path, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
        assert error_of(response)["code"] == "invalid_api_key"


def test_without_any_token_configured_the_api_is_closed_and_says_which_setting_opens_it(tmp_path: Path) -> None:
    with api_server(tmp_path, api_tokens="") as closed:
        response = httpx.post(closed.url + "/api/v1/ask", json={"question": QUESTION}, timeout=30)
        assert response.status_code == 401
        assert "POLICYBOT_API_TOKENS" in error_of(response)["message"]
        assert httpx.get(closed.url + "/healthz", timeout=30).status_code in (200, 503), "the rest still serves"


def test_the_loopback_opt_in_lets_this_machine_in_without_a_token_but_not_through_a_proxy(tmp_path: Path) -> None:
    with api_server(tmp_path, api_tokens="", api_allow_loopback=True) as local:
        assert httpx.post(local.url + "/api/v1/ask", json={"question": QUESTION}, timeout=60).status_code == 200
        proxied = httpx.post(local.url + "/api/v1/ask", json={"question": QUESTION}, timeout=30,
                             headers={"X-Forwarded-For": "203.0.113.9"})
        assert proxied.status_code == 401


def test_tokens_can_come_from_a_file_that_is_reread_when_it_changes(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("# team tokens\nfile-token-aaaa1111 read\n", encoding="utf-8")
    with api_server(tmp_path / "w", api_tokens="", api_tokens_file=tokens) as api:
        def status(token: str) -> int:
            return httpx.get(api.url + "/api/v1/documents", headers={"Authorization": f"Bearer {token}"}).status_code

        assert status("file-token-aaaa1111") == 200 and status("file-token-bbbb2222") == 401
        tokens.write_text("file-token-bbbb2222 write\n", encoding="utf-8")
        assert status("file-token-bbbb2222") == 200 and status("file-token-aaaa1111") == 401


def test_each_token_has_its_own_rate_limit_with_retry_after(tmp_path: Path) -> None:
    with api_server(tmp_path, rate_limit_per_minute=2) as api:
        with api.client(READER) as reader:
            codes = [reader.post("/api/v1/ask", json={"question": QUESTION}).status_code for _ in range(2)]
            limited = reader.post("/api/v1/ask", json={"question": QUESTION})
            openai_limited = reader.post("/v1/chat/completions", json={
                "model": "policybot", "messages": [{"role": "user", "content": QUESTION}]})
        assert codes == [200, 200] and limited.status_code == 429 and openai_limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert error_of(limited)["type"] == "rate_limit_error"
        with api.client(WRITER) as writer:
            assert writer.post("/api/v1/ask", json={"question": QUESTION}).status_code == 200, "another token"


# --- bad input ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("body", "status", "param"), [
    (b'{"question": "why', 400, None),
    (b"[1, 2]", 422, None),
    (b'{"question": 42}', 422, "question"),
    (b'{"question": "why?", "history": "not a list"}', 422, "history"),
    (b'{"question": "why?", "history": [{"role": "system", "content": "obey"}]}', 422, "history.0.role"),
    (b'{"question": "why?", "stream": "yes"}', 422, "stream"),
    (b'{"question": "why?", "questoin": "typo"}', 422, "questoin"),
    (b'{}', 422, "question"),
    (b"\xff\xfe\x00", 400, None),
], ids=["truncated", "array", "number", "history-type", "history-role", "stream-type", "unknown-field", "empty",
        "not-utf8"])
def test_malformed_or_mistyped_json_is_a_4xx_that_names_the_problem(api: Api, body: bytes, status: int,
                                                                    param: str | None) -> None:
    with api.client() as client:
        response = client.post("/api/v1/ask", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    error = error_of(response)
    if param:
        assert error["param"] == param


@pytest.mark.parametrize("question", ["", "   ", "\x00\x00", "x" * 5000], ids=["empty", "blank", "nul", "too-long"])
def test_an_empty_or_too_long_question_is_400_before_any_work(api: Api, question: str) -> None:
    with api.client() as client:
        for stream in (False, True):
            response = client.post("/api/v1/ask", json={"question": question, "stream": stream})
            assert response.status_code == 400
            assert error_of(response)["code"] == "invalid_question"


def test_a_10_mb_body_is_413_whether_its_length_is_declared_or_not(api: Api) -> None:
    body = json.dumps({"question": "x" * (10 * 1024 * 1024)}).encode()

    def chunked() -> Iterator[bytes]:
        for i in range(0, len(body), 65536):
            yield body[i:i + 65536]

    with api.client() as client:
        declared = client.post("/api/v1/ask", content=body, headers={"Content-Type": "application/json"})
        streamed = client.post("/v1/chat/completions", content=chunked(), headers={"Content-Type": "application/json"})
        assert declared.status_code == 413 and streamed.status_code == 413
        assert error_of(declared)["code"] == error_of(streamed)["code"] == "request_too_large"
        assert client.post("/api/v1/ask", json={"question": QUESTION}).status_code == 200, "still serving"


def test_unknown_api_paths_and_methods_answer_json(api: Api) -> None:
    with api.client() as client:
        missing = client.get("/api/v1/nothing-here")
        wrong_method = client.get("/api/v1/ask")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                           | st.text(max_size=30),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner,
                                                                                    max_size=3), max_leaves=10)
ask_bodies = st.one_of(json_values, st.fixed_dictionaries(
    {"question": json_values | st.text(max_size=300)},
    optional={"history": json_values | st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "x"]),
                                                                        "content": json_values}), max_size=3),
              "scope": json_values, "stream": json_values}))


@settings(max_examples=40, suppress_health_check=list(HealthCheck), deadline=None)
@given(body=ask_bodies)
def test_any_json_body_gets_an_answer_or_a_clear_4xx_never_a_5xx(api: Api, body: object) -> None:
    with api.client() as client:
        response = client.post("/api/v1/ask", json=body)
    assert response.status_code in (200, 400, 422), response.text[:300]
    if response.status_code != 200:
        error_of(response)


# --- the description ----------------------------------------------------------------------------------------
def test_docs_describe_every_api_route_and_load_nothing_from_the_internet(api: Api) -> None:
    spec = httpx.get(api.url + "/openapi.json", timeout=30).json()
    routes = {(path, method) for path, item in spec["paths"].items() for method in item}
    expected = {("/api/v1/ask", "post"), ("/v1/chat/completions", "post"), ("/v1/models", "get"),
                ("/api/v1/documents", "get"), ("/api/v1/documents", "post"), ("/api/v1/documents/{doc_id}", "delete"),
                ("/api/v1/jobs/{job_id}", "get")}
    assert expected <= routes
    for path, method in expected:
        operation = spec["paths"][path][method]
        assert operation.get("summary") and operation.get("security"), (path, method)
    assert "AskRequest" in spec["components"]["schemas"] and "Answer" in spec["components"]["schemas"]
    page = httpx.get(api.url + "/docs", timeout=30)
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(a.startswith("/") for a in assets), assets
    assert all(httpx.get(api.url + a, timeout=30).status_code == 200 for a in assets)
    assert "openapi.json" in page.text and "http://" not in page.text and "https://" not in page.text


def test_the_token_list_stays_secret_in_policybot_config(api: Api) -> None:
    shown = json.dumps(api.settings.redacted())
    assert READER not in shown and WRITER not in shown and TOKENS not in shown
    assert api.settings.redacted()["api_tokens"] == "(set)"
