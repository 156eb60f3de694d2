"""`policybot bench --reliability`: the long run of the reliability and security checks, with a report.

1. The reliability test files (injection, hostile input, output handling, faults, and the SIGKILL-during-ingest
   test) under pytest, with ``POLICYBOT_FUZZ_EXAMPLES`` raised; their figures come back through
   tests/output/reliability/*.json (inputs tried per surface, planted instructions that changed an answer).
2. Load: the real server (`policybot serve`, embedded model, loopback) with ``--users`` concurrent users asking
   through ``POST /webhook`` for ``--load-seconds``, plus signed Slack events at the same time, answered into a
   fake Slack Web API. Throughput, p50/p95 latency, errors, busy replies, peak memory, events answered once.
3. Soak: fewer users for ``--soak-minutes``; the server's memory must stay flat.

Parts 2 and 3 are in ``bot.bench.reliability_load``. Writes ``<out>/reliability.json`` and
``<out>/reliability.md``. Needs the repository checkout (tests/).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from bot.bench.reliability_load import REPO, TESTS, ServerUnderLoad, drive, memory_summary
from bot.settings import Settings

FIGURES = TESTS / "output" / "reliability"
TEST_FILES = ["tests/reader/test_injection.py", "tests/test_hostile_input.py", "tests/test_output_handling.py",
              "tests/bench/test_faults.py",
              "tests/ingest/test_ingest.py::test_a_killed_ingest_leaves_the_previous_index_answering"]


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
