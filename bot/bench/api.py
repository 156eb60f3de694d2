"""`policybot bench --api-streams`: concurrent streaming clients of the HTTP API against the real server.

The real server (`policybot serve`, the configured model, a copy of the docs folder indexed in a temporary
folder) on a free loopback port; ``--users`` clients, each with its own API token, ask one question after
another over ``POST /api/v1/ask`` with ``"stream": true`` for ``--load-seconds``, every request started before
the end is read to its end. Every request must end in the checked ``answer`` event or in an explicit "busy"
(a 429/503 with Retry-After, or an ``error`` event), after which the client waits as told and asks again. A
stream that ends any other way, or a failed connection, is *lost*. Reported: answers, busy replies, lost and
failed requests, p50/p95 of the time to the first event with text and to the checked answer, and whether the
model's queue is empty and the server healthy afterwards. Writes ``<out>/api-streams.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bot.bench.parts import mixed_questions, pct, say
from bot.bench.server import running_server
from bot.settings import Settings

QUESTIONS = mixed_questions()


def ask_streaming(client: httpx.Client, url: str, question: str) -> dict[str, Any]:
    """One streamed question: its outcome (answered, busy, lost, error) and timings."""
    started = time.perf_counter()
    first: float | None = None
    result: dict[str, Any] = {"outcome": "lost", "retry_after": 0.0}
    try:
        with client.stream("POST", f"{url}/api/v1/ask", json={"question": question, "stream": True}) as response:
            if response.status_code in (429, 503):
                response.read()
                return {"outcome": "busy", "retry_after": float(response.headers.get("retry-after", 1)),
                        "s": time.perf_counter() - started}
            if response.status_code != 200:
                response.read()
                return {"outcome": "error", "detail": f"{response.status_code} {response.text[:100]}"}
            event = ""
            for line in response.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event in ("token", "answer") and first is None:
                    first = time.perf_counter() - started
                if line.startswith("data:") and event == "answer":
                    result = {"outcome": "answered", "status": json.loads(line[5:]).get("status")}
                elif line.startswith("data:") and event == "error":
                    error = json.loads(line[5:]).get("error", {})
                    busy = error.get("code") == "model_busy"
                    result = {"outcome": "busy" if busy else "error", "retry_after": 1.0, "detail": error.get("message")}
    except httpx.HTTPError as exc:
        return {"outcome": "lost", "detail": type(exc).__name__}
    return {**result, "s": time.perf_counter() - started, "first_s": first}


def drive(url: str, tokens: list[str], seconds: float) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def user(i: int) -> None:
        n = 0
        with httpx.Client(timeout=600, headers={"Authorization": f"Bearer {tokens[i]}"}) as client:
            while time.monotonic() < deadline:
                one = ask_streaming(client, url, QUESTIONS[(i + n) % len(QUESTIONS)])
                n += 1
                with lock:
                    results.append(one)
                if one["outcome"] == "busy":
                    time.sleep(min(one.get("retry_after", 1.0), 10.0))

    threads = [threading.Thread(target=user, args=(i,)) for i in range(len(tokens))]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    answered = [r for r in results if r["outcome"] == "answered"]
    latency = [r["s"] for r in answered]
    first = [r["first_s"] for r in answered if r.get("first_s") is not None]
    count = {k: sum(r["outcome"] == k for r in results) for k in ("answered", "busy", "lost", "error")}
    return {"users": len(tokens), "seconds": round(elapsed, 1), "requests": len(results), **count,
            "answers_per_min": round(60 * count["answered"] / elapsed, 2),
            "answer_p50_s": pct(latency, 0.5), "answer_p95_s": pct(latency, 0.95),
            "first_text_p50_s": pct(first, 0.5), "first_text_p95_s": pct(first, 0.95),
            "statuses": {s: sum(r.get("status") == s for r in answered) for s in ("answered", "partial", "refused")},
            "problems": [r.get("detail") for r in results if r["outcome"] in ("lost", "error")][:5]}


def markdown(report: dict[str, Any]) -> str:
    r = report["run"]
    return "\n".join([
        "# PolicyBot API streams", "", f"Command: `{report['command']}` ({report['started']})", "",
        f"{r['users']} concurrent streaming clients of `POST /api/v1/ask` for {r['seconds']} s against `policybot "
        f"serve` on loopback (model queue {report['queue_size']}, llama.cpp threads {report['n_threads']}; "
        f"{report.get('cpus')} CPUs, load average {report.get('load_average')} at start and end).", "",
        "| figure | value |", "|---|---|",
        *[f"| {k} | {r[k]} |" for k in ("requests", "answered", "busy", "lost", "error", "answers_per_min",
                                        "answer_p50_s", "answer_p95_s", "first_text_p50_s", "first_text_p95_s")],
        f"| answer statuses | {r['statuses']} |",
        f"| model queue after (running, waiting) | {report['queue_after']} |",
        f"| healthy after | {report['healthy_after']} |", "",
        f"Verdict: {'no request lost' if report['ok'] else 'PROBLEMS: ' + '; '.join(map(str, r['problems']))}", ""])


def api_streams_command(args: argparse.Namespace, settings: Settings) -> int:
    out = Path(getattr(args, "out", None) or "bench/results")
    out.mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%d %H:%M")
    work = Path(tempfile.mkdtemp(prefix="policybot-api-bench-"))
    try:
        local = settings.with_overrides(docs_dir=work / "docs", index_dir=work / "index", data_dir=work / "data",
                                        prompts_dir=settings.prompts_dir.resolve())
        shutil.copytree(settings.docs_dir, local.docs_dir)
        tokens = [f"bench-{i}-{secrets.token_hex(8)}" for i in range(args.users)]
        say(f"starting the server (model, index of {settings.docs_dir}/)")
        with running_server(local, timeout_s=900, extra_env={"POLICYBOT_API_TOKENS": ",".join(tokens)}) as info:
            if info["cold_start_s"] is None:
                print("error: the server did not become healthy", file=sys.stderr)
                return 1
            url = f"http://127.0.0.1:{info['port']}"
            say(f"{args.users} streaming API clients for {args.load_seconds:g} s")
            load_start = round(os.getloadavg()[0], 2)
            run = drive(url, tokens, args.load_seconds)
            health = httpx.get(f"{url}/healthz", timeout=60)
            queue = health.json().get("model", {}).get("queue", {})
        report = {"started": started, "command": " ".join(["policybot", *sys.argv[1:]]),
                  "run": run, "queue_size": queue.get("queue_size"), "n_threads": local.n_threads,
                  "load_average": (load_start, round(os.getloadavg()[0], 2)), "cpus": os.cpu_count(),
                  "queue_after": (queue.get("running"), queue.get("waiting")),
                  "healthy_after": health.status_code == 200}
        report["ok"] = (run["lost"] == 0 and run["error"] == 0 and run["answered"] > 0 and report["healthy_after"]
                        and report["queue_after"] == (0, 0))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    (out / "api-streams.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    (out / "api-streams.md").write_text(markdown(report), encoding="utf-8")
    print(json.dumps(report, indent=1) if getattr(args, "json", False) else markdown(report))
    return 0 if report["ok"] else 1
