"""`policybot bench --reliability`: the long run of the reliability and security checks, with a report.

1. The reliability test files (injection, hostile input, output handling, faults, and the SIGKILL-during-ingest
   test) under pytest, with ``POLICYBOT_FUZZ_EXAMPLES`` raised; their figures come back through
   tests/output/reliability/*.json (inputs tried per surface, planted instructions that changed an answer).
2. Load: the real server (`policybot serve`, embedded model, loopback) with ``--users`` concurrent users asking
   through ``POST /webhook`` for ``--load-seconds``, plus signed Slack events at the same time, answered into a
   fake Slack Web API. Throughput, p50/p95 latency, errors, busy replies, peak memory, events answered once.
3. Soak: fewer users for ``--soak-minutes``; the server's memory must stay flat.

Writes ``<out>/reliability.json`` and ``<out>/reliability.md``. Needs the repository checkout (tests/).
"""

from __future__ import annotations

import argparse
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
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx
import psutil

from bot.bench.parts import mixed_questions
from bot.settings import Settings

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"
FIGURES = TESTS / "output" / "reliability"
TEST_FILES = ["tests/test_injection.py", "tests/test_hostile_input.py", "tests/test_output_handling.py",
              "tests/test_faults.py",
              "tests/test_ingest.py::test_a_killed_ingest_leaves_the_previous_index_answering"]
QUESTIONS = mixed_questions()
SECRET, TOKEN = "reliability-signing-secret", "reliability-hook-token"
BUSY = "busy answering other questions"
TOO_SLOW = "took too long"  # bot.serve.chat.routes.TOO_SLOW_TEXT: a clear "ask again", not a lost answer
DEFERRED = "the answer will follow"  # the inline wait ran out: without a reply URL this answer is lost


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reliability", action="store_true", help="run the long reliability/security checks instead")
    p.add_argument("--api-streams", action="store_true",
                   help="only --users streaming clients of the HTTP API for --load-seconds: p50/p95, nothing lost")
    p.add_argument("--users", type=int, default=20, help="concurrent users in the load test (default 20)")
    p.add_argument("--load-seconds", type=float, default=120, help="length of the load test (default 120)")
    p.add_argument("--soak-minutes", type=float, default=10, help="length of the memory soak (default 10)")
    p.add_argument("--fuzz-examples", type=int, default=300, help="Hypothesis examples per fuzzer (default 300)")
    p.add_argument("--skip-tests", action="store_true", help="only the load and soak parts")


# --- 1. the reliability tests ------------------------------------------------------------------------------
def run_tests(fuzz_examples: int) -> dict[str, Any]:
    shutil.rmtree(FIGURES, ignore_errors=True)
    junit = Path(tempfile.mkdtemp()) / "junit.xml"
    env = {**os.environ, "POLICYBOT_FUZZ_EXAMPLES": str(fuzz_examples), "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
                           *TEST_FILES], cwd=REPO, env=env, capture_output=True, text=True)
    cases = []
    if junit.is_file():
        for case in ET.parse(junit).getroot().iter("testcase"):
            outcome = "failed" if case.find("failure") is not None or case.find("error") is not None else (
                "skipped" if case.find("skipped") is not None else "passed")
            cases.append({"file": case.get("classname", ""), "name": case.get("name", ""), "outcome": outcome})
    read = lambda name: json.loads((FIGURES / name).read_text()) if (FIGURES / name).is_file() else {}  # noqa: E731
    faults = [c for c in cases if c["file"].endswith("test_faults") or "killed_ingest" in c["name"]]
    return {"exit_code": proc.returncode, "seconds": round(time.perf_counter() - started, 1),
            "passed": sum(c["outcome"] == "passed" for c in cases),
            "failed": [f"{c['file']}::{c['name']}" for c in cases if c["outcome"] == "failed"],
            "skipped": sum(c["outcome"] == "skipped" for c in cases),
            "inputs_per_surface": read("fuzz_counts.json"), "injection": read("injection.json"),
            "faults": {c["name"]: c["outcome"] for c in faults}, "tail": proc.stdout[-2000:]}


# --- 2 and 3. load and soak against the real server ---------------------------------------------------------
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


