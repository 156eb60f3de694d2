"""``policybot eval`` and ``policybot faithfulness``: their flags and the command entry points.

One cases file (``--cases``), or a suite (``--suite gate|all|NAMES``: the CI gate's fixed dev samples of every
benchmark plus the seed set, or the full benchmark runs), for one model or a matrix of them (``--models``),
optionally with a model judge. The runs themselves are in ``bot.evaluate.suites``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from bot.errors import UserInputError
from bot.evaluate.gate import GATE_FILE, refresh_gate
from bot.evaluate.report import write_reports
from bot.evaluate.runner import rescore
from bot.evaluate.suites import benchmarks_dir, build_judge, run_cases, run_cases_matrix, run_suites
from bot.settings import Settings


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


def eval_command(args: argparse.Namespace, settings: Settings) -> int:
    """``policybot eval``: one cases file, a suite, or a refresh of the gate sample."""
    if getattr(args, "refresh_gate", False):
        return _refresh_gate(benchmarks_dir(args, settings))
    if getattr(args, "rescore", None):
        return _rescore(args.rescore)
    if getattr(args, "suite", None):
        return run_suites(args, settings)
    if not getattr(args, "cases", None):
        raise UserInputError("Nothing to run. Fix: pass --cases FILE or --suite gate|all|NAMES.")
    if getattr(args, "models", None):
        return run_cases_matrix(args, settings)
    return run_cases(args, settings)


def _refresh_gate(benchmarks: Path) -> int:
    """``--refresh-gate``: rebuild eval/gate.json and say what each benchmark's sample holds."""
    gate = refresh_gate(benchmarks, GATE_FILE)
    for name, spec in gate["benchmarks"].items():
        print(f"{name}: {len(spec['cases'])} cases, {len(spec['docs'])} documents (~{spec['estimated_chunks']} chunks)")
    print(f"wrote {GATE_FILE}")
    return 0


def _rescore(paths: Sequence[Path]) -> int:
    """``--rescore``: re-score saved reports (files, or folders searched for them) in place."""
    for path in paths:
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

    cases = load_suite(args.suite, Path(args.docs or settings.docs_dir), benchmarks_dir(args, settings))
    judge = build_judge(args, settings)
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
