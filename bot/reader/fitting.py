"""Fitting the reader's models on dev data (run by ``policybot calibrate``, never while answering).

``fit_answerability`` fits the answerability decision (weighted logistic regression by IRLS, threshold by
Youden's J), ``fit_sentences`` the sentence model (a conditional logit over each question's candidates, by Adam);
every corpus weighs the same. Both report their dev figures (AUC, top-1) in the file's ``fitted_on``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bot.evaluate.metrics import auc
from bot.reader.calibration import FEATURES, Calibration
from bot.reader.sentence_model import SENTENCE_FEATURES, SentenceModel


def fit_logistic(x: np.ndarray, y: np.ndarray, weight: np.ndarray, l2: float = 1.0,
                 iterations: int = 50) -> tuple[np.ndarray, float]:
    """Weighted, L2-regularised logistic regression by Newton's method (IRLS) on standardised ``x``."""
    n, d = x.shape
    a = np.hstack([x, np.ones((n, 1))])
    beta = np.zeros(d + 1)
    reg = np.eye(d + 1) * l2
    reg[-1, -1] = 0.0  # the bias is not shrunk
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(a @ beta, -30, 30)))
        grad = a.T @ (weight * (p - y)) + reg @ beta
        hess = (a * (weight * p * (1 - p))[:, None]).T @ a + reg
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta[:-1], float(beta[-1])


def best_threshold(p: np.ndarray, y: np.ndarray, weight: np.ndarray) -> float:
    """The threshold with the highest weighted Youden J (true-answer rate minus wrong-answer rate)."""
    pos, neg = weight * (y == 1), weight * (y == 0)
    if pos.sum() == 0 or neg.sum() == 0:
        return 0.5
    best, best_j = 0.5, -1.0
    for t in np.unique(np.round(p, 4)):
        j = pos[p >= t].sum() / pos.sum() - neg[p >= t].sum() / neg.sum()
        if j > best_j + 1e-12:
            best, best_j = float(t), float(j)
    return best


def fit_answerability(x: np.ndarray, y: np.ndarray, groups: Sequence[str], l2: float = 1.0) -> Calibration:
    """Fit on rows ``x`` (FEATURES order) with labels ``y``; every group (corpus) weighs the same in all."""
    names = sorted(set(groups))
    count = {g: sum(1 for h in groups if h == g) for g in names}
    weight = np.array([len(groups) / (len(names) * count[g]) for g in groups])
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    w, b = fit_logistic((x - mean) / scale, y, weight, l2)
    cal = Calibration(FEATURES, mean.tolist(), scale.tolist(), w.tolist(), b, 0.5)
    p = np.array([cal.p_answerable(row) for row in x])
    cal.threshold = best_threshold(p, y, weight)
    per: dict[str, Any] = {}
    for g in names:
        idx = [i for i, h in enumerate(groups) if h == g]
        yy, pp = y[idx], p[idx]
        decided = pp >= cal.threshold
        per[g] = {"cases": len(idx), "answerable_found": int(yy.sum()), "auc": auc(pp.tolist(), yy.astype(int).tolist()),
                  "accuracy": float((decided == (yy == 1)).mean()),
                  "answered_when_found": float(decided[yy == 1].mean()) if yy.sum() else None,
                  "refused_when_not": float((~decided[yy == 0]).mean()) if (yy == 0).sum() else None}
    cal.fitted_on = {"per_corpus": per, "auc_all": auc(p.tolist(), y.astype(int).tolist()), "l2": l2}
    return cal


def fit_sentences(rows: list[list[float]], labels: list[int], question: list[int], groups: list[str],
                  l2: float = 0.01) -> Calibration:
    """Fit the sentence model (:func:`fit_listwise`) on candidate rows; ``question`` numbers each row's question
    (unique across corpora), ``groups`` names its corpus; every corpus weighs the same."""
    x, y = np.array(rows, dtype=float), np.array(labels, dtype=float)
    answered = {g: len({q for q, lab, h in zip(question, labels, groups, strict=True) if lab and h == g})
                for g in set(groups)}
    weight = np.array([1.0 / max(1, answered[g]) for g in groups])
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    w = fit_listwise((x - mean) / scale, question, y, weight, l2)
    cal = Calibration(SENTENCE_FEATURES, mean.tolist(), scale.tolist(), w.tolist(), 0.0, 0.0)
    model = SentenceModel(cal)
    z = np.array(model.logits(rows))
    top1: dict[str, list[int]] = {}
    for q in sorted(set(question)):
        idx = [i for i, qq in enumerate(question) if qq == q]
        if any(labels[i] for i in idx):
            best = max(idx, key=lambda i: (z[i], -labels[i]))  # ties count against the model
            top1.setdefault(groups[idx[0]], []).append(labels[best])
    cal.fitted_on = {"l2": l2, "label": "the sentence holds a gold answer", "objective": "conditional logit",
                     "per_corpus": {g: {"candidates": groups.count(g), "questions_with_answer": answered[g],
                                        "top1_holds_answer": round(sum(top1.get(g, [])) / max(1, answered[g]), 4)}
                                    for g in sorted(set(groups))}}
    return cal


def fit_listwise(x: Any, question: Sequence[int], y: Any, weight: Any, l2: float = 1.0,
                 steps: int = 800, rate: float = 0.05) -> Any:
    """Weights ``w`` maximising, over questions with an answer among their candidates, the log-probability that
    the softmax of ``x @ w`` within the question picks a sentence that holds the answer (a conditional logit,
    L2-penalised, fitted by Adam). ``x`` is standardised; ``weight`` is one weight per question."""
    qs = np.asarray(question)
    groups = [np.flatnonzero(qs == q) for q in np.unique(qs)]
    groups = [g for g in groups if y[g].any() and not y[g].all()]
    w = np.zeros(x.shape[1])
    m, v = np.zeros_like(w), np.zeros_like(w)
    total = sum(weight[g[0]] for g in groups) or 1.0
    for t in range(1, steps + 1):
        grad = l2 * w
        for g in groups:
            s = x[g] @ w
            p = np.exp(s - s.max())
            p /= p.sum()
            r = p * y[g]
            r /= r.sum()
            grad -= weight[g[0]] / total * (x[g].T @ (r - p)) * len(groups)
        grad /= len(groups)
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad * grad
        w -= rate * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    return w
