"""Whether the model's own decline is believed: fitted per model from dev reports, a prior where data is thin."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.errors import ConfigError
from bot.reader.declines import (
    MIN_DECLINES,
    PRIOR,
    CorpusSize,
    Decline,
    declines_in,
    fit,
    fit_reports,
    load_policy,
    sizes_in,
    write_entries,
)


def _case(i: int, corpus: str, *, declined: bool = True, source: str = "quoted", answered: bool = False,
          answerable: bool = True, kind: str = "date", f1: float = 0.0) -> dict[str, Any]:
    return {"id": f"{corpus}:{i}", "answerable": answerable, "answer_type": kind, "model_declined": declined,
            "answer_source": source, "facts_matched": [answered], "fact_recall": float(answered), "answer_f1": f1}


def _report(tmp: Path, name: str, cases: list[dict[str, Any]], *, split: str = "dev", declines: str = "none",
            model_hash: str = "abc123") -> Path:
    folder = tmp / name
    folder.mkdir(parents=True)
    run = {"split": split, "model_hash": model_hash, "model_id": "m.gguf", "settings": {"declines": declines}}
    (folder / "report.json").write_text(json.dumps({"run": run, "cases": cases}), encoding="utf-8")
    return folder


def test_only_declined_cases_whose_decline_was_overridden_are_read() -> None:
    report = {"cases": [_case(1, "a", f1=0.1), _case(2, "a", declined=False), _case(3, "a", source="refused"),
                        _case(4, "a", answered=True, kind="open")]}
    assert declines_in(report) == [Decline("a", "typed", 0.1), Decline("a", "open", 1.0)], \
        "a quote's credit is its fact_recall, or its answer_f1 where that is higher"
    assert declines_in({"cases": [_case(5, "a", answerable=False, f1=0.4)]}) == [Decline("a", "typed", 0.0, False)]
    assert declines_in({"run": {"corpus": "corpus-a"}, "cases": [_case(6, "a")]})[0].corpus == "corpus-a", \
        "the corpus the report names wins over the case id's prefix"


def test_a_decline_is_honoured_where_refusing_gains_refusals_of_noise_and_loses_no_answers() -> None:
    noise = [Decline("neg", "typed", 0.0, answerable=False) for _ in range(MIN_DECLINES)]
    missed = [Decline("pos", "typed", 0.0) for _ in range(3)]  # declined, and the quote held nothing either
    sizes = {"neg": CorpusSize(0, 40), "pos": CorpusSize(50, 0)}
    fitted = fit(noise + missed, sizes)
    assert fitted["honour"]["typed"] is True
    row = fitted["fitted_on"]["typed"]
    assert row["per_corpus"]["neg"]["refusal_gain"] == 0.25 and row["worst_answer_loss"] == 0.0


def test_a_decline_that_costs_one_corpus_its_answers_is_overridden_whatever_it_gains_elsewhere() -> None:
    noise = [Decline(f"neg{k}", "open", 0.0, answerable=False) for k in range(3) for _ in range(MIN_DECLINES)]
    answered = [Decline("pos", "open", 0.25) for _ in range(40)]  # partly right quotes, as on long-span gold answers
    sizes = {"neg0": CorpusSize(0, 20), "neg1": CorpusSize(0, 20), "neg2": CorpusSize(0, 20), "pos": CorpusSize(50, 0)}
    fitted = fit(noise + answered, sizes)
    assert fitted["fitted_on"]["open"]["net_gain"] > 0, "three corpora gain more refusals than the fourth loses"
    assert fitted["honour"]["open"] is False, "a refusal of an answerable question is worse than a partly right quote"
    one_case = [Decline("pos", "open", 1.0)] + [Decline("neg0", "open", 0.0, answerable=False)] * MIN_DECLINES
    assert fit(one_case, {"pos": CorpusSize(40, 0), "neg0": CorpusSize(0, 20)})["honour"]["open"] is True, \
        "one answer lost in 40 (0.025) is within the gate's tolerance"


def test_the_losses_of_groups_honoured_together_add_up_per_corpus() -> None:
    noise = [Decline("neg", g, 0.0, answerable=False) for g in ("typed", "open") for _ in range(MIN_DECLINES)]
    lost = [Decline("pos", g, 1.0) for g in ("typed", "open")]  # one answer in 40 lost per group: 0.025 each
    fitted = fit(noise + lost, {"neg": CorpusSize(0, 40), "pos": CorpusSize(40, 0)})
    assert sum(fitted["honour"].values()) == 1, "both together would cost the corpus 0.05, beyond the gate's 0.03"


def test_a_loss_just_beyond_the_tolerance_is_refused_and_one_at_it_is_not() -> None:
    noise = [Decline("neg", "typed", 0.0, answerable=False) for _ in range(MIN_DECLINES)]
    at = [Decline("pos", "typed", 0.1)] * 3  # 0.3 of an answer in 10 cases: 0.03 (0.030000000000000006 in floats)
    assert fit(noise + at, {"neg": CorpusSize(0, 20), "pos": CorpusSize(10, 0)})["honour"]["typed"] is True
    beyond = [Decline("pos", "typed", 0.31)] * 1
    assert fit(noise + beyond, {"neg": CorpusSize(0, 20), "pos": CorpusSize(10, 0)})["honour"]["typed"] is False


def test_the_tolerance_is_the_eval_gates_on_fact_recall() -> None:
    from bot.evaluate.report import GATES
    from bot.reader.declines import MAX_FIGURE_LOSS

    assert GATES["fact_recall"].tolerance == MAX_FIGURE_LOSS, "the runtime cannot import the eval: kept equal here"


def test_declines_of_a_corpus_whose_cases_were_not_counted_are_an_error() -> None:
    with pytest.raises(ConfigError, match="no count of its dev cases"):
        fit([Decline("a", "typed", 0.0, answerable=False)], {})


def test_sizes_count_every_case_of_a_report_by_corpus() -> None:
    report = {"cases": [_case(1, "a"), _case(2, "a", declined=False), _case(3, "b", answerable=False)]}
    assert sizes_in(report) == {"a": CorpusSize(2, 0), "b": CorpusSize(0, 1)}


def test_too_few_declines_keep_the_prior() -> None:
    few = [Decline("a", "open", 0.0) for _ in range(MIN_DECLINES - 1)]
    fitted = fit(few, {"a": CorpusSize(20, 0)})
    assert fitted["honour"] == PRIOR and fitted["fitted_on"]["open"]["decided_by"].startswith("prior")


def test_reports_fit_an_entry_per_model_and_keep_other_models_entries(tmp_path: Path) -> None:
    cases = [_case(i, "c", answered=i < 8) for i in range(MIN_DECLINES)]
    _report(tmp_path, "one", cases, model_hash="h1")
    _report(tmp_path, "two", [_case(i, "c", answerable=False) for i in range(MIN_DECLINES)], model_hash="h2")
    entries = fit_reports([tmp_path])
    assert entries["h1"]["honour"]["typed"] is False and entries["h2"]["honour"]["typed"] is True
    out = tmp_path / "declines.json"
    write_entries(out, {"h0": {"model_id": "old", "honour": {"typed": True, "open": True}}})
    write_entries(out, entries)
    assert set(json.loads(out.read_text(encoding="utf-8"))["models"]) == {"h0", "h1", "h2"}
    policy = load_policy(str(out), "h1")
    assert not policy.honours("date") and "fitted for m.gguf" in policy.source
    assert load_policy(str(out), "unknown").honour == PRIOR


@pytest.mark.parametrize("split, declines, message", [("test", "none", "dev only"), ("all", "none", "dev only"),
                                                       ("dev", "typed", "POLICYBOT_DECLINES=none")])
def test_reports_of_test_cases_or_with_declines_honoured_are_refused(tmp_path: Path, split: str, declines: str,
                                                                     message: str) -> None:
    _report(tmp_path, "r", [_case(1, "c")], split=split, declines=declines)
    with pytest.raises(ConfigError, match=message):
        fit_reports([tmp_path])


def test_fixed_settings_need_no_file() -> None:
    assert load_policy("all", "x").honours("open") and not load_policy("none", "x").honours("date")
    assert load_policy("typed", "x").honours("person") and not load_policy("typed", "x").honours("open")


def test_policybot_calibrate_declines_from_writes_the_fit_and_says_what_it_decided(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    from bot.cli import main

    cases = ([_case(i, "c", answerable=i >= 2, answered=i == 2) for i in range(MIN_DECLINES)]
             + [_case(10 + i, "c", declined=False) for i in range(90)])  # one answer lost in 98: within 0.03
    _report(tmp_path / "reports", "c", cases)
    out = tmp_path / "declines.json"
    assert main(["calibrate", "--declines-from", str(tmp_path / "reports"), "--declines-out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "typed  honour: 10 declines, quote credit 0.1, worst answer loss 0.0102, net gain 0.9898 (fit)" in printed
    assert str(out) in printed
    assert json.loads(out.read_text(encoding="utf-8"))["models"]["abc123"]["honour"] == {"typed": True, "open": False}
    (tmp_path / "empty").mkdir()
    assert main(["calibrate", "--declines-from", str(tmp_path / "empty"), "--declines-out", str(out)]) != 0
    assert "No report.json" in capsys.readouterr().err
    assert main(["calibrate", "--declines-from", str(tmp_path / "missing"), "--declines-out", str(out)]) != 0
    assert "not found" in capsys.readouterr().err
