"""The eval runner with a fake AnswerService and a fake retriever: loading, running, reports, the gate."""

from __future__ import annotations

import argparse
import json
import logging
import types
from pathlib import Path

import pytest
from eval_fakes import DOC, FakeClock, FakeRetriever, FakeService, Hit, cite, good_answer, refusal

from bot.answer import Answer, Scope, Trace, Turn
from bot.errors import ConfigError, UserInputError
from bot.evaluate.answer_metrics import contains, normalize
from bot.evaluate.cli import add_eval_arguments, eval_command
from bot.evaluate.report import GATES, Gate, compare, render_markdown, write_reports
from bot.evaluate.runner import Case, load_cases, run_eval
from bot.settings import Settings

SEED_DOC = "guangdong-five-future-industry-clusters"  # the seed report: the seed set's own checks read it


def word_support(sentence: str, passage: str) -> bool:
    """Stand-in for bot.reader.ground.supports: every word of the sentence is in the passage."""
    return set(normalize(sentence).split()) <= set(normalize(passage).split())


def case(**kw: object) -> dict[str, object]:
    row: dict[str, object] = {"id": "seed:001", "question": "How many parks?", "answers": [["five", "5"]],
                              "gold_docs": [DOC], "answerable": True, "lang": "en", "split": "dev"}
    row.update(kw)
    return row


