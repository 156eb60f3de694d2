"""Parts 2 and 3 of `policybot bench --reliability` (``bot.bench.reliability``): load and soak against the real
server (`policybot serve` on a copy of docs/), with signed Slack events answered into a fake Slack Web API.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from bot.bench.parts import mixed_questions
from bot.settings import Settings

REPO = Path(__file__).resolve().parents[2]  # the checkout: the server runs here, the fake Slack is in tests/
TESTS = REPO / "tests"
QUESTIONS = mixed_questions()
SECRET, TOKEN = "reliability-signing-secret", "reliability-hook-token"
BUSY = "busy answering other questions"
TOO_SLOW = "took too long"  # bot.serve.chat.routes.TOO_SLOW_TEXT: a clear "ask again", not a lost answer
DEFERRED = "the answer will follow"  # the inline wait ran out: without a reply URL this answer is lost


class ServerUnderLoad:
    """`policybot serve` on a copy of docs/ with a fake Slack API; samples the server's memory every second."""

    def __init__(self, settings: Settings) -> None:
        sys.path.insert(0, str(TESTS))
        from fake_slack import FakeSlack  # the same fake the webhook tests use

        self.slack = FakeSlack().start()
        self.work = Path(tempfile.mkdtemp(prefix="policybot-reliability-"))
        shutil.copytree(settings.docs_dir, self.work / "docs")
        with contextlib.closing(__import__("socket").socket()) as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "POLICYBOT_DATA_DIR": str(self.work / "state"), "POLICYBOT_SLACK_SIGNING_SECRET": SECRET,
               "POLICYBOT_SLACK_BOT_TOKEN": self.slack.token, "POLICYBOT_SLACK_API_URL": self.slack.api_url,
               "POLICYBOT_WEBHOOK_TOKEN": TOKEN, "POLICYBOT_WEBHOOK_INLINE_TIMEOUT_S": "300",
               "POLICYBOT_RATE_LIMIT_PER_MINUTE": "1000", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        if settings.llm_url:
            env["POLICYBOT_LLM_URL"] = settings.llm_url
        self.log = self.work / "server.log"
        with self.log.open("wb") as handle:
            self.proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(self.port), "--docs",
                                          str(self.work / "docs"), "--index", str(self.work / "index")],
                                         cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT)
        self.memory: list[tuple[float, float]] = []
        self._stop = threading.Event()

    def wait_ready(self, timeout: float = 900) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text(errors='replace')[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=5).status_code == 200:
                    threading.Thread(target=self._sample, daemon=True).start()
                    return
            time.sleep(1)
        raise TimeoutError("the server did not become healthy")

    def _sample(self) -> None:
        process = psutil.Process(self.proc.pid)
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                rss = process.memory_info().rss + sum(c.memory_info().rss for c in process.children(recursive=True))
                self.memory.append((time.monotonic(), rss / 1e6))
            self._stop.wait(1.0)

    def close(self) -> None:
        self._stop.set()
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.slack.stop()
        shutil.rmtree(self.work, ignore_errors=True)


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def drive(server: ServerUnderLoad, users: int, seconds: float, event_every_s: float, tag: str) -> dict[str, Any]:
    """``users`` threads asking through /webhook, plus Slack events, for ``seconds``; then checks delivery."""
    deadline = time.monotonic() + seconds
    results: list[dict[str, Any]] = []
    lock = threading.Lock()
    events: list[str] = []

    def user(i: int) -> None:
        n = 0
        with httpx.Client(timeout=400) as client:
            while time.monotonic() < deadline:
                question, n = QUESTIONS[(i + n) % len(QUESTIONS)], n + 1
                started = time.perf_counter()
                try:
                    reply = client.post(f"{server.url}/webhook", json={"token": TOKEN, "text": question,
                                                                        "user_id": f"{tag}-{i}"})
                    text = reply.text
                    kind = ("error" if reply.status_code >= 500 else "rejected" if reply.status_code in (429, 503)
                            else "busy" if BUSY in text else "deferred" if DEFERRED in text
                            else "timeout" if TOO_SLOW in text
                            else "answered" if reply.status_code == 200 else "error")
                except httpx.HTTPError as exc:
                    kind, text = "error", type(exc).__name__
                with lock:
                    results.append({"kind": kind, "s": time.perf_counter() - started, "detail": text[:120]})
                if kind in ("busy", "rejected"):
                    time.sleep(1.0)

    def slack_events() -> None:
        n, base = 0, 1_700_000_000 + 10_000_000 * (sum(map(ord, tag)) % 97)  # thread ts unique per phase
        while time.monotonic() < deadline:
            n += 1
            event_id = f"Ev{tag}{n}"
            body = json.dumps({"type": "event_callback", "event_id": event_id, "team_id": "T1", "event": {
                "type": "app_mention", "channel": "CLOAD", "ts": f"{base + n}.000100", "user": f"U{n % 5}",
                "text": f"<@UBOT> {QUESTIONS[n % len(QUESTIONS)]}"}}).encode()
            ts = str(int(time.time()))
            sig = "v0=" + hmac.new(SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
            with contextlib.suppress(httpx.HTTPError):
                reply = httpx.post(f"{server.url}/slack/events", content=body, timeout=10,
                                   headers={"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig})
                if reply.status_code == 200 and "rate_limited" not in reply.text:
                    events.append(f"{base + n}.000100")
            time.sleep(event_every_s)

    threads = [threading.Thread(target=user, args=(i,)) for i in range(users)] + [threading.Thread(target=slack_events)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    delivered = server.slack.wait_for(lambda: {c.params.get("thread_ts") for c in server.slack.ok_calls(
        "chat.postMessage")} >= set(events), 600)
    posts = [c.params.get("thread_ts") for c in server.slack.ok_calls("chat.postMessage")]
    answered = [r["s"] for r in results if r["kind"] == "answered"]
    after = time.perf_counter()
    alive = httpx.get(f"{server.url}/healthz", timeout=30).status_code == 200
    return {"users": users, "seconds": round(elapsed, 1), "requests": len(results), "answered": len(answered),
            "throughput_per_min": round(60 * len(answered) / elapsed, 2),
            "p50_s": _percentile(answered, 0.5), "p95_s": _percentile(answered, 0.95),
            "busy_replies": sum(r["kind"] == "busy" for r in results),
            "deferred_not_answered": sum(r["kind"] == "deferred" for r in results),
            "timed_out_told_to_retry": sum(r["kind"] == "timeout" for r in results),
            "rejected_429_503": sum(r["kind"] == "rejected" for r in results),
            "errors": sum(r["kind"] == "error" for r in results),
            "error_samples": [r["detail"] for r in results if r["kind"] == "error"][:5],
            "slack_events_accepted": len(events), "slack_events_answered": len(set(posts) & set(events)),
            "slack_events_answered_twice": sum(posts.count(ts) > 1 for ts in set(events)),
            "all_events_delivered": delivered, "healthy_after": alive,
            "healthz_after_s": round(time.perf_counter() - after, 2)}


def memory_summary(samples: list[tuple[float, float]], since: float) -> dict[str, Any]:
    values = [mb for t, mb in samples if t >= since]
    if len(values) < 10:
        return {"samples": len(values)}
    fifth = max(1, len(values) // 5)
    first, last = statistics.median(values[:fifth]), statistics.median(values[-fifth:])
    growth = (last - first) / first
    return {"samples": len(values), "peak_mb": round(max(values), 1), "first_fifth_mb": round(first, 1),
            "last_fifth_mb": round(last, 1), "growth": round(growth, 4), "flat": growth < 0.10}
