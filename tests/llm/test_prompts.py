"""Prompt files: every file loads and renders; strict rendering catches drift between code and prompt."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.llm.prompts import PromptError, load_prompt, load_prompt_file

PROMPTS = Path(__file__).resolve().parents[2] / "prompts"


@pytest.mark.parametrize("path", sorted(PROMPTS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_prompt_file_loads_and_renders(path: Path) -> None:
    prompt = load_prompt_file(path)
    messages = prompt.render(**{name: f"<{name}>" for name in prompt.variables})
    text = "\n".join(m["content"] for m in messages)
    assert all(f"<{name}>" in text for name in prompt.variables)
    assert len(prompt.hash) == 12


def test_the_latest_version_is_used_by_default() -> None:
    assert load_prompt(PROMPTS, "answer").version == max(
        int(p.name.split(".v")[1].split(".")[0]) for p in PROMPTS.glob("answer.v*.yaml"))


def test_a_missing_variable_fails() -> None:
    prompt = load_prompt(PROMPTS, "answer")
    with pytest.raises(PromptError, match="missing"):
        prompt.render(question="q", tag="T")


def test_an_extra_variable_fails() -> None:
    prompt = load_prompt(PROMPTS, "answer")
    with pytest.raises(PromptError, match="unexpected"):
        prompt.render(question="q", tag="T", evidence="e", surprise="x")


def test_document_text_with_braces_is_inserted_literally() -> None:
    prompt = load_prompt(PROMPTS, "answer")
    messages = prompt.render(question="q", tag="T", evidence="{system} {0} {{x}}")
    assert "{system} {0} {{x}}" in messages[-1]["content"]


def test_a_placeholder_not_declared_fails(tmp_path: Path) -> None:
    (tmp_path / "bad.v1.yaml").write_text("id: bad\nversion: 1\nvariables: [a]\nsystem: '{a} {b}'\nuser: ''\n")
    with pytest.raises(PromptError, match="placeholders"):
        load_prompt_file(tmp_path / "bad.v1.yaml")


def test_file_name_and_content_must_agree(tmp_path: Path) -> None:
    (tmp_path / "x.v2.yaml").write_text("id: x\nversion: 1\nvariables: []\nsystem: hi\nuser: ''\n")
    with pytest.raises(PromptError):
        load_prompt_file(tmp_path / "x.v2.yaml")


def test_an_unknown_prompt_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match="POLICYBOT_PROMPTS_DIR"):
        load_prompt(tmp_path, "answer")
