"""The CI gate end to end: every corpus (the seed set and a fixed dev sample of each shared benchmark), real
ingest, embeddings, Chroma, BM25 and the embedded model, compared with the committed baselines."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

pytest.importorskip("bot.reader.pipeline")
pytest.importorskip("bot.ingest.build")

from bot.evaluate.cli import add_eval_arguments, eval_command  # noqa: E402
from bot.evaluate.gate import BENCHMARKS  # noqa: E402
from bot.settings import Settings  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]  # ~100 cases over 7 corpora through the real model

ROOT = Path(__file__).resolve().parents[2]
METRIC_KEYS = {"fact_recall", "answer_f1", "refusal_rate", "false_refusal_rate", "invented_rate",
               "unsupported_claims", "polarity_flips", "citation_precision", "citation_recall", "pipeline_support",
               "model_share", "quoted_share", "refused_share", "answer_words_p50", "hit@1", "hit@5", "mrr@10",
               "latency_p50_s", "latency_p95_s", "ttft_p50_s", "correct_rate", "cases", "errors"}


def test_the_gate_over_every_corpus_does_not_regress_from_its_baselines(tmp_path: Path, capsys, monkeypatch):
    """The same pipeline as the page and webhook; eval exits 1 when a gated metric of any corpus is worse than
    its baseline beyond tolerance (bot/eval_report.GATES; invented_rate has none)."""
    monkeypatch.chdir(ROOT)
    parser = argparse.ArgumentParser()
    add_eval_arguments(parser)
    out = tmp_path / "report"
    args = parser.parse_args(["--suite", "gate", "--out", str(out), "--json"])
    settings = Settings(data_dir=tmp_path / "data", prompts_dir=ROOT / "prompts")
    code = eval_command(args, settings)
    captured = capsys.readouterr()
    assert code == 0, captured.err[-4000:]
    table = json.loads(captured.out)["default"]
    assert set(table) == {"seed", *BENCHMARKS}
    for name, metrics in table.items():
        assert set(metrics) >= METRIC_KEYS, name
        assert metrics["errors"] == 0, name
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert all(f"| {name} |" in summary for name in BENCHMARKS) and "REGRESSED" not in summary
    report = json.loads((out / "rgb_en_negative" / "report.json").read_text(encoding="utf-8"))
    run = report["run"]
    assert run["model_id"] and run["prompt_hash"] and run["corpus_hash"] and run["split"] == "gate sample"
    assert "(unset)" in json.dumps(run["settings"]) or "(set)" in json.dumps(run["settings"])  # redacted
    md = (out / "seed" / "report.md").read_text(encoding="utf-8")
    assert "## Metrics" in md and "| bm25 |" in md and "Unsupported claims and polarity flips" in md
    # each corpus is indexed once into data_dir/eval-index/<corpus hash>
    assert (tmp_path / "data" / "eval-index" / run["corpus_hash"]).is_dir()