# --- the command and the report ---------------------------------------------------------------------------
def reliability_command(args: argparse.Namespace, settings: Settings) -> int:
    out = Path(getattr(args, "out", None) or "bench/results")
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "command": " ".join(sys.argv)}
    if not TESTS.is_dir():
        print("error: `policybot bench --reliability` runs from the repository checkout (tests/ is missing)",
              file=sys.stderr)
        return 2
    if not getattr(args, "skip_tests", False):
        print(f"reliability: running {len(TEST_FILES)} test files (fuzz examples {args.fuzz_examples})...",
              file=sys.stderr)
        report["tests"] = run_tests(args.fuzz_examples)
    print("reliability: starting the real server...", file=sys.stderr)
    server = ServerUnderLoad(settings)
    try:
        server.wait_ready()
        load_start = time.monotonic()
        print(f"reliability: load, {args.users} users for {args.load_seconds:g} s...", file=sys.stderr)
        report["load"] = drive(server, args.users, args.load_seconds, 3.0, "load")
        report["load"]["memory"] = memory_summary(server.memory, load_start)
        soak_start = time.monotonic()
        print(f"reliability: soak, {args.soak_minutes:g} min...", file=sys.stderr)
        report["soak"] = drive(server, 4, args.soak_minutes * 60, 10.0, "soak")
        report["soak"]["memory"] = memory_summary(server.memory, soak_start)
    finally:
        server.close()
    report["verdict"] = verdict(report)
    (out / "reliability.json").write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    (out / "reliability.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))
    return 0 if not report["verdict"]["problems"] else 1


def verdict(report: dict[str, Any]) -> dict[str, Any]:
    problems = []
    tests = report.get("tests", {})
    if tests.get("failed"):
        problems.append(f"{len(tests['failed'])} reliability tests failed")
    if tests.get("injection", {}).get("changed"):
        problems.append("planted instructions changed an answer")
    for part in ("load", "soak"):
        r = report.get(part, {})
        if r.get("errors"):
            problems.append(f"{part}: {r['errors']} errors")
        if r.get("deferred_not_answered"):
            problems.append(f"{part}: {r['deferred_not_answered']} webhook questions timed out inline (answer lost)")
        if not r.get("all_events_delivered", True) or r.get("slack_events_answered_twice"):
            problems.append(f"{part}: Slack events not answered exactly once")
        if not r.get("healthy_after", True):
            problems.append(f"{part}: not healthy afterwards")
    if report.get("soak", {}).get("memory", {}).get("flat") is False:
        problems.append("memory grew during the soak")
    return {"problems": problems}


def markdown(report: dict[str, Any]) -> str:
    tests, load, soak = report.get("tests", {}), report.get("load", {}), report.get("soak", {})
    inj = tests.get("injection", {})
    lines = ["# PolicyBot reliability report", "", f"Run {report['started']}: `{report['command']}`", ""]
    if tests:
        lines += ["## Tests", f"{tests['passed']} passed, {len(tests['failed'])} failed, {tests['skipped']} skipped "
                  f"in {tests['seconds']} s.", "", "| surface | inputs tried |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in sorted(tests["inputs_per_surface"].items())]
        lines += ["", f"Planted instructions that changed an answer (real model): {inj.get('changed', 'n/a')} of "
                  f"{inj.get('plants', 'n/a')}.", "", "| fault | outcome |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in tests["faults"].items()]
        lines += ["", f"Failed: {', '.join(tests['failed']) or 'none'}", ""]
    for name, r in (("Load", load), ("Soak", soak)):
        if not r:
            continue
        m = r.get("memory", {})
        lines += [f"## {name}", f"{r['users']} users for {r['seconds']} s: {r['requests']} requests, "
                  f"{r['answered']} answered ({r['throughput_per_min']}/min), p50 {r['p50_s']} s, p95 {r['p95_s']} s; "
                  f"{r['busy_replies']} busy replies, {r.get('deferred_not_answered', 0)} deferred (inline wait ran out), "
                  f"{r['rejected_429_503']} 429/503, {r['errors']} errors. "
                  f"Slack events: {r['slack_events_accepted']} accepted, {r['slack_events_answered']} answered, "
                  f"{r['slack_events_answered_twice']} answered twice. Healthy afterwards: {r['healthy_after']}. "
                  f"Memory: peak {m.get('peak_mb')} MB, {m.get('first_fifth_mb')} -> {m.get('last_fifth_mb')} MB "
                  f"(growth {m.get('growth')}, flat: {m.get('flat')}).", ""]
    problems = report.get("verdict", {}).get("problems", [])
    lines += ["## Verdict", "; ".join(problems) if problems else "Everything held.", ""]
    return "\n".join(lines)
