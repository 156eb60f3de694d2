"""Eval reports (the Report model, report.json + report.md) and the regression gate (``policybot eval --compare``).

The gated metrics and their tolerances are defined once, in :data:`GATES`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from bot.errors import UserInputError
from bot.evaluate.metrics import CaseResult


class Report(BaseModel):
    """The result of one eval run, as written to report.json."""

    metrics: dict[str, float | int | None]
    baselines: dict[str, dict[str, float | None]]
    by_lang: dict[str, dict[str, float | int | None]]
    cases: list[CaseResult]
    run: dict[str, Any]

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


@dataclass(frozen=True)
class Gate:
    """A gated metric: the run regresses when it is worse than the baseline by more than ``tolerance``."""

    higher_is_better: bool
    tolerance: float


GATES: dict[str, Gate] = {
    "fact_recall": Gate(higher_is_better=True, tolerance=0.03),
    "refusal_rate": Gate(higher_is_better=True, tolerance=0.05),
    "false_refusal_rate": Gate(higher_is_better=False, tolerance=0.05),
    "citation_precision": Gate(higher_is_better=True, tolerance=0.03),
    "citation_recall": Gate(higher_is_better=True, tolerance=0.05),
    "invented_rate": Gate(higher_is_better=False, tolerance=0.0),
    "hit@5": Gate(higher_is_better=True, tolerance=0.02),
    "answer_words_p50": Gate(higher_is_better=False, tolerance=10.0),
}

SHOWN = ("correct_rate", "fact_recall", "answer_f1", "refusal_rate", "false_refusal_rate", "invented_rate",
         "unsupported_claims", "polarity_flips", "citation_precision", "citation_recall", "pipeline_support",
         "judge_support", "judge_agreement", "model_share", "quoted_share", "refused_share", "answer_words_p50", "hit@1", "hit@5", "mrr@10", "latency_p50_s", "latency_p95_s",
         "ttft_p50_s", "cases", "answerable", "unanswerable", "errors")
LANG_COLUMNS = ("cases", "fact_recall", "answer_f1", "refusal_rate", "false_refusal_rate", "invented_rate",
                "citation_precision",
                "hit@5", "answer_words_p50", "latency_p50_s")
_EIGHTHS = " ▏▎▍▌▋▊▉"


def fmt(value: float | int | None) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return str(value)
    return f"{value:.3f}"


def bar(value: float, full: float, width: int = 30) -> str:
    """A Unicode bar of ``width`` cells for ``value`` out of ``full`` (eighth-cell resolution)."""
    cells = 0.0 if full <= 0 else max(0.0, min(1.0, value / full)) * width
    whole, rest = int(cells), int((cells - int(cells)) * 8)
    return ("█" * whole + (_EIGHTHS[rest] if rest else "")).ljust(width)


def metrics_lines(report: Report) -> list[str]:
    """The headline metrics as aligned text lines (the CLI's summary)."""
    return [f"{name:<20} {fmt(report.metrics.get(name))}" for name in SHOWN if name in report.metrics]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _latency_chart(cases: Sequence[CaseResult], buckets: int = 8) -> list[str]:
    values = [c.latency_s for c in cases if c.latency_s is not None]
    if not values:
        return ["(no latencies)"]
    top = max(values) or 1.0
    step = top / buckets
    counts = [0] * buckets
    for v in values:
        counts[min(buckets - 1, int(v / step))] += 1
    return [f"{i * step:7.2f}-{(i + 1) * step:<7.2f}s {bar(n, max(counts))} {n}" for i, n in enumerate(counts)]


def _lang_chart(by_lang: Mapping[str, Mapping[str, float | int | None]]) -> list[str]:
    lines = []
    for lang, m in by_lang.items():
        for name in ("fact_recall", "refusal_rate", "citation_precision", "hit@5"):
            value = m.get(name)
            if value is not None:
                lines.append(f"{lang} {name:<19} {bar(float(value), 1.0)} {value:.2f}")
    return lines


def _failed(case: CaseResult) -> bool:
    return case.status == "error" or not case.correct() or (case.fact_recall is not None and case.fact_recall < 1)


def _failed_case(case: CaseResult) -> list[str]:
    expected = " AND ".join(" / ".join(group) for group in case.answers) if case.answerable else "(decline)"
    missing = [" / ".join(g) for g, ok in zip(case.answers, case.facts_matched, strict=False) if not ok]
    text = case.text if len(case.text) <= 600 else case.text[:600] + " …"
    lines = [f"### {case.id} ({case.lang}, {'answerable' if case.answerable else 'unanswerable'})",
             f"- question: {case.question}", f"- expected: {expected}", f"- status: {case.status}"]
    if missing:
        lines.append(f"- missing: {'; '.join(missing)}")
    if case.error:
        lines.append(f"- error: {case.error}")
    lines += ["", "> " + (text.replace("\n", "\n> ") or "(empty)"), ""]
    return lines


def _invented_case(case: CaseResult) -> list[str]:
    lines = [f"### {case.id}: {case.question}", ""]
    for item in case.faithfulness:
        cites = ", ".join(f"[{n}]" for n in item["citations"]) or "no citation"
        lines.append(f"- \u201c{item['sentence']}\u201d ({cites})")
        for claim in item["unsupported"]:
            lines.append(f"  - unsupported {claim['kind']}: {claim['text']}")
        for flip in item["flips"]:
            lines.append(f"  - polarity flip against [{flip['citation']}] \u201c{flip['passage_clause']}\u201d: "
                         f"answer cues {flip['answer_cues'] or '(none)'}, passage cues {flip['passage_cues'] or '(none)'}")
    return lines + [""]


def render_markdown(report: Report, max_failed: int = 60) -> str:
    """report.md: metrics, retrieval baselines, per-language table, charts, failed cases with their answers."""
    run = report.run
    lines = ["# Eval report", "",
             f"Cases `{run.get('cases_file', '?')}` (split {run.get('split', '?')}), corpus {run.get('corpus_hash', '?')}, "
             f"index {run.get('index_hash') or '?'}; model {run.get('model_id') or '?'} {run.get('model_hash', '')[:12]}; "
             f"prompt {run.get('prompt_id') or '?'} {run.get('prompt_hash', '')[:12]}; started {run.get('started')}, "
             f"{run.get('seconds')} s.", "", "## Metrics", ""]
    lines += _table(["metric", "value"], [[n, fmt(report.metrics.get(n))] for n in SHOWN if n in report.metrics])
    lines += ["", "## Retrieval: hybrid against single-method baselines", ""]
    modes = {"hybrid": report.metrics, **report.baselines}
    lines += _table(["mode", "hit@1", "hit@5", "mrr@10"],
                    [[mode, *(fmt(m.get(k)) for k in ("hit@1", "hit@5", "mrr@10"))] for mode, m in modes.items()])
    lines += ["", "## By language", ""]
    lines += _table(["lang", *LANG_COLUMNS], [[lang, *(fmt(m.get(c)) for c in LANG_COLUMNS)]
                                               for lang, m in report.by_lang.items()])
    lines += ["", "## Charts", "", "Per-language scores (0 to 1):", "", "```", *_lang_chart(report.by_lang), "```",
              "", "Latency per case (cases per bucket):", "", "```", *_latency_chart(report.cases), "```", ""]
    invented = [c for c in report.cases if c.invented]
    lines += [f"## Unsupported claims and polarity flips ({len(invented)} answers)", "",
              "The independent check (bot/evaluate/faithfulness.py): what each flagged sentence asserts that its cited "
              "passages do not contain, and clauses whose negation or modality differs from the cited clause.", ""]
    for case in invented[:max_failed]:
        lines += _invented_case(case)
    failed = [c for c in report.cases if _failed(c)]
    lines += [f"## Failed cases ({len(failed)} of {len(report.cases)})", ""]
    for case in failed[:max_failed]:
        lines += _failed_case(case)
    if len(failed) > max_failed:
        lines.append(f"... and {len(failed) - max_failed} more (see report.json).")
    return "\n".join(lines) + "\n"


def write_reports(report: Report, out_dir: Path) -> list[Path]:
    """Write report.json and report.md into ``out_dir`` (created); returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "report.json", out_dir / "report.md"
    json_path.write_text(json.dumps(report.to_json_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(render_markdown(report), encoding="utf-8")
    return [json_path, md_path]


def load_baseline(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserInputError(f"Baseline {path} not found. Fix: pass a report.json from an earlier run.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserInputError(f"Baseline {path} is not valid JSON ({exc.msg}, line {exc.lineno}).") from None
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        raise UserInputError(f"Baseline {path} has no 'metrics' object; is it a report.json?")
    return data


def compare(
    report: Report, baseline_path: Path, tolerances: Mapping[str, Gate] = GATES
) -> tuple[list[str], bool]:
    """Metric deltas against a baseline report; ``regressed`` when a gated metric is worse beyond tolerance.

    A gated metric that this run did not measure (n/a, e.g. no unanswerable cases) is reported, not gated.
    """
    base = load_baseline(baseline_path)
    old: dict[str, Any] = base["metrics"]
    lines = [f"compared with {baseline_path}"]
    base_ids = {c.get("id") for c in base.get("cases", []) if isinstance(c, dict)}
    if base_ids and base_ids != {c.id for c in report.cases}:
        lines.append("warning: the baseline ran a different set of cases; deltas are not like for like")
    regressed = False
    for name in [n for n in SHOWN if n in report.metrics or n in old]:
        before, now = old.get(name), report.metrics.get(name)
        gate = tolerances.get(name)
        delta = "" if before is None or now is None else f"{now - before:+.3f}"
        verdict = ""
        if gate is not None:
            if before is None or now is None:
                verdict = "not measured in both runs"
            else:
                worse = (before - now) if gate.higher_is_better else (now - before)
                bad = worse > gate.tolerance + 1e-9
                regressed |= bad
                verdict = f"{'REGRESSED' if bad else 'ok'} (tolerance {gate.tolerance:g})"
        lines.append(f"{name:<20} {fmt(before):>8} -> {fmt(now):>8} {delta:>7}  {verdict}".rstrip())
    lines.append("REGRESSION: a gated metric fell beyond its tolerance" if regressed else "no gated metric regressed")
    return lines, regressed


SUMMARY_COLUMNS = ("cases", "hit@5", "fact_recall", "answer_f1", "refusal_rate", "false_refusal_rate", "invented_rate",
                   "citation_precision", "pipeline_support", "answer_words_p50", "latency_p50_s", "model_share",
                   "quoted_share", "refused_share")
MATRIX_COLUMNS = ("fact_recall", "answer_f1", "refusal_rate", "false_refusal_rate", "invented_rate",
                  "answer_words_p50", "latency_p50_s", "model_share", "quoted_share", "refused_share")


def _cell(value: float | int | None) -> str:
    if value is None:
        return "n/a"
    return str(value) if isinstance(value, int) else f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"


def render_summary(reports: Mapping[str, Report]) -> str:
    """One table for a suite run: a row per corpus; then each corpus's headline metrics."""
    run = next(iter(reports.values())).run if reports else {}
    lines = ["# Eval suite", "", f"Model {run.get('model_id') or '?'}; prompt {run.get('prompt_id') or '?'}; "
             f"judge {run.get('judge') or 'none'}.", ""]
    lines += _table(["corpus", "split", *SUMMARY_COLUMNS],
                    [[name, str(r.run.get("split", "?")), *(_cell(r.metrics.get(c)) for c in SUMMARY_COLUMNS)]
                     for name, r in reports.items()])
    lines += ["", "Seconds per corpus: " + ", ".join(f"{n} {r.run.get('seconds')}" for n, r in reports.items()), ""]
    return "\n".join(lines) + "\n"


def render_matrix(results: Mapping[str, Mapping[str, Report]]) -> str:
    """The model matrix: a row per (model, corpus)."""
    lines = ["# Model matrix", ""]
    rows = [[label, name, *(_cell(r.metrics.get(c)) for c in MATRIX_COLUMNS)]
            for label, reports in results.items() for name, r in reports.items()]
    lines += _table(["model", "corpus", *MATRIX_COLUMNS], rows)
    return "\n".join(lines) + "\n"
