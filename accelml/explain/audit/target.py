"""The checks of the target column: rows without a target, class imbalance and tiny
classes for classification, and for regression outliers, caps and floors, and a skew
that asks for a log."""

from __future__ import annotations

import numpy as np

from accelml.explain.audit.findings import Finding
from accelml.explain.audit.table import _Column, _Table
from accelml.explain.audit.thresholds import (
    IMBALANCE,
    MIN_CLASS_ROWS,
    MIN_ROWS,
    NOTABLE_SHARE,
    OUTLIER_IQR,
)
from accelml.explain.audit.wording import _count, _num, _pct, _q, _short


def _target_findings(table: _Table) -> list[Finding]:
    target = table.target
    if target is None:
        return []
    findings = []
    absent = target.n_rows - target.n_present
    if absent:
        q = _q(target.name)
        share = absent / target.n_rows
        findings.append(Finding(
            "missing", "medium" if share >= 0.1 else "low", target.name,
            f"{_count(absent, 'row')} ({_pct(share)}) without a value of the target {q}",
            f"fill in {q} for these rows or leave them out: fitting drops rows without a "
            "target"))
    if table.task in ("binary", "multiclass"):
        findings += _class_findings(target)
    elif target.numbers is not None:
        findings += _outlier_findings(target)
    return findings


def _class_findings(target: _Column) -> list[Finding]:
    counts, labels = target.counts, [_short(v) for v in target.uniques]
    small, large = int(counts.argmin()), int(counts.argmax())
    ratio = counts[small] / counts[large]
    q, total = _q(target.name), target.n_present
    findings = []
    if ratio < IMBALANCE[0]:
        findings.append(Finding(
            "class_imbalance", "high" if ratio < IMBALANCE[1] else "medium", target.name,
            f"the smallest class {labels[small]!r} of {q} has {_pct(counts[small] / total)} "
            f"of rows ({int(counts[small]):,} of {total:,}); the largest, "
            f"{labels[large]!r}, has {_pct(counts[large] / total)}",
            "judge models by a metric fair to rare classes (ROC AUC, log loss, "
            "balanced_accuracy; --metric NAME) rather than accuracy, and collect more rows "
            "of the rare class if you can"))
    rare = [i for i in np.argsort(counts) if counts[i] < MIN_CLASS_ROWS]
    if rare:
        named = ", ".join(f"{labels[i]!r} ({int(counts[i])})" for i in rare[:5])
        findings.append(Finding(
            "class_imbalance", "medium", target.name,
            f"{_count(len(rare), 'class')} of {q} with fewer than {MIN_CLASS_ROWS} rows: "
            f"{named}",
            "collect more rows of these classes, merge them with a similar class, or drop "
            "them: a class this small is barely learned, and validation folds see one or "
            "two of its rows"))
    return findings


def _outlier_findings(target: _Column) -> list[Finding]:
    """One value standing for many (a cap, a floor, a code), then values far outside the
    middle half (3 IQR fences), on a log scale for a skewed non-negative target (where a
    long tail is the distribution, not outliers)."""
    numbers = target.numbers if target.numbers is not None else np.zeros(0)
    y = numbers[~np.isnan(numbers)]
    if len(y) < MIN_ROWS:
        return []
    findings: list[Finding] = []
    spike = _spike(y, target.name)
    if spike is not None:  # its rows are explained: the rest is checked for outliers
        findings.append(spike[0])
        y = y[y != spike[1]]
    logged = _skew(y) > 1 and y.min() >= 0
    scaled = (np.log(y) if y.min() > 0 else np.log1p(y)) if logged else y
    q1, q3 = np.quantile(scaled, [0.25, 0.75])
    iqr = q3 - q1
    far = (scaled < q1 - OUTLIER_IQR * iqr) | (scaled > q3 + OUTLIER_IQR * iqr)
    if iqr <= 0 or not far.any():
        skewed = _skewed(y, target.name)
        return findings + ([skewed] if skewed else [])
    share, q = float(far.mean()), _q(target.name)
    values, counts = np.unique(y[far], return_counts=True)
    most = (f" ({int(counts.max()):,} of them equal {_num(values[counts.argmax()])})"
            if counts.max() >= max(2, far.sum() / 2) else "")
    inside = y[~far]
    apart = _apart(scaled, far, iqr)
    shape = "" if apart else "; they continue the tail without a gap"
    findings.append(Finding(
        "target_outliers", "medium" if share >= NOTABLE_SHARE and apart else "low",
        target.name,
        f"{int(far.sum()):,} values of {q} ({_pct(share)}) lie beyond {OUTLIER_IQR:g} "
        f"interquartile ranges of the middle half{' on a log scale' if logged else ''}"
        f"{most}: the other values span {_num(inside.min())} .. {_num(inside.max())} "
        f"(median {_num(np.median(y))}), the far ones reach {_num(values[0])} and "
        f"{_num(values[-1])}{shape}{_log_hint(y, q)}",
        "check the far values for entry errors or codes standing for 'unknown'; if "
        "they are real, RMSE (the default metric) weighs them heavily: consider --metric "
        "mae, or training on the log of the target and inverting the predictions"))
    return findings


