"""The README's HTTP API examples work as written: every curl and Python block of its "HTTP API" section is run,
unchanged, against a live server (tests/api_support.py) configured with the tokens the README exports.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import Api, api_server

README = Path(__file__).resolve().parents[2] / "README.md"


def section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## HTTP API\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def blocks(language: str) -> list[str]:
    return [b for b in re.findall(rf"```{language}\n(.*?)```", section(), re.S) if "policybot serve" not in b]


def exported() -> dict[str, str]:
    """The variables the README's set-up block exports (tokens, base URL, the token names)."""
    setup = next(b for b in re.findall(r"```bash\n(.*?)```", section(), re.S) if "policybot serve" in b)
    return dict(re.findall(r'(\w+)="?([^"\s]+)"?', " ".join(line[7:] for line in setup.splitlines()
                                                          if line.startswith("export "))))


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with api_server(tmp_path_factory.mktemp("readme"), api_tokens=exported()["POLICYBOT_API_TOKENS"]) as running:
        yield running


def environment(api: Api) -> dict[str, str]:
    values = exported()
    return {**os.environ, "PB": api.url, "TOKEN": values["TOKEN"], "WRITER": values["WRITER"],
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}


def test_the_section_has_curl_and_python_examples() -> None:
    assert len(blocks("bash")) >= 1 and len(blocks("python")) >= 3
    assert {"POLICYBOT_API_TOKENS", "PB", "TOKEN", "WRITER"} <= set(exported())


@pytest.mark.parametrize("index", range(len(blocks("bash"))))
def test_each_curl_example_runs_as_written(api: Api, tmp_path: Path, index: int) -> None:
    script = blocks("bash")[index]
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=environment(api),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert '"error"' not in done.stdout, done.stdout[-2000:]
    if "/api/v1/documents" in script:
        assert '"doc_id":"lantern-festival"' in done.stdout and "ninth of October" in done.stdout, "answered from it"
    if "/api/v1/ask" in script:
        assert '"citations":[{' in done.stdout and "event: answer" in done.stdout


@pytest.mark.parametrize("index", range(len(blocks("python"))))
def test_each_python_example_runs_as_written(api: Api, tmp_path: Path, index: int) -> None:
    done = subprocess.run([sys.executable, "-c", blocks("python")[index]], cwd=tmp_path, env=environment(api),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "[1]" in done.stdout, done.stdout[-2000:]
