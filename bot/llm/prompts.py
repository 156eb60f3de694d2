"""Prompts as versioned YAML files with a fixed schema and strict rendering.

A file ``prompts/<id>.v<N>.yaml`` holds::

    id: answer            # must match the file name
    version: 3            # must match the file name; a change to a prompt is a new version
    description: ...
    variables: [evidence, question]
    system: |             # rendered with the variables; {{ and }} are literal braces
      ...
    user: |
      ...

Rendering fails on a missing variable, an unknown placeholder or an extra variable, so a prompt and the code
that fills it cannot drift apart silently. Every answer records the prompt id and hash.
"""

from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.errors import ConfigError

_NAME = re.compile(r"^(?P<id>[a-z][a-z0-9_]*)\.v(?P<version>\d+)\.ya?ml$")
_FIELDS = {"id", "version", "description", "variables", "system", "user"}


class PromptError(ConfigError):
    """A prompt file is malformed or rendered with the wrong variables."""


@dataclass(frozen=True)
class Prompt:
    id: str
    version: int
    description: str
    variables: tuple[str, ...]
    system: str
    user: str
    sha256: str

    @property
    def ref(self) -> str:
        return f"{self.id}.v{self.version}"

    @property
    def hash(self) -> str:
        return self.sha256[:12]

    def render(self, **values: str) -> list[dict[str, str]]:
        """Chat messages with every placeholder filled. Raises PromptError on a missing or extra variable."""
        missing = set(self.variables) - set(values)
        extra = set(values) - set(self.variables)
        if missing or extra:
            raise PromptError(
                f"Prompt {self.ref}: missing variables {sorted(missing)}, unexpected {sorted(extra)}."
            )
        messages = []
        for role, template in (("system", self.system), ("user", self.user)):
            if template.strip():
                messages.append({"role": role, "content": template.format_map(values)})
        return messages


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def load_prompt_file(path: Path) -> Prompt:
    match = _NAME.match(path.name)
    if not match:
        raise PromptError(f"Prompt file name {path.name} must look like <id>.v<N>.yaml.")
    raw = path.read_bytes()
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise PromptError(f"Prompt file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict) or set(data) - _FIELDS or not {"id", "version", "variables"} <= set(data):
        raise PromptError(f"Prompt file {path} must have exactly the fields {sorted(_FIELDS)}.")
    if data["id"] != match["id"] or int(data["version"]) != int(match["version"]):
        raise PromptError(f"Prompt file {path.name} says id={data['id']!r} version={data['version']!r}.")
    variables = tuple(data.get("variables") or ())
    system, user = str(data.get("system") or ""), str(data.get("user") or "")
    try:
        used = _placeholders(system) | _placeholders(user)
    except ValueError as exc:
        raise PromptError(f"Prompt file {path}: bad placeholder syntax ({exc}).") from None
    if used != set(variables):
        raise PromptError(f"Prompt file {path}: placeholders {sorted(used)} != declared variables {sorted(variables)}.")
    return Prompt(data["id"], int(data["version"]), str(data.get("description", "")), variables, system, user,
                  hashlib.sha256(raw).hexdigest())


def load_prompt(prompts_dir: Path, prompt_id: str, version: int | None = None) -> Prompt:
    """The given version of a prompt, or its latest version."""
    found = {}
    for path in Path(prompts_dir).glob(f"{prompt_id}.v*.y*ml"):
        match = _NAME.match(path.name)
        if match and match["id"] == prompt_id:
            found[int(match["version"])] = path
    if not found:
        raise PromptError(f"No prompt '{prompt_id}' in {prompts_dir}/. Fix: POLICYBOT_PROMPTS_DIR or the prompt id.")
    chosen = version if version is not None else max(found)
    if chosen not in found:
        raise PromptError(f"Prompt '{prompt_id}' has no version {chosen} in {prompts_dir}/ (has {sorted(found)}).")
    return load_prompt_file(found[chosen])
