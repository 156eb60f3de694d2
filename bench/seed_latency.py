"""Median time to first token and to the full answer over 10 seed questions (warm model), in process and then
through a `python -m llama_cpp.server` started here on a loopback port.

Run from the repo root after `policybot ingest`:  .venv/bin/python bench/seed_latency.py
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import time

import httpx

from bot.answer import Token
from bot.llm.gguf import bundled_model_path
from bot.reader.pipeline import Pipeline, build_pipeline
from bot.settings import Settings

QUESTIONS = [
    "Why were these five industries chosen?",
    "What goals are set for 2030?",
    "Who is Zou Yongbing?",
    "What are the five future industry clusters?",
    "What is the chain leader system?",
    "Which cities are the main engines of the AI terminal industry chain?",
    "When was the press conference held?",
    "What will Guangdong do for start-ups?",
    "What talent special action will Guangdong implement?",
    "From which aspects will efforts be made for the future materials industry?",
]


def measure(pipeline: Pipeline, label: str) -> None:
    pipeline.answer(QUESTIONS[0])  # warm: model loaded, prompt prefix cached
    ttft: list[float] = []
    total: list[float] = []
    for question in QUESTIONS:
        started = time.perf_counter()
        first = None
        for event in pipeline.stream(question):
            if isinstance(event, Token) and first is None:
                first = time.perf_counter() - started
        total.append(time.perf_counter() - started)
        if first is not None:
            ttft.append(first)
    print(f"{label}: ttft median {statistics.median(ttft):.2f} s (n={len(ttft)}), "
          f"answer median {statistics.median(total):.2f} s (n={len(total)})", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    measure(build_pipeline(Settings()), "in process")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(bundled_model_path()), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "2048"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(120):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(1)
        measure(build_pipeline(Settings(llm_url=f"http://127.0.0.1:{port}/v1")), "llama_cpp.server")
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
