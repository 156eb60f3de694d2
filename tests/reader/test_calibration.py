"""Calibrated decisions (bot/reader/calibration.py): a logistic model fitted on dev data, saved with its provenance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.errors import ConfigError
from bot.evaluate.metrics import auc
from bot.reader.calibration import DEFAULT_FILE, FEATURES, Calibration, load_calibration
from bot.reader.fitting import best_threshold, fit_answerability, fit_logistic


def separable(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(FEATURES)))
    y = (x[:, 1] + 0.5 * x[:, 5] > 0).astype(float)
    return x, y


def test_logistic_regression_learns_which_signals_matter():
    x, y = separable()
    w, _ = fit_logistic(x, y, np.ones(len(y)), l2=0.1)
    assert w[1] > 0 and w[5] > 0 and abs(w[1]) > 5 * abs(w[0])


def test_the_threshold_maximises_answers_found_minus_wrong_answers():
    p = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    y = np.array([0, 0, 0, 1, 1, 1])
    t = best_threshold(p, y, np.ones(6))
    assert 0.3 < t <= 0.7


def test_every_corpus_weighs_the_same_and_the_fit_reports_per_corpus_figures():
    x, y = separable(300)
    groups = ["big"] * 250 + ["small"] * 50
    cal = fit_answerability(x, y, groups)
    assert set(cal.fitted_on["per_corpus"]) == {"big", "small"}
    assert cal.fitted_on["per_corpus"]["small"]["cases"] == 50
    assert cal.fitted_on["auc_all"] > 0.95
    p = [cal.p_answerable(row) for row in x]
    assert auc(p, y.astype(int).tolist()) > 0.95


def test_a_calibration_round_trips_through_its_file(tmp_path: Path):
    x, y = separable()
    cal = fit_answerability(x, y, ["a"] * len(y))
    path = tmp_path / "c.json"
    path.write_text(json.dumps(cal.to_json()), encoding="utf-8")
    again = Calibration.load(path)
    assert again.threshold == cal.threshold
    assert again.p_answerable(x[0]) == pytest.approx(cal.p_answerable(x[0]))


def test_a_calibration_for_other_features_or_a_broken_file_names_the_fix(tmp_path: Path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"features": ["x"], "mean": [0], "scale": [1], "weights": [1], "bias": 0,
                                "threshold": 0.5}), encoding="utf-8")
    with pytest.raises(ConfigError, match="policybot calibrate"):
        Calibration.load(path)
    path.write_text("{", encoding="utf-8")
    with pytest.raises(ConfigError, match="POLICYBOT_CALIBRATION=off"):
        load_calibration(str(path))
    assert load_calibration("off") is None and load_calibration("") is None


def test_the_shipped_calibration_says_what_it_was_fitted_on():
    cal = load_calibration("shipped")
    assert cal is not None and cal.path == str(DEFAULT_FILE)
    fitted = cal.fitted_on
    assert fitted["split"] == "dev" and fitted["data_hash"] and set(fitted["per_corpus"]) >= {"seed"}
    assert 0.0 < cal.threshold < 1.0


def test_the_calibrated_score_decides_over_the_rules_verdict_and_says_why():
    from bot.reader.answerable import Verdict
    from bot.reader.gathered import Gathered

    def gathered(verdict: bool, p: float | None) -> Gathered:
        return Gathered("q", "q", None, [], set(), None, [], ["evidence"], Verdict(verdict, "open", "" if verdict  # type: ignore[list-item, arg-type]
                        else "no passage gives a date"), "searched", p_answerable=p, threshold=0.6)

    assert gathered(False, None).answerable is False  # no calibration: the rules decide
    assert gathered(False, 0.7).answerable is True
    refused = gathered(True, 0.4)
    assert refused.answerable is False and "0.40 is below 0.60" in refused.reason
