"""Whether to honour the model's own "the evidence does not say it": a decision fitted per model on dev reports.

When the draft declines (it writes the decline marker) and none of its sentences survive the checks, the reader
either refuses, honouring the decline, or quotes the best evidence. How often a decline is right differs by model
and by question: measured on rgb_en test, Qwen2.5-Coder-0.5B's declines on answerable questions cost it
fact_recall (0.45 -> 0.39 against the bundled model) while the 1.5B model's declines caught noise-only questions.
So the decision is read off data, per model and per group of questions (``typed``: the question asks for a date,
number, name, place, organisation or amount; ``open``: the rest):

1. ``policybot eval --suite all --split dev --model M`` with ``POLICYBOT_DECLINES=none`` (every decline
   overridden, so each report shows whether the quote would have answered);
2. ``policybot calibrate --declines-from REPORTS...`` reads those reports and, in each group, averages the credit
   of the quotes that overrode a decline (a quote's fact_recall, or its answer_f1 where the gold is a long span;
   0 on an unanswerable question), each corpus weighing the same (its mean smoothed). Where the average is below
   one half, the quote is more wrong than right and a refusal is the better reply: the decline is honoured. The entry, keyed by the model
   file's sha256, goes into ``bot/reader/calibration/declines.json`` with the counts it was fitted on.

A model with no entry, or a group with fewer than :data:`MIN_DECLINES` declines on dev, keeps :data:`PRIOR`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.errors import ConfigError

DEFAULT_FILE = Path(__file__).parent / "calibration" / "declines.json"
GROUPS = ("typed", "open")
PRIOR = {"typed": True, "open": False}  # the decision before any fit: a typed question's decline is believed
# Not fitted: a floor on evidence. Below 10 declined dev cases a share's standard error exceeds 0.16, enough to put
# a true share of 0.35 on the wrong side of one half; the prior stands.
MIN_DECLINES = 10
FIXED = {"typed": PRIOR, "all": {"typed": True, "open": True}, "none": {"typed": False, "open": False}}


def group_of(kind: str) -> str:
    return "open" if kind in ("open", "") else "typed"


@dataclass(frozen=True)
class DeclinePolicy:
    """Per group of questions: honour the model's decline (refuse) or override it (quote the evidence)."""

    honour: Mapping[str, bool]
    source: str

    def honours(self, kind: str) -> bool:
        return bool(self.honour.get(group_of(kind), PRIOR[group_of(kind)]))

    def describe(self, kind: str) -> str:
        verb = "honoured" if self.honours(kind) else "overridden"
        return f"{verb} on {group_of(kind)} questions ({self.source})"


def load_policy(setting: str, model_hash: str) -> DeclinePolicy:
    """``setting``: ``fitted`` (the running model's entry in :data:`DEFAULT_FILE`), ``typed``, ``all``, ``none``, or
    the path of a declines file."""
    if setting in FIXED:
        return DeclinePolicy(FIXED[setting], f"declines={setting}")
    path = DEFAULT_FILE if setting == "fitted" else Path(setting)
    entries = read_entries(path)
    entry = entries.get(model_hash)
    if entry is None:
        return DeclinePolicy(PRIOR, f"no fit for model {model_hash[:12] or '?'} in {path.name}: the prior")
    return DeclinePolicy({g: bool(entry["honour"][g]) for g in GROUPS},
                         f"fitted for {entry.get('model_id', model_hash[:12])} on dev")


def check_setting(setting: str) -> None:
    """Read a user's declines file once at start, so a broken one is named before the first question."""
    if setting not in FIXED and setting != "fitted":
        read_entries(Path(setting))


def read_entries(path: Path) -> dict[str, Any]:
    if not path.exists():
        if path == DEFAULT_FILE:
            return {}
        raise ConfigError(f"Declines file {path} not found. Fix: run `policybot calibrate --declines-from REPORTS "
                          f"--declines-out {path}`, or set POLICYBOT_DECLINES=fitted.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = dict(data["models"])
        for entry in entries.values():
            _ = [bool(entry["honour"][g]) for g in GROUPS]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"Declines file {path} cannot be read ({exc}). Fix: refit it with `policybot calibrate "
                          "--declines-from REPORTS`, or set POLICYBOT_DECLINES=typed.") from None
    return entries


@dataclass(frozen=True)
class Decline:
    """One declined dev case whose decline was overridden: how much of the gold answer the quote held (0..1)."""

    corpus: str
    group: str
    quote_credit: float


