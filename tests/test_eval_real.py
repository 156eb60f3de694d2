"""`policybot eval` end to end on the seed set: real ingest, embeddings, Chroma, BM25 and the embedded model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

pytest.importorskip("bot.pipeline")
pytest.importorskip("bot.ingest")

from bot.eval_cli import add_eval_arguments, eval_command  # noqa: E402
from bot.settings import Settings  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # 27 cases through the real model

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "eval" / "seed.jsonl"
BASELINE = ROOT / "eval" / "baselines" / "seed.json"
SAMPLE = "4"  # every 4th seed case (27 of 106: answerable, unanswerable, Chinese and follow-ups); the baseline used the same
METRIC_KEYS = {"fact_recall", "answer_f1", "refusal_rate", "false_refusal_rate", "citation_precision",
               "citation_recall", "answer_words_p50", "hit@1", "hit@5", "mrr@10", "latency_p50_s",
               "latency_p95_s", "ttft_p50_s", "correct_rate", "cases", "errors"}


def test_the_seed_eval_on_the_real_model_does_not_regress_from_the_baseline(tmp_path: Path, capsys):
    """The CI gate: the same pipeline as the page and webhook, real SmolLM2, compared with the committed
    baseline; eval_command exits 1 when a gated metric is worse beyond its tolerance (bot/eval_report.GATES)."""
    parser = argparse.ArgumentParser()
    add_eval_arguments(parser)
    out = tmp_path / "report"
    args = parser.parse_args(["--cases", str(SEED), "--docs", str(ROOT / "docs"), "--every", SAMPLE,
                              "--out", str(out), "--json", "--compare", str(BASELINE)])
    settings = Settings(data_dir=tmp_path / "data", prompts_dir=ROOT / "prompts")
    code = eval_command(args, settings)
    assert code == 0, capsys.readouterr().err
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert set(data["metrics"]) >= METRIC_KEYS
    assert set(data["baselines"]) == {"bm25", "vector"}
    assert len(data["cases"]) == 27
    assert data["metrics"]["errors"] == 0, [c["error"] for c in data["cases"] if c["error"]]
    assert data["metrics"]["hit@5"] == 1.0  # a one-document corpus: every retrieved chunk is gold
    assert all(c["retrieved_docs"] for c in data["cases"])
    run = data["run"]
    assert run["model_id"] and run["prompt_hash"] and run["corpus_hash"]
    assert "(unset)" in json.dumps(run["settings"]) or "(set)" in json.dumps(run["settings"])  # redacted
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "## Metrics" in md and "| bm25 |" in md and "Latency per case" in md
    # the index is cached under data_dir/eval-index/<corpus hash>
    assert (tmp_path / "data" / "eval-index" / run["corpus_hash"]).is_dir()
