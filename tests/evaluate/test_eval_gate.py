"""The eval suites: a fixed gate sample over a small sub-corpus per benchmark, and suite runs with fakes."""

from __future__ import annotations

import argparse
import json
import types
from pathlib import Path

import pytest
from eval_fakes import FakeClock, FakeRetriever, FakeService, good_answer

from bot.errors import ConfigError, UserInputError
from bot.evaluate import gate as eval_gate
from bot.evaluate.gate import SuiteEntry, materialise, select_benchmark, suite_entries

ROOT = Path(__file__).resolve().parents[2]


def make_benchmark(root: Path, name: str = "bench") -> Path:
    folder = root / name
    (folder / "corpus").mkdir(parents=True)
    topics = ["river flood warning", "school lunch subsidy", "bus fare rise", "library opening hours",
              "tax relief small firms", "park cleaning volunteers"]
    rows = []
    for i, topic in enumerate(topics):
        (folder / "corpus" / f"gold{i}.txt").write_text(f"Notice {i}\n\nThe {topic} applies from May.", encoding="utf-8")
        (folder / "corpus" / f"near{i}.txt").write_text(f"Rumour {i}\n\nPeople asked about the {topic} again.",
                                                        encoding="utf-8")
        rows.append({"id": f"{name}:{i}", "question": f"When does the {topic} apply?", "answers": [["May"]],
                     "gold_docs": [f"gold{i}"], "answerable": True, "lang": "en", "split": "dev" if i < 5 else "test"})
    for j in range(40):
        (folder / "corpus" / f"filler{j:02d}.txt").write_text(f"Unrelated text number {j}.", encoding="utf-8")
    (folder / "cases.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return folder


def test_the_gate_sample_takes_dev_cases_their_gold_documents_and_their_near_misses(tmp_path: Path):
    folder = make_benchmark(tmp_path)
    spec = select_benchmark(folder, "bench", n_cases=3)
    chosen = spec["cases"]
    assert len(chosen) == 3 and "bench:5" not in chosen  # the test split is never sampled
    docs = set(spec["docs"])
    assert {f"gold{c.split(':')[1]}" for c in chosen} <= docs
    assert {f"near{c.split(':')[1]}" for c in chosen} <= docs  # BM25's near misses for each sampled question
    assert any(d.startswith("filler") for d in docs)  # filler up to the size budget
    assert select_benchmark(folder, "bench", n_cases=3) == spec  # the same files give the same sample


def test_a_sub_corpus_is_copied_once_and_reused(tmp_path: Path):
    folder = make_benchmark(tmp_path)
    entry = SuiteEntry("bench", folder / "cases.jsonl", folder / "corpus", ("bench:0",), doc_ids=("gold0", "near0"))
    target = materialise(entry, tmp_path / "data")
    assert sorted(p.name for p in target.glob("*.txt")) == ["gold0.txt", "near0.txt"]
    assert materialise(entry, tmp_path / "data") == target
    missing = SuiteEntry("bench", folder / "cases.jsonl", folder / "corpus", ("bench:0",), doc_ids=("gone",))
    with pytest.raises(ConfigError, match="refresh-gate"):
        materialise(missing, tmp_path / "data")


def test_suites_name_their_corpora_and_reject_unknown_names(tmp_path: Path):
    make_benchmark(tmp_path, "policyqa")
    entries = suite_entries("seed,policyqa", tmp_path)
    assert [e.name for e in entries] == ["seed", "policyqa"] and entries[1].case_ids is None
    with pytest.raises(UserInputError, match="Unknown suite"):
        suite_entries("nope", tmp_path)
    with pytest.raises(ConfigError, match="--benchmarks"):
        suite_entries("rgb_en", tmp_path)


def test_the_committed_gate_covers_every_benchmark_and_the_seed_set():
    gate = json.loads((ROOT / "eval" / "gate.json").read_text(encoding="utf-8"))
    assert set(gate["benchmarks"]) == set(eval_gate.BENCHMARKS)
    for name, spec in gate["benchmarks"].items():
        assert len(spec["cases"]) == eval_gate.CASES_PER_BENCHMARK, name
        assert (ROOT / spec["baseline"]).is_file(), f"no baseline for {name}: run --suite gate --write-baselines"
    assert (ROOT / gate["seed"]["baseline"]).is_file()


# --- a suite run with fake ingest, pipeline and model ----------------------------------------------------


@pytest.fixture
def fake_run(monkeypatch: pytest.MonkeyPatch):
    class AnyQuestion(dict):
        def __getitem__(self, key: str):
            return good_answer()

    service = FakeService(AnyQuestion(), FakeClock())
    built: list[object] = []

    def build_pipeline(settings, **kw):
        built.append(kw.get("model"))
        return types.SimpleNamespace(stream=service.stream, retriever=FakeRetriever(),
                                     model=types.SimpleNamespace(model_hash="f1le"))

    monkeypatch.setitem(__import__("sys").modules, "bot.ingest.build", types.SimpleNamespace(
        ingest=lambda *a, **k: types.SimpleNamespace(summary=lambda: "fake"), corpus_hash=lambda d, s=None: "h",
        BATCH_WAIT_S=0.0))
    monkeypatch.setitem(__import__("sys").modules, "bot.reader.pipeline", types.SimpleNamespace(build_pipeline=build_pipeline))
    monkeypatch.setattr("bot.ingest.embeddings.build_embeddings", lambda *a, **k: object())
    monkeypatch.setattr("bot.llm.build.build_chat_model", lambda settings: f"model:{settings.model_path}")
    return built


def suite_args(*argv: str) -> argparse.Namespace:
    from bot.evaluate.cli import add_eval_arguments

    parser = argparse.ArgumentParser()
    add_eval_arguments(parser)
    return parser.parse_args(list(argv))


def test_a_suite_run_writes_one_summary_with_a_row_per_corpus(tmp_path: Path, fake_run, monkeypatch):
    from bot.evaluate.cli import eval_command
    from bot.settings import Settings

    make_benchmark(tmp_path / "b", "policyqa")
    make_benchmark(tmp_path / "b", "rgb_en")
    monkeypatch.chdir(ROOT)
    out = tmp_path / "out"
    code = eval_command(suite_args("--suite", "seed,policyqa,rgb_en", "--benchmarks", str(tmp_path / "b"),
                                   "--split", "test", "--out", str(out)), Settings(data_dir=tmp_path / "d"))
    assert code == 0
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "| policyqa | test |" in summary and "| rgb_en | test |" in summary and "invented_rate" in summary
    assert (out / "policyqa" / "report.json").is_file()
    run = json.loads((out / "policyqa" / "report.json").read_text(encoding="utf-8"))["run"]
    assert run["model_hash"] == "f1le", "named by the pipeline's model when no answer reached the model"
    assert "seed: no test cases; skipped" in summary  # the seed set is all dev
    table = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert table["default"]["rgb_en"]["cases"] == 1  # one test case per fake benchmark


def test_a_model_matrix_runs_every_corpus_once_per_model(tmp_path: Path, fake_run, monkeypatch):
    from bot.evaluate.cli import eval_command
    from bot.settings import Settings

    make_benchmark(tmp_path / "b", "rgb_en")
    monkeypatch.chdir(ROOT)
    out = tmp_path / "out"
    code = eval_command(suite_args("--suite", "rgb_en", "--benchmarks", str(tmp_path / "b"), "--models",
                                   "bundled,/models/other.gguf", "--out", str(out)), Settings(data_dir=tmp_path / "d"))
    assert code == 0 and fake_run == ["model:", "model:/models/other.gguf"]
    matrix = (out / "matrix.md").read_text(encoding="utf-8")
    assert "| bundled | rgb_en |" in matrix and "| /models/other.gguf | rgb_en |" in matrix
    assert "quoted_share" in matrix and "invented_rate" in matrix


def test_the_seed_entries_bring_the_seed_reports_glossary_which_the_shipped_docs_folder_does_not_hold(
        tmp_path: Path):
    make_benchmark(tmp_path, "policyqa")
    gate = {"seed": eval_gate.SEED, "benchmarks": {}}
    (tmp_path / "gate.json").write_text(json.dumps(gate), encoding="utf-8")
    entries = [*eval_gate.gate_entries(tmp_path / "gate.json", tmp_path, root=ROOT),
               *eval_gate.full_entries(tmp_path, ["seed"], root=ROOT)]
    assert [e.name for e in entries] == ["seed", "seed"]
    assert all(e.glossary is not None and e.glossary.is_file() for e in entries)
    assert json.loads((ROOT / "eval" / "gate.json").read_text(encoding="utf-8"))["seed"] == eval_gate.SEED
    assert not (ROOT / "docs" / "glossary.tsv").exists(), "the shipped corpus carries no seed-fitted glossary"
