"""The model layer for real: SmolLM2 in process, a real `python -m llama_cpp.server`, real sockets.

Everything listens and connects on 127.0.0.1 only. Tests that load the model are marked ``slow``; the
unreachable-server and hanging-server tests need no model and run in the fast suite.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.errors import ModelError
from bot.llm.build import build_chat_model
from bot.llm.contract import Message, PromptTooLongError
from bot.llm.gguf import bundled_model_path, physical_cores
from bot.llm.local import LlamaCppModel
from bot.llm.model_queue import ModelQueue
from bot.llm.server import OpenAIServerModel
from bot.settings import load_settings

SYSTEM = (
    "You answer questions about Guangdong's policy for five future industry clusters. "
    "Use only the numbered evidence. Cite it as [n]. If the evidence does not say, answer: "
    "The documents do not say. "
) + " ".join(
    f"Rule {i}: keep the answer short, copy names, numbers and dates exactly, and never invent a department."
    for i in range(1, 21)
)


def chat(question: str, system: str = SYSTEM) -> list[Message]:
    return [{"role": "system", "content": system}, {"role": "user", "content": question}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def local_model() -> LlamaCppModel:
    model = LlamaCppModel(str(bundled_model_path()), n_ctx=2048, n_threads=0)
    model.warm_up()
    return model


# --- in process ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_real_model_streams_several_deltas_and_counts_its_prompt(local_model: LlamaCppModel) -> None:
    messages = chat("Name three colours.", system="You are a concise assistant.")
    deltas = list(local_model.stream_chat(messages, max_tokens=24))
    assert len(deltas) > 1 and "".join(deltas).strip()
    usage = local_model.last_usage
    assert usage["prompt_tokens"] == local_model.count_tokens(messages) > 10
    assert usage["completion_tokens"] > 1 and usage["ttft_s"] > 0 and usage["decode_tok_s"] > 0
    assert local_model.health()["ok"] is True
    assert len(local_model.model_hash) == 64


@pytest.mark.slow
def test_real_model_says_whether_it_ended_its_reply_or_hit_the_token_limit(local_model: LlamaCppModel) -> None:
    messages = chat("Write a long story about a lighthouse keeper.", system="You are a storyteller.")
    list(local_model.stream_chat(messages, max_tokens=4))
    assert local_model.last_usage["finish_reason"] == "length"
    list(local_model.stream_chat(chat("Reply with the single word: yes"), max_tokens=64, stop=["\n"]))
    assert local_model.last_usage["finish_reason"] == "stop"


@pytest.mark.slow
def test_a_fixed_system_prompt_is_read_once_and_reused_from_the_kv_cache(local_model: LlamaCppModel) -> None:
    list(local_model.stream_chat(chat("Hi.", system="An unrelated system prompt."), max_tokens=4))
    list(local_model.stream_chat(chat("Which five clusters were announced?"), max_tokens=8))
    first = dict(local_model.last_usage)
    list(local_model.stream_chat(chat("Who spoke at the press conference?"), max_tokens=8))
    second = dict(local_model.last_usage)

    system_tokens = local_model.count_tokens([{"role": "system", "content": SYSTEM}])
    assert system_tokens > 300
    assert first["cached_tokens"] < 10, "the first request with this system prompt cannot reuse it"
    assert second["cached_tokens"] >= system_tokens - 5
    assert second["prompt_eval_tokens"] < first["prompt_eval_tokens"] / 4
    assert second["prompt_eval_s"] < first["prompt_eval_s"] / 2


@pytest.mark.slow
def test_a_prompt_longer_than_the_context_window_names_the_setting(local_model: LlamaCppModel) -> None:
    huge = chat("policy " * 3000)
    with pytest.raises(PromptTooLongError, match="POLICYBOT_N_CTX"):
        list(local_model.stream_chat(huge, max_tokens=4))


@pytest.mark.slow
def test_the_queue_serialises_real_concurrent_generations(local_model: LlamaCppModel) -> None:
    class Watched:
        """The real model, counting how many generations run inside it at once."""

        def __init__(self) -> None:
            self.active = self.most = 0
            self.lock = threading.Lock()

        def __getattr__(self, name: str) -> object:
            return getattr(local_model, name)

        def stream_chat(self, messages: list[Message], **kwargs: object) -> Iterator[str]:
            with self.lock:
                self.active += 1
                self.most = max(self.most, self.active)
            try:
                yield from local_model.stream_chat(messages, **kwargs)  # type: ignore[arg-type]
            finally:
                with self.lock:
                    self.active -= 1

    watched = Watched()
    queue = ModelQueue(watched, queue_size=4, queue_timeout_s=120)  # type: ignore[arg-type]
    outputs: list[str] = []
    question = chat("What is a policy?", system="You are a concise assistant.")
    threads = [threading.Thread(target=lambda: outputs.append("".join(queue.stream_chat(question, max_tokens=12))))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outputs) == 2 and all(o.strip() for o in outputs), "both requests got a reply"
    assert watched.most == 1, "the queue let two generations into the one model at once"
    # Not asserted: that the two replies are equal. The second reads the prompt from the KV cache, and on some
    # CPUs (seen on this machine's llama.cpp build) that changes a late greedy token ("laws" / "guidelines").


@pytest.mark.slow
def test_a_truncated_gguf_is_reported_as_invalid_not_crashed(tmp_path: Path) -> None:
    source = bundled_model_path()
    truncated = tmp_path / "truncated.gguf"
    with source.open("rb") as src, truncated.open("wb") as dst:
        dst.write(src.read(source.stat().st_size // 2))
    with pytest.raises(ModelError) as info:
        LlamaCppModel(str(truncated), n_ctx=512, n_threads=1).warm_up()
    assert "not a valid GGUF" in str(info.value) and "POLICYBOT_MODEL_PATH" in str(info.value)


# --- a real llama.cpp server --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(bundled_model_path()),
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "2048", "--n_threads", str(physical_cores()),
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
            try:
                if httpx.get(url + "/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "llama_cpp.server did not become ready in 90 s"
            time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_a_real_llama_cpp_server_streams_through_the_settings_route(llama_server: str) -> None:
    queue = build_chat_model(load_settings(llm_url=llama_server, llm_timeout_s=60))
    queue.warm_up()
    assert queue.model_hash.startswith("server:") and queue.health()["ok"] is True
    stream = queue.stream_chat(
        chat("Name three colours.", system="You are a concise assistant."), max_tokens=24
    )
    deltas = list(stream)
    assert len(deltas) > 1 and "".join(deltas).strip()
    assert stream.usage["completion_tokens"] > 1 and stream.usage["ttft_s"] > 0
    assert stream.usage["finish_reason"] in ("stop", "length")  # through the queue, as the draft reads it
    list(queue.stream_chat(chat("Write a long story about a lighthouse keeper."), max_tokens=4))
    assert queue.last_usage["finish_reason"] == "length"


@pytest.mark.slow
def test_server_token_count_matches_the_in_process_count(
    llama_server: str, local_model: LlamaCppModel
) -> None:
    server = OpenAIServerModel(llama_server, timeout_s=60)
    messages = chat("How many future industry clusters does Guangdong plan?")
    assert server.count_tokens(messages) == local_model.count_tokens(messages)
    assert server.token_count_exact is True


# --- servers that fail (no model needed) --------------------------------------------------------------------


def test_an_unreachable_server_names_the_url_setting() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there any more: connection refused
    model = OpenAIServerModel(url, timeout_s=5)
    with pytest.raises(ModelError) as info:
        list(model.stream_chat([{"role": "user", "content": "hi"}], max_tokens=4))
    message = str(info.value)
    assert f"Cannot reach the LLM server at {url} (connection refused)" in message
    assert "POLICYBOT_LLM_URL" in message and "python -m llama_cpp.server" in message
    assert model.health()["ok"] is False


def test_a_server_that_never_answers_hits_the_timeout() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    held: list[socket.socket] = []

    def accept_and_say_nothing() -> None:
        try:
            while True:
                conn, _ = listener.accept()
                held.append(conn)
        except OSError:
            return

    threading.Thread(target=accept_and_say_nothing, daemon=True).start()
    try:
        model = OpenAIServerModel(f"http://127.0.0.1:{port}", timeout_s=0.5)
        started = time.monotonic()
        with pytest.raises(ModelError, match="timed out.*POLICYBOT_LLM_TIMEOUT_S"):
            list(model.stream_chat([{"role": "user", "content": "hi"}], max_tokens=4))
        assert time.monotonic() - started < 5
    finally:
        listener.close()
        for conn in held:
            conn.close()
