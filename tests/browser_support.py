"""Helpers for the real-browser tests: a server on a free loopback port and headless Debian Chromium.

The server is the real one (`policybot serve`, run as ``python -m bot.cli serve``) in a subprocess, with its
own copy of the docs and a fresh index, so uploads never touch the repository. Chromium is Debian's
``/usr/bin/chromium`` driven by Playwright's Python client through ``executable_path`` (no browser download),
with a new empty profile; every request that is not to loopback is blocked and recorded, so a test can
prove the page loads nothing from the internet.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "tests" / "output"
CHROMIUM = Path(os.environ.get("POLICYBOT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
SERVER_START_TIMEOUT_S = float(os.environ.get("POLICYBOT_TEST_SERVER_TIMEOUT", "600"))


def browser_missing_reason() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if importlib.util.find_spec("playwright") is None:
        return "the playwright Python package is not installed (pip install -e '.[test]')"
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} not found (apt-get install -y chromium, or set POLICYBOT_CHROMIUM)"
    return None


def server_missing_reason() -> str | None:
    """Why the real server cannot be started, or None."""
    for module in ("bot.serve.app", "bot.cli"):
        if importlib.util.find_spec(module) is None:
            return f"{module} does not exist yet, so `policybot serve` cannot start the real server"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_health(url: str, proc: subprocess.Popen[bytes] | None, log_path: Path | None, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{tail(log_path)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise TimeoutError(f"{url}/healthz not ready after {timeout_s:g} s:\n{tail(log_path)}")


def tail(path: Path | None, lines: int = 40) -> str:
    if path is None or not path.is_file():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


@dataclass
class Server:
    url: str
    docs_dir: Path
    data_dir: Path
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)


def server_env(data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "POLICYBOT_DATA_DIR": str(data_dir),
            "POLICYBOT_RATE_LIMIT_PER_MINUTE": "1000",
            "GRADIO_ANALYTICS_ENABLED": "False",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


@contextlib.contextmanager
def real_server(source_docs: Path = ROOT / "docs", extra_env: dict[str, str] | None = None) -> Iterator[Server]:
    """`policybot serve` on a free loopback port over a copy of ``source_docs``; stopped on exit."""
    work = Path(tempfile.mkdtemp(prefix="policybot-browser-"))
    docs_dir, index_dir, data_dir = work / "docs", work / "index", work / "state"
    shutil.copytree(source_docs, docs_dir)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    log_path = OUTPUT / "server.log"
    port = free_port()
    cmd = [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--docs", str(docs_dir), "--index", str(index_dir)]
    env = server_env(data_dir, extra_env)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", docs_dir, data_dir, log_path, proc, env)
    try:
        wait_for_health(server.url, proc, log_path, SERVER_START_TIMEOUT_S)
        yield server
    finally:
        stop(proc)
        shutil.rmtree(work, ignore_errors=True)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextlib.contextmanager
def in_process_server(app: Any) -> Iterator[str]:
    """Serve an ASGI ``app`` (e.g. the page over a fake pipeline) on a free loopback port in a thread."""
    import threading

    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("in-process server did not start")
            time.sleep(0.1)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@dataclass
class Browser:
    """A Chromium context with a fresh profile; ``blocked`` lists every non-loopback request it refused."""

    context: Any
    blocked: list[str] = field(default_factory=list)

    def new_page(self) -> Any:
        page = self.context.new_page()
        page.set_default_timeout(float(os.environ.get("POLICYBOT_TEST_BROWSER_TIMEOUT_MS", "240000")))
        return page


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    profile = Path(tempfile.mkdtemp(prefix="policybot-chromium-"))
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(profile),
                executable_path=str(CHROMIUM),
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1400, "height": 1000},
            )
            browser = Browser(context)

            def guard(route: Any) -> None:
                host = urlparse(route.request.url).hostname or ""
                if route.request.url.startswith(("data:", "blob:")) or host in LOOPBACK:
                    route.continue_()
                else:
                    browser.blocked.append(route.request.url)
                    route.abort()

            context.route("**/*", guard)
            try:
                yield browser
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(page: Any, name: str) -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
