"""Streams under stress: clients that disconnect, and 50 at once. The model queue must never be left holding a
slot (or a place in line) for a closed connection, every request gets an answer or a clear 503, and the server
keeps serving. The live app on a loopback port with a slow scripted model behind the real ``ModelQueue``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from api_support import QUESTION, READER, Api, SlowModel, api_server, error_of, sse_events

ASK = {"question": QUESTION, "stream": True}
CHAT = {"model": "policybot", "stream": True, "messages": [{"role": "user", "content": QUESTION}]}


@pytest.fixture
def slow(tmp_path: Path) -> Iterator[tuple[Api, SlowModel]]:
    model = SlowModel(words=400, every_s=0.05)  # 20 s per answer unless the client goes away
    with api_server(tmp_path, model, queue_size=4) as api:
        yield api, model


def read_until(events: Iterator[tuple[str, object]], wanted: str) -> None:
    """Read events up to ``wanted``; keep ``events`` referenced while the stream should stay open."""
    for event, _ in events:
        if event == wanted:
            return
    raise AssertionError(f"the stream ended before a {wanted!r} event")


@pytest.mark.parametrize(("path", "body", "first"), [("/api/v1/ask", ASK, "token"),
                                                     ("/v1/chat/completions", CHAT, "message")],
                         ids=["ask", "openai"])
def test_a_client_that_disconnects_mid_stream_frees_the_model_at_once(slow: tuple[Api, SlowModel], path: str,
                                                                      body: dict, first: str) -> None:
    api, model = slow
    with api.client() as client, client.stream("POST", path, json=body) as response:
        assert response.status_code == 200
        events = sse_events(response.iter_lines())
        read_until(events, first)
        deadline = time.monotonic() + 60
        while model.pieces_written == 0:  # the model is writing for this stream now
            assert time.monotonic() < deadline
            time.sleep(0.05)
    written = model.pieces_written
    assert api.idle(timeout=15), (api.queue.running, api.queue.waiting, api.app.state.api_gate.busy)
    time.sleep(0.3)
    assert model.pieces_written <= written + 3, "generation stopped when the client left"


def test_a_client_that_leaves_while_waiting_in_line_gives_up_its_place(slow: tuple[Api, SlowModel]) -> None:
    api, model = slow
    with api.client() as first_client, first_client.stream("POST", "/api/v1/ask", json=ASK) as first:
        first_events = sse_events(first.iter_lines())
        read_until(first_events, "token")  # the first stream holds the model
        with api.client() as waiting_client, waiting_client.stream("POST", "/api/v1/ask", json=ASK) as second:
            second_events = sse_events(second.iter_lines())
            read_until(second_events, "progress")
            deadline = time.monotonic() + 60
            while api.queue.waiting == 0:
                assert time.monotonic() < deadline, "the second stream should be waiting for the model"
                time.sleep(0.05)
        deadline = time.monotonic() + 15
        while api.queue.waiting:
            assert time.monotonic() < deadline, "the closed stream still holds its place in line"
            time.sleep(0.05)
        assert api.queue.running == 1, "the first stream goes on"
    assert api.idle(timeout=15)


def test_a_non_streaming_request_whose_client_leaves_is_abandoned_too(slow: tuple[Api, SlowModel]) -> None:
    api, model = slow
    with api.client(timeout=1.0) as client, pytest.raises(httpx.ReadTimeout):
        client.post("/api/v1/ask", json={"question": QUESTION})
    assert api.idle(timeout=20)


def test_fifty_concurrent_streams_each_get_an_answer_or_a_clear_503_and_the_server_keeps_serving(tmp_path: Path) -> None:
    model = SlowModel(words=12, every_s=0.02)
    with api_server(tmp_path, model, queue_size=8) as api:
        outcomes: list[str] = []
        lock = threading.Lock()
        start = threading.Barrier(50)

        def one(i: int) -> None:
            path, body = ("/api/v1/ask", ASK) if i % 2 else ("/v1/chat/completions", CHAT)
            start.wait()
            headers = {"Authorization": f"Bearer {READER}"}
            with httpx.Client(base_url=api.url, timeout=120, headers=headers) as client, \
                    client.stream("POST", path, json=body) as response:
                if response.status_code == 503:
                    response.read()
                    assert int(response.headers["retry-after"]) >= 1 and error_of(response)["code"] == "model_busy"
                    kind = "busy"
                else:
                    assert response.status_code == 200, response.status_code
                    events = list(sse_events(response.iter_lines()))
                    done = events[-1] == ("message", "[DONE]") or events[-1][0] == "answer"
                    kind = "answered" if done else f"cut short: {events[-3:]}"
            with lock:
                outcomes.append(kind)

        with ThreadPoolExecutor(50) as pool:
            list(pool.map(one, range(50)))
        assert len(outcomes) == 50 and set(outcomes) <= {"answered", "busy"}, outcomes
        assert outcomes.count("answered") >= 9 and outcomes.count("busy") >= 1, outcomes
        assert api.idle(timeout=20)
        with api.client() as client:
            assert client.post("/api/v1/ask", json={"question": QUESTION}).status_code == 200
            assert client.get("/healthz").status_code == 200


def test_fifty_clients_that_all_disconnect_leave_nothing_behind(tmp_path: Path) -> None:
    model = SlowModel(words=400, every_s=0.05)
    with api_server(tmp_path, model, queue_size=8) as api:
        def one(i: int) -> None:
            headers = {"Authorization": f"Bearer {READER}"}
            with httpx.Client(base_url=api.url, timeout=60, headers=headers) as client, \
                    client.stream("POST", "/api/v1/ask", json=ASK) as response:
                if response.status_code == 200:
                    events = sse_events(response.iter_lines())
                    read_until(events, "progress")

        with ThreadPoolExecutor(50) as pool:
            list(pool.map(one, range(50)))
        assert api.idle(timeout=20), (api.queue.running, api.queue.waiting, api.app.state.api_gate.busy)
        model.words = 3
        with api.client() as client:
            assert client.post("/api/v1/ask", json={"question": QUESTION}).status_code == 200
