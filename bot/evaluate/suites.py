"""Running ``policybot eval``: one cases file or a suite of corpora, for one model or a matrix of them.

A suite (``--suite gate|all|NAMES``, see ``bot.evaluate.gate``) runs each corpus in turn; the gate compares each
corpus's report with its committed baseline. Each corpus is indexed into its own cache,
``<data_dir>/eval-index/<hash>/``. The flags are defined in ``bot.evaluate.cli``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.errors import ConfigError, UserInputError
from bot.evaluate.gate import SuiteEntry, materialise, suite_entries
from bot.evaluate.report import Report, compare, metrics_lines, render_matrix, render_summary, write_reports
from bot.evaluate.runner import Case, load_cases, run_eval
from bot.settings import Settings

log = logging.getLogger(__name__)


def benchmarks_dir(args: argparse.Namespace, settings: Settings) -> Path:
    """``--benchmarks``, else the benchmarks_dir setting."""
    return Path(getattr(args, "benchmarks", None) or settings.benchmarks_dir)


def _has_split(entry: SuiteEntry, split: str) -> bool:
    return split == "all" or any(c.split == split for c in load_cases(entry.cases_file))


def _select(cases: list[Case], entry: SuiteEntry, split: str, every: int) -> list[Case]:
    if entry.case_ids is not None:
        by_id = {c.id: c for c in cases}
        missing = [i for i in entry.case_ids if i not in by_id]
        if missing:
            raise ConfigError(f"{len(missing)} gate cases of {entry.name} are not in {entry.cases_file} "
                              f"(e.g. {missing[0]}). Fix: run `policybot eval --refresh-gate`.")
        return [by_id[i] for i in entry.case_ids][::every]
    if split != "all":
        cases = [c for c in cases if c.split == split]
        if not cases:
            raise UserInputError(f"{entry.cases_file} has no cases with split '{split}'. Fix: pass --split dev|test|all.")
    return cases[:: entry.every * every]


def _sampling(args: argparse.Namespace) -> tuple[int, int | None]:
    """``--every`` and ``--limit``, checked."""
    every = int(getattr(args, "every", 1) or 1)
    limit = getattr(args, "limit", None)
    if every < 1:
        raise UserInputError("--every must be at least 1.")
    if limit is not None and limit < 1:
        raise UserInputError("--limit must be at least 1.")
    return every, limit


def run_entry(entry: SuiteEntry, settings: Settings, args: argparse.Namespace, *, model: Any = None,
              embeddings: Any = None, judge: Any = None, model_path: str | None = None) -> Report:
    """Index the entry's corpus (cached), run its cases through a pipeline built for it, score them."""
    from bot.ingest.build import BATCH_WAIT_S, corpus_hash, ingest
    from bot.reader.pipeline import build_pipeline

    every, limit = _sampling(args)
    split = getattr(args, "split", None) or "all"
    cases = _select(load_cases(entry.cases_file), entry, split, every)
    docs = materialise(entry, Path(settings.data_dir))
    if not docs.is_dir():
        raise ConfigError(f"The corpus folder {docs}/ does not exist. Fix: pass --docs DIR (a folder of documents).")
    chash = corpus_hash(docs, settings)
    cache = Path(settings.data_dir) / "eval-index" / chash
    local = settings.with_overrides(docs_dir=docs, index_dir=cache, model_path=model_path,
                                    llm_url=getattr(args, "llm_url", None),
                                    glossary_file=str(entry.glossary.resolve()) if entry.glossary else None)
    extra = {"embeddings": embeddings} if embeddings is not None else {}
    done = ingest(local, docs_dir=docs, index_dir=cache, progress=True, wait=BATCH_WAIT_S, **extra)
    log.info("eval index %s: %s", cache, done.summary())
    pipeline = build_pipeline(local, **({"model": model} if model is not None else {}), **extra)
    run_info = {"corpus": entry.name, "corpus_hash": chash, "index_dir": str(cache), "docs_dir": str(docs),
                "cases_file": str(entry.cases_file), "split": "gate sample" if entry.case_ids else split,
                "settings": local.redacted()}
    if judge is not None:
        run_info["judge"] = judge.name
    report = run_eval(pipeline, pipeline.retriever, cases, limit=limit, progress=True, run_info=run_info,
                      judge=judge.p_supported if judge is not None else None)
    drafter = getattr(pipeline, "model", None)  # an answer service need not expose its model
    if not report.run.get("model_hash") and not local.llm_url and drafter is not None:  # all refused before it
        report.run["model_hash"] = drafter.model_hash
    return report