def _apart(scaled: np.ndarray, far: np.ndarray, iqr: float) -> bool:
    """Whether the far values stand apart from the rest (a gap of half an interquartile
    range on their side) rather than continuing a smooth tail."""
    inside = scaled[~far]
    above, below = scaled[far & (scaled > inside.max())], scaled[far & (scaled < inside.min())]
    gap_above = len(above) > 0 and above.min() - inside.max() > iqr / 2
    gap_below = len(below) > 0 and inside.min() - below.max() > iqr / 2
    return bool(gap_above or gap_below)


def _skew(y: np.ndarray) -> float:
    """Sample skewness (0 for constant values)."""
    spread = float(np.std(y))
    return float(np.mean((y - y.mean()) ** 3)) / spread**3 if spread > 0 else 0.0


def _log_hint(y: np.ndarray, q: str) -> str:
    """A hint to predict the log when the target is right-skewed, non-negative and its
    log is much less skewed; else empty."""
    skew = _skew(y)
    if skew <= 2 or y.min() < 0:
        return ""
    name, logged = (f"log({q})", np.log(y)) if y.min() > 0 else (f"log1p({q})", np.log1p(y))
    if abs(_skew(logged)) > skew / 2:
        return ""
    return f"; skew {skew:.1f}, {_skew(logged):.1f} for {name}: predicting {name} may fit better"


def _skewed(y: np.ndarray, name: str) -> Finding | None:
    hint = _log_hint(y, _q(name))
    if not hint:
        return None
    return Finding("target_outliers", "low", name,
                   f"{_q(name)} is strongly right-skewed (median {_num(np.median(y))}, "
                   f"maximum {_num(y.max())}), a long tail rather than outliers{hint}",
                   "consider training on the log of the target and inverting the "
                   "predictions, or --metric mae: errors on the large values dominate RMSE")


def _spike(y: np.ndarray, name: str) -> tuple[Finding, float] | None:
    """One value held by many more rows than any other in a target of many values: a
    cap (at the maximum), a floor (the minimum) or a code, not a measurement."""
    values, counts = np.unique(y, return_counts=True)
    if len(values) < 50:
        return None
    order = np.argsort(counts)
    top, second = int(counts[order[-1]]), int(counts[order[-2]])
    share = top / len(y)
    if share < NOTABLE_SHARE or top < 5 * second:
        return None
    value = float(values[order[-1]])
    role = ("its maximum: the target looks capped (larger values recorded as the cap)"
            if value == values[-1] else "its minimum: the target looks floored"
            if value == values[0] else "a code, default or bracket bound, not a measurement")
    return Finding(
        "target_outliers", "medium", name,
        f"{_pct(share)} of the values of {_q(name)} ({top:,} rows) equal {_num(value)}, "
        f"{top / second:.0f} times as many as any other value; {role}",
        "find out what the value stands for: leave those rows out, or keep them knowing "
        "that predictions will cluster at it and cannot go beyond a cap"), value
