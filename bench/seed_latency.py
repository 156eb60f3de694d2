"""Median time to first token and to the full answer over 10 seed questions (warm model), in process and then
through a `python -m llama_cpp.server` started here on a loopback port. Run from the repo root after
`policybot ingest`:  .venv/bin/python bench/seed_latency.py"""
import socket
import statistics
import subprocess
import sys
import time

import httpx

from bot.answer import Token
from bot.llm import bundled_model_path
from bot.pipeline import build_pipeline
from bot.settings import Settings

QS = ["Why were these five industries chosen?", "What goals are set for 2030?", "Who is Zou Yongbing?",
      "What are the five future industry clusters?", "What is the chain leader system?",
      "Which cities are the main engines of the AI terminal industry chain?", "When was the press conference held?",
      "What will Guangdong do for start-ups?", "What talent special action will Guangdong implement?",
      "From which aspects will efforts be made for the future materials industry?"]
def run(p, label):
    p.answer(QS[0])  # warm
    tt, tot = [], []
    for q in QS:
        t0 = time.perf_counter(); first = None
        for ev in p.stream(q):
            if isinstance(ev, Token) and first is None: first = time.perf_counter() - t0
        tot.append(time.perf_counter() - t0)
        if first is not None: tt.append(first)
    print(f"{label}: ttft median {statistics.median(tt):.2f} s (n={len(tt)}), answer median {statistics.median(tot):.2f} s", flush=True)
run(build_pipeline(Settings()), "in process")
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
srv = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(bundled_model_path()), "--host", "127.0.0.1",
                        "--port", str(port), "--n_ctx", "2048"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    for _ in range(120):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200: break
        except httpx.HTTPError: time.sleep(1)
    run(build_pipeline(Settings(llm_url=f"http://127.0.0.1:{port}/v1")), "llama_cpp.server")
finally:
    srv.terminate()
