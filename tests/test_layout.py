"""The tree shows the architecture: one package per stage, each importing only the stages it stands on.

These read the source, so a change that breaks a rule of the layout fails here with the file and line to fix.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parents[1] / "bot"
STAGES = ("lang", "ingest", "retrieve", "reader", "llm", "serve", "evaluate", "bench")
# The offline tools of the reader: they read eval cases to fit the reader's models, never while answering.
FITTING = {"bot.reader.calibrate", "bot.reader.fitting"}
MAX_LINES = 300


def modules() -> list[tuple[str, Path, ast.Module]]:
    out = []
    for path in sorted(BOT.rglob("*.py")):
        rel = path.relative_to(BOT.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        out.append((name, path, ast.parse(path.read_text(encoding="utf-8"))))
    return out


def imports(tree: ast.Module) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) of every ``from bot... import`` and ``import bot...`` in the file, lazy ones too."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "bot":
            found.append((node.lineno, node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names if a.name.split(".")[0] == "bot"]
    return found


def test_no_module_imports_another_modules_private_names() -> None:
    wrong = [f"{path.relative_to(BOT.parent)}:{line} imports {n} from {mod}"
             for _, path, tree in modules() for line, mod, names in imports(tree)
             for n in names if n.startswith("_") and not n.startswith("__")]
    assert not wrong, "make the shared rule public in the module that owns it:\n" + "\n".join(wrong)


def test_the_answering_path_imports_neither_the_eval_nor_the_benchmarks() -> None:
    """The eval measures the reader with rules of its own, and the bench drivers stay off the runtime path."""
    runtime = {"lang", "ingest", "retrieve", "reader", "llm", "serve"}
    wrong = [f"{path.relative_to(BOT.parent)}:{line} imports {mod}"
             for name, path, tree in modules()
             if name.split(".")[1:2] and name.split(".")[1] in runtime and name not in FITTING
             for line, mod, _ in imports(tree) if mod.startswith(("bot.evaluate", "bot.bench"))]
    assert not wrong, "\n".join(wrong)


def test_the_language_rules_stand_on_nothing_else_in_the_package() -> None:
    wrong = [f"{path.relative_to(BOT.parent)}:{line} imports {mod}"
             for name, path, tree in modules() if name.startswith("bot.lang")
             for line, mod, _ in imports(tree) if not mod.startswith("bot.lang")]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_says_what_it_takes_in_gives_out_and_where_to_start(stage: str) -> None:
    doc = ast.get_docstring(ast.parse((BOT / stage / "__init__.py").read_text(encoding="utf-8"))) or ""
    assert "Takes in" in doc and "gives out" in doc and "Read " in doc, f"bot/{stage}/__init__.py: {doc!r}"


def test_every_module_is_small_enough_to_read_at_once() -> None:
    long = [f"{path.relative_to(BOT.parent)}: {n} lines" for _, path, _ in modules()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES]
    assert not long, f"split these along their seams (at most {MAX_LINES} lines):\n" + "\n".join(long)


def test_only_the_command_line_reaches_into_the_benchmark_drivers() -> None:
    users = {name for name, _, tree in modules() for _, mod, _ in imports(tree)
             if mod.startswith("bot.bench") and not name.startswith("bot.bench")}
    assert users <= {"bot.cli", "bot.commands"}, users
