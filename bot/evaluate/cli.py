"""``policybot eval`` and ``policybot faithfulness``: the command-line glue around the eval runner.

One cases file (``--cases``), or a suite (``--suite gate|all|NAMES``: the CI gate's fixed dev samples of every
benchmark plus the seed set, or the full benchmark runs), for one model or a matrix of them (``--models``),
optionally with a model judge. Each corpus is indexed into its own cache, ``<data_dir>/eval-index/<hash>/``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.errors import ConfigError, UserInputError
from bot.evaluate.gate import GATE_FILE, SuiteEntry, materialise, refresh_gate, suite_entries
from bot.evaluate.report import (
    Report,
    compare,
    metrics_lines,
    render_matrix,
    render_summary,
    write_reports,
)
from bot.evaluate.runner import Case, load_cases, rescore, run_eval
from bot.settings import Settings

log = logging.getLogger(__name__)


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``policybot eval``."""
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--cases", type=Path, default=None, help="JSON Lines cases file")
    what.add_argument("--suite", default=None,
                      help="gate (the CI gate: a fixed dev sample of every benchmark + the seed set, compared with "
                           "eval/baselines/), all (seed + every benchmark, whole corpora), or benchmark names, "
                           "comma-separated")
    what.add_argument("--refresh-gate", action="store_true", help="rebuild eval/gate.json from the benchmarks and exit")
    what.add_argument("--rescore", type=Path, nargs="+", default=None, metavar="REPORT",
                      help="re-score saved report.json files (or folders of them) with the current metrics, "
                           "without asking anything again; rewrites them and their report.md")
    parser.add_argument("--docs", type=Path, default=None, help="corpus folder for --cases (default: docs_dir)")
    parser.add_argument("--benchmarks", type=Path, default=None,
                        help="folder of the shared benchmarks (default: the benchmarks_dir setting)")
    parser.add_argument("--split", choices=["dev", "test", "all"], default="dev",
                        help="which cases to run (default dev: the test split is for reporting only)")
    parser.add_argument("--json", action="store_true", help="print only the JSON report on stdout")
    parser.add_argument("--out", type=Path, default=None, help="report folder (default eval/reports/<time>/)")
    parser.add_argument("--limit", type=int, default=None, help="run only the first N cases (of each corpus)")
    parser.add_argument("--every", type=int, default=1, help="run every K-th case (a fixed sample; default 1 = all)")
    parser.add_argument("--compare", type=Path, default=None,
                        help="baseline report.json for --cases; exit 1 on a regression (suites compare with the "
                             "baselines named in eval/gate.json)")
    parser.add_argument("--write-baselines", action="store_true",
                        help="with --suite gate: save each corpus's report as its baseline instead of comparing")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--model", default=None, help="GGUF file or catalog name (default: the bundled model)")
    group.add_argument("--llm-url", dest="llm_url", default=None, help="OpenAI-compatible llama.cpp server URL")
    group.add_argument("--models", default=None,
                       help="comma-separated GGUF files or catalog names (bundled = the default model): one run "
                            "per model and a model x benchmark table")
    judge = parser.add_mutually_exclusive_group()
    judge.add_argument("--judge-model", default=None, help="GGUF file (or catalog name) of a second model that "
                                                           "judges each cited sentence")
    judge.add_argument("--judge-url", default=None, help="OpenAI-compatible server of the judge model")


def _benchmarks_dir(args: argparse.Namespace, settings: Settings) -> Path:
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


