"""The target leakage check: a feature that alone predicts the target almost perfectly on
held-out rows, or copies it. One-feature models (per-value or per-bin target means, and a
straight line for numbers) are fitted on half a sample and scored on the other half."""

from __future__ import annotations

import math

import numpy as np

from accelml.explain.audit.findings import Finding
from accelml.explain.audit.table import _Column, _Table
from accelml.explain.audit.thresholds import (
    COPY_CORRELATION,
    LEAK_AUC,
    LEAK_R2,
    MIN_ROWS,
    MODEL_ROWS,
)
from accelml.explain.audit.wording import _q


def _leakage_findings(table: _Table) -> list[Finding]:
    """Features that alone predict the target almost perfectly on held-out rows, or that
    copy it: a one-feature model (the per-value or per-bin target mean of one half of a
    sample, or for numbers and a numeric target a straight line) scored on the other half,
    both ways."""
    target = table.target
    if target is None or table.task is None:
        return []
    regression = table.task == "regression"
    present = ~np.isnan(target.numbers) if regression else target.codes >= 0  # type: ignore
    rows = np.flatnonzero(present)
    if len(rows) < MIN_ROWS:
        return []
    rng = np.random.default_rng(table.seed)
    if len(rows) > MODEL_ROWS:
        rows = np.sort(rng.choice(rows, MODEL_ROWS, replace=False))
    y = target.numbers[rows] if regression else target.codes[rows]  # type: ignore[index]
    fold = rng.permutation(len(rows)) % 2 == 0
    findings = []
    for column in table.features:
        if column.n_distinct < 2 or column.kind == "text":
            continue
        score = _held_out_score(_model_codes(column, rows), y, fold, regression)
        if regression and column.numbers is not None:
            score = max(score, _line_r2(column.numbers[rows], y, fold), key=_finite)
        found = _leak_finding(column, target, table.task, score, _copies(column, rows, y,
                                                                         regression))
        findings += [found] if found else []
    return findings