def _resolve(value: str | None) -> str | None:
    from bot.llm.catalog import resolve_model

    return resolve_model(value) if value else value


def build_judge(args: argparse.Namespace, settings: Settings) -> Any:
    """The model judge of ``--judge-model`` / ``--judge-url``, or None when neither is given."""
    path, url = _resolve(getattr(args, "judge_model", None)), getattr(args, "judge_url", None)
    if not path and not url:
        return None
    from bot.evaluate.judge import Judge

    return Judge(settings.prompts_dir, model_path=path or "", url=url or "", n_threads=settings.n_threads)


def _out_dir(args: argparse.Namespace) -> Path:
    return Path(args.out) if args.out else Path("eval/reports") / datetime.now().strftime("%Y%m%d-%H%M%S")


def _print(report: Report, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.to_json_dict(), ensure_ascii=False, indent=2))
    else:
        print("\n".join(metrics_lines(report)))


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in Path(label).name)


def _model_specs(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    """(label, GGUF path or None for the configured default) for each model to run."""
    if not getattr(args, "models", None):
        return [(args.model or "default", _resolve(args.model))]
    specs = []
    for raw in (m.strip() for m in args.models.split(",")):
        if raw:
            specs.append((raw, None if raw in ("bundled", "default") else _resolve(raw)))
    return specs


# --- one cases file ---------------------------------------------------------------------------------------


def run_cases(args: argparse.Namespace, settings: Settings) -> int:
    """``--cases FILE`` for one model: the report, and with ``--compare`` exit 1 on a regression."""
    entry = SuiteEntry("cases", Path(args.cases), Path(args.docs or settings.docs_dir))
    report = run_entry(entry, settings, args, judge=build_judge(args, settings), model_path=_resolve(args.model))
    paths = write_reports(report, _out_dir(args))
    as_json = bool(getattr(args, "json", False))
    _print(report, as_json)
    print(f"reports: {', '.join(str(p) for p in paths)}", file=sys.stderr)
    if args.compare:
        lines, regressed = compare(report, Path(args.compare))
        print("\n".join(lines), file=sys.stderr if as_json else sys.stdout)
        return 1 if regressed else 0
    return 0


def run_cases_matrix(args: argparse.Namespace, settings: Settings) -> int:
    """``--cases FILE --models A,B``: one run per model and a model x corpus table."""
    entry = SuiteEntry(Path(args.cases).stem, Path(args.cases), Path(args.docs or settings.docs_dir))
    results: dict[str, dict[str, Report]] = {}
    out = _out_dir(args)
    judge = build_judge(args, settings)  # one judge for every model, loaded once
    for label, path in _model_specs(args):
        report = run_entry(entry, settings, args, model_path=path, judge=judge)
        write_reports(report, out / _slug(label))
        results[label] = {entry.name: report}
    out.mkdir(parents=True, exist_ok=True)
    table = render_matrix(results)
    (out / "matrix.md").write_text(table, encoding="utf-8")
    print(table)
    return 0


# --- a suite of corpora -----------------------------------------------------------------------------------


def run_suites(args: argparse.Namespace, settings: Settings) -> int:
    """``--suite``: every corpus of the suite for each model; the gate exits 1 when a corpus regressed."""
    from bot.ingest.embeddings import build_embeddings
    from bot.llm.build import build_chat_model

    entries = suite_entries(args.suite, benchmarks_dir(args, settings))
    if args.suite == "gate":
        # The gate compares with committed baselines: one llama.cpp thread gives the same figures whatever else
        # the machine runs (two threads that share a core with other work can be many times slower).
        settings = settings.with_overrides(n_threads=1)
    out = _out_dir(args)
    embeddings = build_embeddings(settings.embedding_batch, settings.embedding_backend)
    judge = build_judge(args, settings)
    specs = _model_specs(args)
    gate = args.suite == "gate" and len(specs) == 1
    results: dict[str, dict[str, Report]] = {}
    regressed, lines = False, []
    for label, path in specs:
        model = None if getattr(args, "llm_url", None) else build_chat_model(settings.with_overrides(model_path=path))
        folder = out / _slug(label) if len(specs) > 1 else out
        for entry in entries:
            print(f"== {label}: {entry.name}", file=sys.stderr)
            if entry.case_ids is None and not _has_split(entry, getattr(args, "split", "all")):
                lines.append(f"{entry.name}: no {args.split} cases; skipped")
                continue
            report = run_entry(entry, settings, args, model=model, embeddings=embeddings, judge=judge, model_path=path)
            write_reports(report, folder / entry.name)
            results.setdefault(label, {})[entry.name] = report
            if gate and entry.baseline is not None:
                more, bad = _against_baseline(entry.name, entry.baseline, report, args.write_baselines)
                lines += more
                regressed |= bad
    return _finish_suite(args, out, results, lines, several=len(specs) > 1, gate=gate, regressed=regressed)


def _against_baseline(name: str, baseline: Path, report: Report, write: bool) -> tuple[list[str], bool]:
    """Save the report as the corpus's baseline (``--write-baselines``) or compare with it: (notes, regressed)."""
    if write:
        baseline.parent.mkdir(parents=True, exist_ok=True)
        baseline.write_text(json.dumps(report.to_json_dict(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        return [f"{name}: baseline written to {baseline}"], False
    if not baseline.is_file():
        raise UserInputError(f"No baseline {baseline} for {name}. Fix: run "
                             "`policybot eval --suite gate --write-baselines` and commit it.")
    more, bad = compare(report, baseline)
    return [f"-- {name}", *more], bad


def _finish_suite(args: argparse.Namespace, out: Path, results: dict[str, dict[str, Report]], lines: list[str], *,
                  several: bool, gate: bool, regressed: bool) -> int:
    """Write summary (or matrix) .md and .json into ``out``, print the table and the notes, give the exit code."""
    out.mkdir(parents=True, exist_ok=True)
    if not results:
        raise UserInputError(f"No corpus of suite {args.suite} has {args.split} cases. Fix: pass --split dev|test|all.")
    summary = render_matrix(results) if several else render_summary(next(iter(results.values())))
    name = "matrix" if several else "summary"
    heading = "Gate" if gate else "Notes"
    (out / f"{name}.md").write_text(summary + (f"\n## {heading}\n\n```\n" + "\n".join(lines) + "\n```\n" if lines else ""),
                                    encoding="utf-8")
    table = {label: {n: r.metrics for n, r in reports.items()} for label, reports in results.items()}
    (out / f"{name}.json").write_text(json.dumps(table, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    if getattr(args, "json", False):
        print(json.dumps(table, ensure_ascii=False, indent=2))
    else:
        print(summary)
    if lines:
        print("\n".join(lines), file=sys.stderr if getattr(args, "json", False) else sys.stdout)
    print(f"reports: {out}/", file=sys.stderr)
    if gate and regressed:
        print("REGRESSION: a gated metric fell beyond its tolerance on at least one corpus", file=sys.stderr)
    return 1 if regressed else 0
