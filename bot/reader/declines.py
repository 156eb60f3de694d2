"""Whether to honour the model's own "the evidence does not say it": a decision fitted per model on dev reports.

When the draft declines (it writes the decline marker) and none of its sentences survive the checks, the reader
either refuses, honouring the decline, or quotes the best evidence. How often a decline is right differs by model
and by question: measured on rgb_en test, Qwen2.5-Coder-0.5B's declines on answerable questions cost it
fact_recall (0.45 -> 0.39 against the bundled model) while the 1.5B model's declines caught noise-only questions.
So the decision is read off data, per model and per group of questions (``typed``: the question asks for a date,
number, name, place, organisation or amount; ``open``: the rest):

1. ``policybot eval --suite all --split dev --model M`` with ``POLICYBOT_DECLINES=none`` (every decline
   overridden, so each report shows whether the quote would have answered);
2. ``policybot calibrate --declines-from REPORTS...`` reads those reports and, in each group, weighs what honouring
   the declines would do to each corpus's figures against the quotes that overrode them: on an answerable question
   the refusal loses the quote's credit (its fact_recall, or its answer_f1 where the gold is a long span), on an
   unanswerable one it gains a refusal. The groups' declines are honoured (together, so their losses add up) only
   where that loses no corpus more than :data:`MAX_FIGURE_LOSS` of its answer figure and gains more refusals,
   summed over the corpora's figures, than it loses answers: a model's declines must not make any corpus's answers
   worse than quoting would (the product's rule for a bigger model: never worse than the default, which quotes).
   The entry, keyed by the model file's sha256, goes into ``bot/reader/calibration/declines.json`` with the figures
   it was fitted on.

A model with no entry, or a group with fewer than :data:`MIN_DECLINES` declines on dev, keeps :data:`PRIOR`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain, combinations
from pathlib import Path
from typing import Any

from bot.errors import ConfigError

DEFAULT_FILE = Path(__file__).parent / "calibration" / "declines.json"
GROUPS = ("typed", "open")
PRIOR = {"typed": True, "open": False}  # the decision before any fit: a typed question's decline is believed
# Not fitted: a floor on evidence. Below 10 declined dev cases the losses and gains rest on too few cases (one case
# moves a 10-case share by 0.1); the prior stands.
MIN_DECLINES = 10
# Not fitted: the eval gate's tolerance on fact_recall (bot/evaluate/report.py GATES, -0.03; about one case in 33). A
# decline policy that costs some corpus more of its answer figure than the gate would let a change cost it is refused.
MAX_FIGURE_LOSS = 0.03
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
    """One declined dev case whose decline was overridden: whether the question had an answer, and how much of the
    gold answer the quote held (0..1; 0 on an unanswerable question)."""

    corpus: str
    group: str
    quote_credit: float
    answerable: bool = True


@dataclass
class CorpusSize:
    """A corpus's dev cases in the reports, the denominators of its answer figure and of its refusal rate."""

    answerable: int = 0
    unanswerable: int = 0


def _answerable(case: Mapping[str, Any]) -> bool:
    return bool(case.get("answerable", True))  # a case that does not say counts as answerable


def _corpus(report: Mapping[str, Any], case: Mapping[str, Any]) -> str:
    return str((report.get("run") or {}).get("corpus") or str(case.get("id", "")).partition(":")[0])


def declines_in(report: Mapping[str, Any]) -> list[Decline]:
    """The declined, overridden cases of one eval report (a report run with ``POLICYBOT_DECLINES=none``), under the
    corpus the report names (else the prefix of the case id)."""
    out = []
    for case in report.get("cases", []):
        if not case.get("model_declined") or case.get("answer_source") != "quoted":
            continue  # not declined, or refused before the model: the decision was not this one
        credit = max(float(case.get("fact_recall") or 0.0), float(case.get("answer_f1") or 0.0))
        answerable = _answerable(case)
        out.append(Decline(_corpus(report, case), group_of(str(case.get("answer_type", ""))),
                           credit if answerable else 0.0, answerable))
    return out


def sizes_in(report: Mapping[str, Any], into: dict[str, CorpusSize] | None = None) -> dict[str, CorpusSize]:
    """Every case of one report counted by corpus, answerable or not (added to ``into`` when given)."""
    sizes = into if into is not None else {}
    for case in report.get("cases", []):
        size = sizes.setdefault(_corpus(report, case), CorpusSize())
        if _answerable(case):
            size.answerable += 1
        else:
            size.unanswerable += 1
    return sizes


def _effects(declines: list[Decline], size: CorpusSize) -> tuple[float, float]:
    """What honouring these declines does to one corpus: (its answer figure lost, its refusal rate gained). The
    declines are cases of the corpus, so a kind of decline never meets an empty count."""
    lost = sum(d.quote_credit for d in declines if d.answerable)
    refused = sum(1 for d in declines if not d.answerable)
    return (lost / size.answerable if size.answerable else 0.0,
            refused / size.unanswerable if size.unanswerable else 0.0)


