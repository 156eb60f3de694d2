"""Server figures for `policybot bench`: cold start to healthy, peak RSS while serving, concurrent throughput.

- Cold start: ``policybot serve`` as a subprocess on a free loopback port over an existing index; the clock runs
  from spawn until ``GET /healthz`` answers 200 (model loaded and warmed, index open).
- Peak RSS: psutil on the server's process tree, sampled every 0.1 s from spawn until the server stops,
  so it covers answering.
- Throughput with 1, 4 and 16 users: HTTP clients posting to the generic ``/webhook`` route of that server
  (a random token set for the run, no reply URL, so answers come back inline); the page's Gradio queue API
  is not used. Answers per second and per-answer latency percentiles.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
import psutil

from bot.bench.parts import pct, say
from bot.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TreeRss:
    """Samples the summed RSS of a process and its children in a background thread; keeps the peak."""

    def __init__(self, pid: int, every_s: float = 0.1) -> None:
        self.pid, self.every_s, self.peak_mb = pid, every_s, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def sample(self) -> float:
        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0.0
        total = 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                continue
        return total / 1e6

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self.sample())
            self._stop.wait(self.every_s)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join(2)
        return round(self.peak_mb, 1)


@contextmanager
def running_server(settings: Settings, timeout_s: float = 120.0,
                   extra_env: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
    """`policybot serve` over ``settings.index_dir`` on a free loopback port, with a generic-webhook token
    (and ``extra_env``, e.g. API tokens).

    Yields ``{"port", "token", "rss": TreeRss, "cold_start_s", "health"}``; stops the server on exit.
    """
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ, POLICYBOT_PORT=str(port), POLICYBOT_HOST="127.0.0.1",
               POLICYBOT_INDEX_DIR=str(settings.index_dir), POLICYBOT_DOCS_DIR=str(settings.docs_dir),
               POLICYBOT_DATA_DIR=str(settings.data_dir), POLICYBOT_PROMPTS_DIR=str(settings.prompts_dir),
               POLICYBOT_EMBEDDING_BACKEND=settings.embedding_backend, POLICYBOT_N_THREADS=str(settings.n_threads),
               POLICYBOT_WEBHOOK_TOKEN=token, POLICYBOT_RATE_LIMIT_PER_MINUTE="10000",
               POLICYBOT_QUEUE_SIZE="64", ANONYMIZED_TELEMETRY="False", GRADIO_ANALYTICS_ENABLED="False",
               HF_HUB_OFFLINE="1")
    env.update(extra_env or {})
    if settings.model_path:
        env["POLICYBOT_MODEL_PATH"] = settings.model_path
    if settings.llm_url:
        env["POLICYBOT_LLM_URL"] = settings.llm_url
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    rss = TreeRss(proc.pid)
    info: dict[str, Any] = {"port": port, "token": token, "rss": rss, "cold_start_s": None, "health": {}}
    try:
        with httpx.Client(timeout=2.0) as client:
            while time.perf_counter() - start < timeout_s and proc.poll() is None:
                try:
                    r = client.get(f"http://127.0.0.1:{port}/healthz")
                    if r.status_code == 200:
                        info["cold_start_s"] = round(time.perf_counter() - start, 3)
                        info["health"] = r.json()
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
        if info["cold_start_s"] is None:
            proc.terminate()
            _, err = proc.communicate(timeout=20)
            say(f"server did not become healthy; its stderr ends: {err[-800:]}")
        yield info
    finally:
        rss.stop()
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()


def ask_webhook(client: httpx.Client, port: int, token: str, question: str, user: str) -> bool:
    """One question through the generic webhook; True when an answer (not a busy/deferred note) came back."""
    r = client.post(f"http://127.0.0.1:{port}/webhook", timeout=120,
                    data={"token": token, "text": question, "user_name": user, "user_id": user})
    text = str(r.json().get("text", "")) if r.status_code == 200 else ""
    return bool(text) and not text.startswith("Looking that up") and "took too long" not in text


def concurrency(port: int, token: str, questions: list[str], users: int, per_user: int) -> dict[str, Any]:
    """``users`` clients each asking ``per_user`` questions, one after another, over HTTP."""
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()

    def one_user(u: int) -> None:
        nonlocal failures
        with httpx.Client() as client:
            for i in range(per_user):
                q = questions[(u * per_user + i) % len(questions)]
                t = time.perf_counter()
                ok = ask_webhook(client, port, token, q, f"bench-{users}-{u}")
                with lock:
                    if ok:
                        latencies.append(time.perf_counter() - t)
                    else:
                        failures += 1

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=users) as pool:
        list(pool.map(one_user, range(users)))
    wall = time.perf_counter() - start
    out = {"users": users, "answers": len(latencies), "failed": failures, "wall_s": round(wall, 2),
           "answers_per_s": round(len(latencies) / wall, 3), "latency_p50_s": pct(latencies, 0.5),
           "latency_p95_s": pct(latencies, 0.95)}
    say(f"concurrency {users}: {out['answers_per_s']} answers/s, p95 {out['latency_p95_s']} s, {failures} failed")
    return out