def declines_in(report: Mapping[str, Any]) -> list[Decline]:
    """The declined, overridden cases of one eval report (a report run with ``POLICYBOT_DECLINES=none``), under the
    corpus the report names (else the prefix of the case id)."""
    out = []
    named = (report.get("run") or {}).get("corpus")
    for case in report.get("cases", []):
        if not case.get("model_declined") or case.get("answer_source") != "quoted":
            continue  # not declined, or refused before the model: the decision was not this one
        corpus = str(named or str(case.get("id", "")).partition(":")[0])
        credit = max(float(case.get("fact_recall") or 0.0), float(case.get("answer_f1") or 0.0))
        out.append(Decline(corpus, group_of(str(case.get("answer_type", ""))), credit if case.get("answerable") else 0.0))
    return out


def smoothed(credits: list[float]) -> float:
    """A corpus's mean quote credit, pulled toward one half as Jeffreys' prior pulls a share ((k + 1/2) / (n + 1)):
    a corpus with two declines does not count as a certain 0 or 1 beside one with thirty."""
    return (sum(credits) + 0.5) / (len(credits) + 1)


def fit(declines: Iterable[Decline]) -> dict[str, Any]:
    """Per group: honour the decline when the quotes that overrode it earned under one half (each corpus weighing
    the same, its mean :func:`smoothed`); keep :data:`PRIOR` below :data:`MIN_DECLINES` cases."""
    by: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for d in declines:
        by[d.group][d.corpus].append(d.quote_credit)
    honour, counts = {}, {}
    for group in GROUPS:
        corpora = by.get(group, {})
        n = sum(len(v) for v in corpora.values())
        share = sum(smoothed(v) for v in corpora.values()) / len(corpora) if corpora else None
        honour[group] = PRIOR[group] if n < MIN_DECLINES or share is None else share < 0.5
        counts[group] = {"declines": n, "quote_credit": None if share is None else round(share, 4),
                         "per_corpus": {c: {"declines": len(v), "quote_credit": round(sum(v) / len(v), 4)}
                                        for c, v in sorted(corpora.items())},
                         "decided_by": "prior (too few declines)" if n < MIN_DECLINES else "fit"}
    return {"honour": honour, "fitted_on": counts}


def fit_reports(paths: Iterable[Path]) -> dict[str, dict[str, Any]]:
    """Every report.json under ``paths``, grouped by the model that ran it: model hash -> fitted entry."""
    by_model: dict[str, list[Decline]] = defaultdict(list)
    model_ids: dict[str, str] = {}
    files: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        if not path.exists():
            raise ConfigError(f"{path} not found. Fix: pass the --out folder of a `policybot eval --split dev` run.")
        for found in ([path] if path.is_file() else sorted(path.rglob("report.json"))):
            report = json.loads(found.read_text(encoding="utf-8"))
            run = report.get("run", {})
            if run.get("split") != "dev":
                raise ConfigError(f"{found} was run on split {run.get('split')!r}: declines are fitted on dev only. "
                                  "Fix: rerun the eval with --split dev.")
            if (run.get("settings") or {}).get("declines") != "none":
                raise ConfigError(f"{found} was run with some declines honoured, so its reports cannot show what the "
                                  "quote would have said. Fix: rerun the eval with POLICYBOT_DECLINES=none.")
            model_hash = str(run.get("model_hash", ""))
            if not model_hash:
                raise ConfigError(f"{found} does not say which model ran it. Fix: rerun the eval on this version.")
            by_model[model_hash] += declines_in(report)
            model_ids[model_hash] = str(run.get("model_id", ""))
            files[model_hash].append(f"{run.get('corpus', found.parent.name)}: {len(report.get('cases', []))} dev cases, "
                                     f"corpus {str(run.get('corpus_hash', '?'))[:8]}")
    fitted = datetime.now(UTC).isoformat(timespec="seconds")
    return {h: fit(ds) | {"model_id": model_ids[h], "reports": files[h], "fitted": fitted} for h, ds in by_model.items()}


def write_entries(path: Path, entries: Mapping[str, dict[str, Any]]) -> None:
    """Add (or replace) the entries of the models just fitted; other models' entries stay."""
    existing = read_entries(path) if path.exists() else {}
    existing.update(entries)
    doc = {"decision": "honour the model's decline", "label": "the credit of the quote that overrode a decline (fact_recall or answer_f1; 0 if unanswerable)",
           "models": existing}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