def run_entry(entry: SuiteEntry, settings: Settings, args: argparse.Namespace, *, model: Any = None,
              embeddings: Any = None, judge: Any = None, model_path: str | None = None) -> Report:
    """Index the entry's corpus (cached), run its cases through a pipeline built for it, score them."""
    from bot.ingest.build import corpus_hash, ingest
    from bot.reader.pipeline import build_pipeline

    every = int(getattr(args, "every", 1) or 1)
    limit = getattr(args, "limit", None)
    if every < 1:
        raise UserInputError("--every must be at least 1.")
    if limit is not None and limit < 1:
        raise UserInputError("--limit must be at least 1.")
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
    done = ingest(local, docs_dir=docs, index_dir=cache, progress=True, **extra)
    log.info("eval index %s: %s", cache, done.summary())
    pipeline = build_pipeline(local, **({"model": model} if model is not None else {}), **extra)
    run_info = {"corpus": entry.name, "corpus_hash": chash, "index_dir": str(cache), "docs_dir": str(docs),
                "cases_file": str(entry.cases_file), "split": "gate sample" if entry.case_ids else split,
                "settings": local.redacted()}
    if judge is not None:
        run_info["judge"] = judge.name
    return run_eval(pipeline, pipeline.retriever, cases, limit=limit, progress=True, run_info=run_info,
                    judge=judge.p_supported if judge is not None else None)


def _resolve(value: str | None) -> str | None:
    from bot.llm.catalog import resolve_model

    return resolve_model(value) if value else value


def _judge(args: argparse.Namespace, settings: Settings) -> Any:
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


def _single(args: argparse.Namespace, settings: Settings) -> int:
    entry = SuiteEntry("cases", Path(args.cases), Path(args.docs or settings.docs_dir))
    report = run_entry(entry, settings, args, judge=_judge(args, settings), model_path=_resolve(args.model))
    paths = write_reports(report, _out_dir(args))
    as_json = bool(getattr(args, "json", False))
    _print(report, as_json)
    print(f"reports: {', '.join(str(p) for p in paths)}", file=sys.stderr)
    if args.compare:
        lines, regressed = compare(report, Path(args.compare))
        print("\n".join(lines), file=sys.stderr if as_json else sys.stdout)
        return 1 if regressed else 0
    return 0


def _model_specs(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    """(label, GGUF path or None for the configured default) for each model to run."""
    if not getattr(args, "models", None):
        return [(args.model or "default", _resolve(args.model))]
    specs = []
    for raw in (m.strip() for m in args.models.split(",")):
        if raw:
            specs.append((raw, None if raw in ("bundled", "default") else _resolve(raw)))
    return specs


def _suite(args: argparse.Namespace, settings: Settings) -> int:
    from bot.ingest.embeddings import build_embeddings
    from bot.llm.local import build_chat_model

    entries = suite_entries(args.suite, _benchmarks_dir(args, settings))
    if args.suite == "gate":
        # The gate compares with committed baselines: one llama.cpp thread gives the same figures whatever else
        # the machine runs (two threads that share a core with other work can be many times slower).
        settings = settings.with_overrides(n_threads=1)
    out = _out_dir(args)
    embeddings = build_embeddings(settings.embedding_batch, settings.embedding_backend)
    judge = _judge(args, settings)
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
                if args.write_baselines:
                    entry.baseline.parent.mkdir(parents=True, exist_ok=True)
                    entry.baseline.write_text(json.dumps(report.to_json_dict(), ensure_ascii=False, indent=1) + "\n",
                                              encoding="utf-8")
                    lines.append(f"{entry.name}: baseline written to {entry.baseline}")
                elif not entry.baseline.is_file():
                    raise UserInputError(f"No baseline {entry.baseline} for {entry.name}. Fix: run "
                                         "`policybot eval --suite gate --write-baselines` and commit it.")
                else:
                    more, bad = compare(report, entry.baseline)
                    lines += [f"-- {entry.name}", *more]
                    regressed |= bad
    out.mkdir(parents=True, exist_ok=True)
    if not results:
        raise UserInputError(f"No corpus of suite {args.suite} has {args.split} cases. Fix: pass --split dev|test|all.")
    summary = render_matrix(results) if len(specs) > 1 else render_summary(next(iter(results.values())))
    name = "matrix" if len(specs) > 1 else "summary"
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


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in Path(label).name)