def _model_codes(column: _Column, rows: np.ndarray) -> np.ndarray:
    """Codes 0.. of a column on the sample: its values, or quantile bins of numbers with
    many values; missing is a value of its own (missingness can leak too)."""
    bins = int(np.clip(len(rows) // 8, 4, 256))
    if column.numbers is None or column.n_distinct <= bins:
        codes: np.ndarray = column.codes[rows] + 1
        return codes
    x = column.numbers[rows]
    known = ~np.isnan(x)
    edges = np.unique(_quantiles(x[known], np.linspace(0, 1, bins + 1)[1:-1]))
    return np.where(known, np.searchsorted(edges, np.where(known, x, 0)) + 1, 0)


def _quantiles(x: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Lower quantiles by one sort (np.quantile partitions once per probability)."""
    ordered = np.sort(x)
    picked: np.ndarray = ordered[np.floor(probs * (len(ordered) - 1)).astype(np.int64)]
    return picked


def _held_out_score(codes: np.ndarray, y: np.ndarray, fold: np.ndarray,
                    regression: bool) -> float:
    """The mean over both halves of the other half's score (R² or ROC AUC)."""
    scores = []
    for train in (fold, ~fold):
        if regression:
            scores.append(_r2(codes, y, train))
        else:
            scores.append(_auc(codes, y, train))
    finite = [s for s in scores if not math.isnan(s)]
    return float(np.mean(finite)) if finite else math.nan


def _line_r2(x: np.ndarray, y: np.ndarray, fold: np.ndarray) -> float:
    """Held-out R² of a least-squares line through one numeric feature (a bin model is
    coarse where a derived column follows the target proportionally into a long tail)."""
    known = ~np.isnan(x)
    scores = []
    for train in (fold & known, ~fold & known):
        held = known & ~train
        if train.sum() < MIN_ROWS // 2 or held.sum() < MIN_ROWS // 2 or np.std(x[train]) == 0:
            continue
        slope, intercept = np.polyfit(x[train], y[train], 1)
        truth = y[held]
        spread = float(np.sum((truth - truth.mean()) ** 2))
        if spread > 0:
            error = float(np.sum((truth - slope * x[held] - intercept) ** 2))
            scores.append(1.0 - error / spread)
    return float(np.mean(scores)) if scores else math.nan


def _finite(score: float) -> float:
    return -math.inf if math.isnan(score) else score


def _r2(codes: np.ndarray, y: np.ndarray, train: np.ndarray) -> float:
    k = int(codes.max()) + 1
    prior = float(y[train].mean())
    sums = np.bincount(codes[train], weights=y[train], minlength=k)
    counts = np.bincount(codes[train], minlength=k)
    means = np.where(counts > 0, sums / np.maximum(counts, 1), prior)  # unseen: the mean
    held = ~train
    truth = y[held]
    spread = float(np.sum((truth - truth.mean()) ** 2))
    if spread <= 0:
        return math.nan
    return 1.0 - float(np.sum((truth - means[codes[held]]) ** 2)) / spread


def _auc(codes: np.ndarray, y: np.ndarray, train: np.ndarray) -> float:
    """Macro one-vs-rest ROC AUC of per-code class rates, from per-code counts (ties are
    half-credited, as in the Mann-Whitney statistic)."""
    k, n_classes = int(codes.max()) + 1, int(y.max()) + 1
    fit = np.bincount(codes[train] * n_classes + y[train],
                      minlength=k * n_classes).reshape(k, n_classes)
    held = np.bincount(codes[~train] * n_classes + y[~train],
                       minlength=k * n_classes).reshape(k, n_classes)
    prior = fit.sum(axis=0) / max(fit.sum(), 1)
    rates = (fit + prior) / (fit.sum(axis=1, keepdims=True) + 1)
    classes = range(1, 2) if n_classes == 2 else range(n_classes)
    aucs = [_grouped_auc(rates[:, c], held[:, c], held.sum(axis=1) - held[:, c])
            for c in classes]
    found = [a for a in aucs if not math.isnan(a)]
    return float(np.mean(found)) if found else math.nan


def _grouped_auc(scores: np.ndarray, positives: np.ndarray, negatives: np.ndarray) -> float:
    _, group = np.unique(scores, return_inverse=True)
    pos = np.bincount(group, weights=positives)
    neg = np.bincount(group, weights=negatives)
    pairs = pos.sum() * neg.sum()
    if pairs == 0:
        return math.nan
    below = np.cumsum(neg) - neg
    return float(np.sum(pos * (below + 0.5 * neg)) / pairs)


def _copies(column: _Column, rows: np.ndarray, y: np.ndarray, regression: bool) -> str | None:
    """How a column copies the target, if it does: a near-perfect correlation with a
    numeric target, or values that map one-to-one onto the classes."""
    if regression:
        if column.numbers is None:
            return None
        x = column.numbers[rows]
        known = ~np.isnan(x)
        if known.sum() < MIN_ROWS or np.std(x[known]) == 0 or np.std(y[known]) == 0:
            return None
        r = float(np.corrcoef(x[known], y[known])[0, 1])
        return f"correlation {r:.3f}" if abs(r) >= COPY_CORRELATION else None
    codes = column.codes[rows]
    known = codes >= 0
    n_classes = len(np.unique(y))
    if column.n_distinct != n_classes or known.sum() < MIN_ROWS:
        return None
    pairs = len(np.unique(codes[known] * n_classes + y[known]))
    return "its values map one-to-one onto the classes" if pairs == n_classes else None


def _leak_finding(column: _Column, target: _Column, task: str, score: float,
                  copy: str | None) -> Finding | None:
    regression = task == "regression"
    levels = LEAK_R2 if regression else LEAK_AUC
    metric = "R²" if regression else "ROC AUC"
    if copy is None and not (score >= levels[1]):
        return None
    severity = "high" if copy is not None or score >= levels[0] else "medium"
    q, t = _q(column.name), _q(target.name)
    figure = "" if math.isnan(score) else f" {metric} {score:.3f}"
    head = (f"column {q} is a near-copy of the target {t} ({copy}; held-out{figure})"
            if copy else f"column {q} alone predicts {t} with held-out{figure}")
    return Finding(
        "target_leakage", severity, column.name,
        f"{head}; the better of two one-feature models (the target mean per value or bin "
        f"of {q}, and for numbers a straight line), fitted on half the rows and scored on "
        "the other half",
        f"check that {q} is known when predictions are made, before the target is: if it is "
        f"recorded after the outcome or derived from it, drop it (data.drop(columns=[{q}])); "
        "if it is genuinely this predictive, the problem may be simpler than it looks")