def _net(effects: Mapping[str, tuple[float, float]]) -> float:
    """Refusal rate gained less answer figure lost, summed over the corpora."""
    return sum(gained - lost for lost, gained in effects.values())


def _best_honoured(effects: Mapping[str, Mapping[str, tuple[float, float]]]) -> tuple[str, ...]:
    """The groups to honour together: of every combination whose summed loss leaves no corpus more than
    :data:`MAX_FIGURE_LOSS` down (compared at the 4 places the file shows), the one of largest net gain, if above 0."""
    best: tuple[tuple[str, ...], float] = ((), 0.0)
    for chosen in chain.from_iterable(combinations(effects, r) for r in range(1, len(effects) + 1)):
        loss: dict[str, float] = defaultdict(float)
        for g in chosen:
            for corpus, (lost, _) in effects[g].items():
                loss[corpus] += lost
        net = round(sum(_net(effects[g]) for g in chosen), 4)
        if max(loss.values(), default=0.0) <= MAX_FIGURE_LOSS + 5e-5 and net > best[1]:
            best = (chosen, net)
    return best[0]


def fit(declines: Iterable[Decline], sizes: Mapping[str, CorpusSize]) -> dict[str, Any]:
    """Honour the declines of the groups whose joint effect costs no corpus more than :data:`MAX_FIGURE_LOSS` of its
    answer figure and gains more refusals than it loses answers, summed over the corpora (``sizes``: each corpus's
    dev cases); a group with fewer than :data:`MIN_DECLINES` declines keeps :data:`PRIOR`."""
    by: dict[str, dict[str, list[Decline]]] = defaultdict(lambda: defaultdict(list))
    for d in declines:
        by[d.group][d.corpus].append(d)
    missing = sorted({c for corpora in by.values() for c in corpora} - set(sizes))
    if missing:
        raise ConfigError(f"Declines of corpus {', '.join(missing)} but no count of its dev cases. Fix: pass that "
                          "corpus's whole report.json to `policybot calibrate --declines-from`.")
    effects, counts = {}, {}
    for group in GROUPS:
        corpora = by.get(group, {})
        n = sum(len(v) for v in corpora.values())
        effects[group] = {c: _effects(v, sizes[c]) for c, v in sorted(corpora.items())}
        counts[group] = {"declines": n,
                         "quote_credit": round(sum(d.quote_credit for v in corpora.values() for d in v) / n, 4) if n
                         else None,
                         "worst_answer_loss": round(max((lost for lost, _ in effects[group].values()), default=0.0), 4),
                         "net_gain": round(_net(effects[group]), 4),
                         "per_corpus": {c: {"declines": len(corpora[c]),
                                            "unanswerable": sum(not d.answerable for d in corpora[c]),
                                            "quote_credit": round(sum(d.quote_credit for d in corpora[c])
                                                                  / len(corpora[c]), 4),
                                            "answer_loss": round(lost, 4), "refusal_gain": round(gained, 4)}
                                        for c, (lost, gained) in effects[group].items()},
                         "decided_by": "fit" if n >= MIN_DECLINES else "prior (too few declines)"}
    decided = {g: effects[g] for g in GROUPS if counts[g]["decided_by"] == "fit"}
    honoured = _best_honoured(decided)
    honour = {g: (g in honoured) if g in decided else PRIOR[g] for g in GROUPS}
    return {"honour": honour, "fitted_on": counts}


def fit_reports(paths: Iterable[Path]) -> dict[str, dict[str, Any]]:
    """Every report.json under ``paths``, grouped by the model that ran it: model hash -> fitted entry."""
    by_model: dict[str, list[Decline]] = defaultdict(list)
    sizes: dict[str, dict[str, CorpusSize]] = defaultdict(dict)
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
            sizes_in(report, sizes[model_hash])
            model_ids[model_hash] = str(run.get("model_id", ""))
            files[model_hash].append(f"{run.get('corpus', found.parent.name)}: {len(report.get('cases', []))} dev cases, "
                                     f"corpus {str(run.get('corpus_hash', '?'))[:8]}")
    fitted = datetime.now(UTC).isoformat(timespec="seconds")
    return {h: fit(ds, sizes[h]) | {"model_id": model_ids[h], "reports": files[h], "fitted": fitted} for h, ds in by_model.items()}


def write_entries(path: Path, entries: Mapping[str, dict[str, Any]]) -> None:
    """Add (or replace) the entries of the models just fitted; other models' entries stay."""
    existing = read_entries(path) if path.exists() else {}
    existing.update(entries)
    doc = {"decision": "honour the model's decline", "label": "per corpus: the answer figure honouring the declines loses (the overriding quotes' fact_recall or "
                    "answer_f1) and the refusal rate it gains",
           "models": existing}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