def write_cases(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


# --- loading --------------------------------------------------------------------------------------------


def test_load_cases_reads_every_line_with_history_and_scope(tmp_path: Path):
    path = write_cases(tmp_path / "c.jsonl", [
        case(),
        case(id="seed:002", question="And by 2035?", history=[{"role": "user", "content": "Goals for 2030?"}],
             scope={"doc_ids": [DOC]}),
        case(id="seed:003", question="预算多少亿元？", answers=[], gold_docs=[], answerable=False, lang="zh"),
    ])
    cases = load_cases(path)
    assert [c.id for c in cases] == ["seed:001", "seed:002", "seed:003"]
    assert cases[1].turns() == [Turn(role="user", content="Goals for 2030?")]
    assert cases[1].scope == Scope(doc_ids=(DOC,))
    assert not cases[2].answerable


@pytest.mark.parametrize(
    ("row", "field"),
    [
        (case(lang="fr"), "lang"),
        (case(answers="five"), "answers"),
        (case(question=""), "question"),
        ({k: v for k, v in case().items() if k != "answerable"}, "answerable"),
        (case(history=[{"role": "bot", "content": "x"}]), "history.0.role"),
    ],
)
def test_a_malformed_case_names_its_line_number_and_field(tmp_path: Path, row: dict[str, object], field: str):
    path = write_cases(tmp_path / "c.jsonl", [case(id="ok"), row])
    with pytest.raises(UserInputError) as err:
        load_cases(path)
    assert ":2:" in str(err.value)
    assert f"'{field}" in str(err.value)


def test_a_case_without_a_split_is_a_dev_case(tmp_path: Path):
    row = {k: v for k, v in case().items() if k != "split"}
    assert load_cases(write_cases(tmp_path / "c.jsonl", [row]))[0].split == "dev"


def test_an_unknown_split_is_an_error_naming_the_line(tmp_path: Path):
    path = write_cases(tmp_path / "c.jsonl", [case(id="ok"), case(split="train")])
    with pytest.raises(UserInputError, match=r":2: field 'split'"):
        load_cases(path)


def test_invalid_json_names_its_line_number(tmp_path: Path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(case()) + "\n\n{not json\n", encoding="utf-8")
    with pytest.raises(UserInputError, match=r":3: not valid JSON"):
        load_cases(path)


def test_an_unanswerable_case_with_answers_is_rejected(tmp_path: Path):
    path = write_cases(tmp_path / "c.jsonl", [case(answerable=False)])
    with pytest.raises(UserInputError, match=r":1: .*answers must be empty"):
        load_cases(path)


def test_duplicate_ids_are_rejected_with_both_lines(tmp_path: Path):
    path = write_cases(tmp_path / "c.jsonl", [case(), case()])
    with pytest.raises(UserInputError, match=r":2: field 'id'.*line 1"):
        load_cases(path)


def test_unknown_fields_are_ignored_with_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    path = write_cases(tmp_path / "c.jsonl", [case(source="x"), case(id="seed:002", source="y")])
    with caplog.at_level(logging.WARNING, logger="bot.evaluate.runner"):
        cases = load_cases(path)
    assert len(cases) == 2
    warnings = [r.getMessage() for r in caplog.records if "source" in r.getMessage()]
    assert len(warnings) == 1 and "line 1" in warnings[0]


def test_an_empty_or_missing_cases_file_is_a_clear_error(tmp_path: Path):
    (tmp_path / "empty.jsonl").write_text("\n\n", encoding="utf-8")
    with pytest.raises(UserInputError, match="holds no cases"):
        load_cases(tmp_path / "empty.jsonl")
    with pytest.raises(UserInputError, match="not found"):
        load_cases(tmp_path / "missing.jsonl")


# --- the team's seed set --------------------------------------------------------------------------------


SEED = Path(__file__).resolve().parents[2] / "eval" / "seed.jsonl"


def test_the_seed_set_meets_its_own_coverage_promises():
    cases = load_cases(SEED)
    assert len(cases) >= 70
    assert all(c.split == "dev" for c in cases)
    assert sum(not c.answerable for c in cases) >= 14
    assert sum(c.lang == "zh" for c in cases) >= 12
    assert sum(bool(c.history) for c in cases) >= 8
    assert all(c.gold_docs == [SEED_DOC] for c in cases if c.answerable)


def test_every_seed_fact_can_be_found_in_the_report_itself():
    text = (SEED.parents[1] / "docs" / f"{SEED_DOC}.txt").read_text(encoding="utf-8")
    missing = [(c.id, group) for c in load_cases(SEED) for group in c.answers
               if not any(contains(text, alt) for alt in group)]
    assert missing == []


# --- running --------------------------------------------------------------------------------------------


@pytest.fixture
def cases() -> list[Case]:
    return [
        Case.model_validate(case()),
        Case.model_validate(case(id="seed:002", question="Which city hosts the parks?", answers=[], gold_docs=[],
                                 answerable=False)),
        Case.model_validate(case(id="seed:003", question="Boom?", answers=[["x"]])),
        Case.model_validate(case(id="seed:004", question="Who said it?", answers=[["Wu Dongwen"]], lang="zh",
                                 history=[{"role": "user", "content": "Goals?"}])),
    ]


@pytest.fixture
def service() -> FakeService:
    return FakeService({"How many parks?": good_answer(), "Which city hosts the parks?": refusal(),
                        "Boom?": RuntimeError("model crashed"), "Who said it?": refusal()}, FakeClock())


def test_a_case_that_raises_is_recorded_and_the_run_goes_on(cases: list[Case], service: FakeService):
    report = run_eval(service, FakeRetriever(), cases, progress=False, support=word_support, clock=service.clock)
    by_id = {c.id: c for c in report.cases}
    assert [c.id for c in report.cases] == ["seed:001", "seed:002", "seed:003", "seed:004"]
    assert by_id["seed:003"].status == "error"
    assert "model crashed" in (by_id["seed:003"].error or "")
    assert report.metrics["errors"] == 1
    assert by_id["seed:004"].status == "refused"


def test_the_runner_scores_facts_refusals_citations_and_timing(cases: list[Case], service: FakeService):
    report = run_eval(service, FakeRetriever(), cases, progress=False, support=word_support, clock=service.clock)
    first = report.cases[0]
    assert first.facts_matched == [True] and first.fact_recall == 1.0
    assert first.latency_s == pytest.approx(1.25)
    assert first.ttft_s == pytest.approx(0.25)  # measured at the first Token event
    assert first.citation.supported_citations == 1
    m = report.metrics
    assert m["fact_recall"] == pytest.approx(1 / 3)  # one full answer, one error, one false refusal
    assert m["refusal_rate"] == 1.0
    assert m["false_refusal_rate"] == pytest.approx(1 / 3)
    assert m["citation_precision"] == 1.0
    assert set(report.by_lang) == {"en", "zh"}
    assert report.run["model_id"] == "smol" and report.run["prompt_id"] == "answer@1"


def test_the_run_names_the_model_file_even_when_the_first_answer_was_refused_before_the_model(service: FakeService):
    early = Answer(text="The documents do not say.", status="refused", trace=Trace(model_id="smol", index_hash="ix"))
    drafted = Answer(text=good_answer().text, citations=[cite(1)], status="answered",
                     trace=Trace(model_id="smol", model_hash="f00d", prompt_id="answer@1", index_hash="ix"))
    service.script.update({"Which city hosts the parks?": early, "How many parks?": drafted})
    questions = [case(id="seed:1", question="Which city hosts the parks?"), case(id="seed:2")]
    report = run_eval(service, None, [Case.model_validate(q) for q in questions], progress=False,
                      support=word_support, clock=service.clock)
    assert report.run["model_hash"] == "f00d" and report.run["prompt_id"] == "answer@1"


def test_an_answer_that_negates_its_citation_is_invented_whatever_the_pipeline_check_says(service: FakeService):
    flipped = Answer(text="By 2030, the harbour authority will not open five research parks along the eastern waterfront [1].",
                     citations=[cite(1)], status="answered", trace=Trace(fallback="quoted the evidence instead"))
    service.script["How many parks?"] = flipped
    report = run_eval(service, None, [Case.model_validate(case())], progress=False,
                      support=lambda sentence, passage: True, clock=service.clock)
    row = report.cases[0]
    assert row.invented and row.polarity_flips == 1 and row.answer_source == "quoted"
    assert report.metrics["invented_rate"] == 1.0 and report.metrics["citation_precision"] == 0.0
    assert report.metrics["pipeline_support"] == 1.0  # the pipeline's own test is reported apart
    assert "polarity flip" in render_markdown(report)


def test_a_judge_scores_every_cited_pair_beside_the_strict_verdict(service: FakeService):
    report = run_eval(service, None, [Case.model_validate(case())], progress=False, support=word_support,
                      clock=service.clock, judge=lambda sentence, passage: 0.8)
    assert report.cases[0].judge == [{"sentence": report.cases[0].judge[0]["sentence"], "citation": 1,
                                      "p_supported": 0.8, "strict_supported": True}]
    assert report.metrics["judge_support"] == 1.0 and report.metrics["judge_agreement"] == 1.0


def test_the_trace_ttft_wins_over_the_measured_one(service: FakeService):
    answer = good_answer()
    answer.trace.ttft_s = 0.05
    service.script["How many parks?"] = answer
    report = run_eval(service, None, [Case.model_validate(case())], progress=False, support=word_support,
                      clock=service.clock)
    assert report.cases[0].ttft_s == pytest.approx(0.05)
    assert report.baselines == {}


def test_history_and_scope_reach_the_service_and_retrieval_uses_the_standalone_question(service: FakeService):
    scoped = Case.model_validate(case(history=[{"role": "user", "content": "Goals?"}], scope=DOC))
    retriever = FakeRetriever()
    run_eval(service, retriever, [scoped], progress=False, support=word_support, clock=service.clock)
    assert service.calls == [("How many parks?", [Turn("user", "Goals?")], Scope(doc_ids=(DOC,)))]
    assert retriever.queries == [("How many parks by 2030?", m) for m in ("hybrid", "bm25", "vector")]


def test_retrieval_is_measured_within_the_documents_the_question_named(service: FakeService):
    named = good_answer()
    named.trace.scope = [DOC]  # the pipeline scoped "<title> policy: ..." to the document it named
    service.script["example.com policy: How many parks?"] = named
    retriever = ScopeRecorder()
    run_eval(service, retriever, [Case.model_validate(case(question="example.com policy: How many parks?"))],
             progress=False, support=word_support, clock=service.clock)
    assert service.calls[0][2] is None  # the case itself has no scope
    assert retriever.scopes == [Scope(doc_ids=(DOC,))] * 3


class ScopeRecorder(FakeRetriever):
    def __init__(self) -> None:
        super().__init__()
        self.scopes: list[Scope | None] = []

    def search(self, query: str, k: int | None = None, scope: Scope | None = None, mode: str | None = None) -> list[Hit]:
        self.scopes.append(scope)
        return super().search(query, k, scope, mode)


def test_hybrid_retrieval_is_reported_next_to_bm25_and_vector_baselines(cases: list[Case], service: FakeService):
    report = run_eval(service, FakeRetriever(), cases, progress=False, support=word_support, clock=service.clock)
    assert report.metrics["hit@1"] == 1.0
    assert report.baselines["bm25"] == {"hit@1": 0.0, "hit@5": 1.0, "mrr@10": pytest.approx(1 / 3)}
    assert report.baselines["vector"] == {"hit@1": 0.0, "hit@5": 0.0, "mrr@10": 0.0}
    assert report.cases[0].retrieved_docs[0] == DOC


def test_limit_runs_only_the_first_cases(cases: list[Case], service: FakeService):
    report = run_eval(service, None, cases, limit=2, progress=False, support=word_support, clock=service.clock)
    assert [c.id for c in report.cases] == ["seed:001", "seed:002"]


# --- reports and the gate -------------------------------------------------------------------------------


def test_reports_hold_metrics_baselines_charts_and_failed_cases(tmp_path: Path, cases: list[Case], service: FakeService):
    report = run_eval(service, FakeRetriever(), cases, progress=False, support=word_support, clock=service.clock)
    json_path, md_path = write_reports(report, tmp_path / "out")
    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert {"metrics", "baselines", "by_lang", "cases", "run"} <= set(data)
    assert {"id", "question", "lang", "answerable", "status", "text", "citations", "facts_matched", "fact_recall",
            "answer_f1", "latency_s", "ttft_s", "retrieved_docs", "error"} <= set(data["cases"][0])
    md = md_path.read_text(encoding="utf-8")
    assert "| bm25 |" in md and "| zh |" in md and "█" in md
    assert "### seed:003" in md and "model crashed" in md
    assert "### seed:001" not in md  # fully correct cases are not listed as failures
    assert render_markdown(report) == md


def baseline_file(path: Path, **metrics: float | None) -> Path:
    path.write_text(json.dumps({"metrics": metrics}), encoding="utf-8")
    return path


def test_compare_flags_a_gated_metric_beyond_its_tolerance(tmp_path: Path, cases: list[Case], service: FakeService):
    report = run_eval(service, None, cases, progress=False, support=word_support, clock=service.clock)
    now = report.metrics
    assert isinstance(now["fact_recall"], float) and isinstance(now["false_refusal_rate"], float)
    within = baseline_file(tmp_path / "a.json", fact_recall=now["fact_recall"] + 0.02,
                           false_refusal_rate=now["false_refusal_rate"])
    lines, regressed = compare(report, within)
    assert not regressed and any(line.startswith("fact_recall") and "ok" in line for line in lines)
    beyond = baseline_file(tmp_path / "b.json", fact_recall=now["fact_recall"] + 0.05)
    lines, regressed = compare(report, beyond)
    assert regressed and any(line.startswith("fact_recall") and "REGRESSED" in line for line in lines)
    lower_is_better = baseline_file(tmp_path / "c.json", false_refusal_rate=now["false_refusal_rate"] - 0.1)
    assert compare(report, lower_is_better)[1]


def test_compare_does_not_gate_a_metric_this_run_did_not_measure(tmp_path: Path, service: FakeService):
    report = run_eval(service, None, [Case.model_validate(case())], progress=False, support=word_support,
                      clock=service.clock)
    lines, regressed = compare(report, baseline_file(tmp_path / "b.json", refusal_rate=0.9))
    assert not regressed and any("refusal_rate" in line and "not measured" in line for line in lines)


def test_custom_tolerances_are_honoured(tmp_path: Path, service: FakeService):
    report = run_eval(service, None, [Case.model_validate(case())], progress=False, support=word_support,
                      clock=service.clock)
    base = baseline_file(tmp_path / "b.json", fact_recall=1.0, answer_words_p50=1.0)
    assert compare(report, base)[1]  # answer words grew by more than GATES allows
    assert not compare(report, base, {"fact_recall": GATES["fact_recall"], "answer_words_p50": Gate(False, 100)})[1]


def test_a_bad_baseline_is_a_clear_error(tmp_path: Path, cases: list[Case], service: FakeService):
    report = run_eval(service, None, cases[:1], progress=False, support=word_support, clock=service.clock)
    (tmp_path / "bad.json").write_text("[]", encoding="utf-8")
    with pytest.raises(UserInputError, match="no 'metrics'"):
        compare(report, tmp_path / "bad.json")
    with pytest.raises(UserInputError, match="not found"):
        compare(report, tmp_path / "missing.json")


# --- the CLI glue, with fake ingest and pipeline modules ------------------------------------------------


@pytest.fixture
def fake_stack(monkeypatch: pytest.MonkeyPatch, service: FakeService) -> dict[str, list[object]]:
    seen: dict[str, list[object]] = {"ingest": [], "settings": [], "wait": []}

    def ingest(settings: Settings, *, docs_dir: Path, index_dir: Path, progress: bool = True, wait: float = 0.0,
               **_: object) -> object:
        seen["ingest"].append((docs_dir, index_dir))
        seen["wait"].append(wait)
        return types.SimpleNamespace(summary=lambda: "fake")

    def build_pipeline(settings: Settings, **_: object) -> object:
        seen["settings"].append(settings)
        pipeline = types.SimpleNamespace(stream=service.stream, answer=service.answer, retriever=FakeRetriever())
        return pipeline

    monkeypatch.setitem(__import__("sys").modules, "bot.ingest.build",
                        types.SimpleNamespace(ingest=ingest, corpus_hash=lambda d, s=None: "abc123", BATCH_WAIT_S=42.0))
    monkeypatch.setitem(__import__("sys").modules, "bot.reader.pipeline", types.SimpleNamespace(build_pipeline=build_pipeline))
    monkeypatch.setattr("bot.evaluate.runner._default_support", lambda: word_support)
    return seen


def cli_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_eval_arguments(parser)
    return parser.parse_args(list(argv))


def test_eval_command_indexes_into_the_cached_index_and_writes_reports(
    tmp_path: Path, fake_stack: dict[str, list[object]], capsys: pytest.CaptureFixture[str]
):
    docs = tmp_path / "docs"
    docs.mkdir()
    cases_file = write_cases(tmp_path / "c.jsonl", [case(), case(id="t1", split="test")])
    settings = Settings(data_dir=tmp_path / "data")
    code = eval_command(cli_args("--cases", str(cases_file), "--docs", str(docs), "--out", str(tmp_path / "r"),
                                 "--json", "--model", "m.gguf", "--split", "dev"), settings)
    assert code == 0
    assert fake_stack["ingest"] == [(docs, tmp_path / "data" / "eval-index" / "abc123")]
    assert fake_stack["wait"] == [42.0]  # a batch run waits for another build of the same cache (BATCH_WAIT_S)
    used = fake_stack["settings"][0]
    assert isinstance(used, Settings) and used.model_path == "m.gguf" and used.docs_dir == docs
    printed = json.loads(capsys.readouterr().out)  # --json: stdout is only the report
    assert [c["id"] for c in printed["cases"]] == ["seed:001"]  # only the dev split
    assert printed["run"]["corpus_hash"] == "abc123" and printed["run"]["split"] == "dev"
    assert (tmp_path / "r" / "report.json").is_file() and (tmp_path / "r" / "report.md").is_file()


def test_eval_command_exits_non_zero_on_a_regression(tmp_path: Path, fake_stack: dict[str, list[object]]):
    docs = tmp_path / "docs"
    docs.mkdir()
    cases_file = write_cases(tmp_path / "c.jsonl", [case(question="Which city hosts the parks?")])
    good = baseline_file(tmp_path / "good.json", fact_recall=0.0)
    bad = baseline_file(tmp_path / "bad.json", fact_recall=0.9)
    settings = Settings(data_dir=tmp_path / "data")
    base = ("--cases", str(cases_file), "--docs", str(docs), "--out", str(tmp_path / "r"))
    assert eval_command(cli_args(*base, "--compare", str(good)), settings) == 0
    assert eval_command(cli_args(*base, "--compare", str(bad)), settings) == 1


def test_eval_command_rejects_a_missing_corpus_and_an_empty_split(tmp_path: Path, fake_stack: dict[str, list[object]]):
    cases_file = write_cases(tmp_path / "c.jsonl", [case()])
    settings = Settings(data_dir=tmp_path / "data")
    with pytest.raises(ConfigError, match="--docs"):
        eval_command(cli_args("--cases", str(cases_file), "--docs", str(tmp_path / "nope")), settings)
    with pytest.raises(UserInputError, match="split 'test'"):
        eval_command(cli_args("--cases", str(cases_file), "--docs", str(tmp_path), "--split", "test"), settings)


def test_a_saved_report_is_rescored_with_the_current_metrics(tmp_path: Path, cases: list[Case], service: FakeService):
    from bot.evaluate.runner import rescore

    report = run_eval(service, None, cases, progress=False, support=word_support, clock=service.clock)
    data = report.to_json_dict()
    data["cases"][0]["text"] = "By 2030, the harbour authority will not open five parks [1]."
    data["cases"][0]["invented"] = False
    path = tmp_path / "report.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    again = rescore(path)
    assert again.cases[0].invented and again.cases[0].polarity_flips == 1
    assert again.metrics["fact_recall"] == report.metrics["fact_recall"] and again.run["rescored"]
    (tmp_path / "bad.json").write_text("{}", encoding="utf-8")
    with pytest.raises(UserInputError, match="not a report"):
        rescore(tmp_path / "bad.json")