def eval_command(args: argparse.Namespace, settings: Settings) -> int:
    """``policybot eval``: one cases file, a suite, or a refresh of the gate sample."""
    if getattr(args, "refresh_gate", False):
        gate = refresh_gate(_benchmarks_dir(args, settings), GATE_FILE)
        for name, spec in gate["benchmarks"].items():
            print(f"{name}: {len(spec['cases'])} cases, {len(spec['docs'])} documents (~{spec['estimated_chunks']} chunks)")
        print(f"wrote {GATE_FILE}")
        return 0
    if getattr(args, "rescore", None):
        for path in args.rescore:
            for found in ([path] if path.is_file() else sorted(path.rglob("*.json"))):
                try:
                    report = rescore(found)
                except UserInputError:
                    if path.is_file():
                        raise
                    continue  # summary.json, matrix.json: not reports
                if found.name == "report.json":
                    write_reports(report, found.parent)
                else:  # a baseline: the file itself
                    found.write_text(json.dumps(report.to_json_dict(), ensure_ascii=False, indent=1) + "\n",
                                     encoding="utf-8")
                print(f"{found}: invented_rate {report.metrics.get('invented_rate')}")
        return 0
    if getattr(args, "suite", None):
        return _suite(args, settings)
    if not getattr(args, "cases", None):
        raise UserInputError("Nothing to run. Fix: pass --cases FILE or --suite gate|all|NAMES.")
    if getattr(args, "models", None):
        return _single_matrix(args, settings)
    return _single(args, settings)


def _single_matrix(args: argparse.Namespace, settings: Settings) -> int:
    entry = SuiteEntry(Path(args.cases).stem, Path(args.cases), Path(args.docs or settings.docs_dir))
    results: dict[str, dict[str, Report]] = {}
    out = _out_dir(args)
    judge = _judge(args, settings)  # one judge for every model, loaded once
    for label, path in _model_specs(args):
        report = run_entry(entry, settings, args, model_path=path, judge=judge)
        write_reports(report, out / _slug(label))
        results[label] = {entry.name: report}
    out.mkdir(parents=True, exist_ok=True)
    table = render_matrix(results)
    (out / "matrix.md").write_text(table, encoding="utf-8")
    print(table)
    return 0


# --- policybot faithfulness ----------------------------------------------------------------------------


def add_faithfulness_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--suite", type=Path, default=Path("eval/faithfulness.jsonl"),
                        help="hand-labelled suite (default eval/faithfulness.jsonl)")
    parser.add_argument("--docs", type=Path, default=None, help="folder of the 'docs' corpus (default: docs_dir)")
    parser.add_argument("--benchmarks", type=Path, default=None, help="folder of the shared benchmarks")
    judge = parser.add_mutually_exclusive_group()
    judge.add_argument("--judge-model", default=None, help="GGUF file (or catalog name) of the judge model")
    judge.add_argument("--judge-url", default=None, help="OpenAI-compatible server of the judge model")
    parser.add_argument("--json", action="store_true", help="print only the JSON summary on stdout")
    parser.add_argument("--out", type=Path, default=None, help="write report.md and report.json here")


def faithfulness_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run the strict metrics (and a judge) on the labelled suite; exit 1 if the strict metrics get any wrong."""
    from bot.evaluate.faithfulness_suite import load_suite, render, run_suite, summary

    cases = load_suite(args.suite, Path(args.docs or settings.docs_dir), _benchmarks_dir(args, settings))
    judge = _judge(args, settings)
    results = run_suite(cases, judge.p_supported if judge is not None else None)
    info = {"suite": str(args.suite), "judge": judge.name if judge is not None else ""}
    data = summary(results) | {"info": info, "cases_detail": [
        {"id": r.case.id, "kind": r.case.kind, "supported": r.case.supported, "flagged": r.flagged,
         "judge_p": r.judge_p, "detail": r.detail} for r in results]}
    text = render(results, info)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.md").write_text(text, encoding="utf-8")
        (args.out / "report.json").write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(data, ensure_ascii=False, indent=2) if args.json else text)
    return 0 if all(r.strict_correct for r in results) else 1


__all__: Sequence[str] = ("add_eval_arguments", "add_faithfulness_arguments", "eval_command", "faithfulness_command")
