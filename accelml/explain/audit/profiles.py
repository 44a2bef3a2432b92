"""The data profile saved with a model and the drift check that compares new data with it:
per column its missing share and its decile bins or top category shares, then the
population stability index, absent columns and changes of the missing share."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from accelml.core.validation import check_target_column, close_matches
from accelml.errors import DataError
from accelml.explain.audit.findings import Finding, _sorted
from accelml.explain.audit.leakage import _quantiles
from accelml.explain.audit.table import _check_frame, _Column, _per_row, _sample, _summarize
from accelml.explain.audit.thresholds import (
    DRIFT_Z,
    MISSING_DRIFT,
    MODEL_ROWS,
    NOTABLE_SHARE,
    PROFILE_BINS,
    PROFILE_VALUES,
    PSI_LEVELS,
)
from accelml.explain.audit.wording import _key, _num, _pct, _q, _rounded

_NUMERIC_KINDS = ("numeric", "datetime")


def profile(data: pd.DataFrame, target: str | None = None) -> dict[str, Any]:
    """A small JSON-ready summary of each feature column (and of the target), saved with a
    model so that later data can be checked for drift without keeping the training data.

    Numbers keep their decile edges, the share of rows between them, the median and range;
    categories and texts the shares of their most frequent values and of the rest; every
    column its share of missing values.
    """
    frame = _check_frame(data, "data")
    if target is not None:
        check_target_column(frame.columns, target)
    frame = _sample(frame, MODEL_ROWS, 0)  # shares to within a percent; drift allows for it
    columns = {}
    summary: dict[str, Any] | None = None
    for position, name in enumerate(frame.columns):
        column = _summarize(frame.iloc[:, position], str(name), position)
        if str(name) == target:
            summary = _column_profile(column)
        else:
            columns[str(name)] = _column_profile(column)
    return {"version": 1, "rows": int(len(frame)), "target": target,
            "target_summary": summary, "columns": columns}


def drift(profile: Mapping[str, Any], data: pd.DataFrame) -> list[Finding]:
    """Where ``data`` differs from the training data summarised in ``profile``.

    Per column: the population stability index (PSI) over the saved bins or category shares
    (> 0.25 high, > 0.1 medium, and only where chance cannot explain it at this many rows),
    training columns missing from ``data``, and changes of the share of missing values. The
    target is compared too when ``data`` holds it.
    """
    frame = _check_frame(data, "data")
    if not isinstance(profile, Mapping) or not isinstance(profile.get("columns"), Mapping):
        raise DataError("the drift check needs a data profile as saved with a model (a "
                        "mapping with 'columns'); build one with accelml.explain.audit.profile")
    present = {str(c): i for i, c in enumerate(frame.columns)}
    expected = dict(profile["columns"])
    target = profile.get("target")
    if target is not None and profile.get("target_summary") and target in present:
        expected[str(target)] = profile["target_summary"]
    findings: list[Finding] = []
    base_rows = int(profile.get("rows") or 1)
    for name, saved in expected.items():
        if name not in present:
            findings.append(_absent_column(name, list(frame.columns)))
            continue
        column = _summarize(frame.iloc[:, present[name]], name, present[name])
        findings += _column_drift(column, saved, base_rows)
    return _sorted(findings, present)


def _column_profile(column: _Column) -> dict[str, Any]:
    """The summary of one column that :func:`drift` compares new data with."""
    entry: dict[str, Any] = {"kind": column.kind, "missing": round(column.missing_share, 6)}
    if column.kind in _NUMERIC_KINDS and column.numbers is not None:
        x = column.numbers[~np.isnan(column.numbers)]
        if len(x) == 0:
            return {**entry, "edges": [], "shares": []}
        edges = np.unique(_quantiles(x, np.linspace(0, 1, PROFILE_BINS + 1)[1:-1]))
        shares = np.bincount(np.searchsorted(edges, x), minlength=len(edges) + 1) / len(x)
        return {**entry, "edges": [float(e) for e in edges], "shares": _rounded(shares),
                "median": float(np.median(x)), "min": float(x.min()), "max": float(x.max())}
    keys = [_key(v) for v in column.uniques]
    counts = pd.Series(column.counts, index=keys).groupby(level=0).sum()
    top = counts.sort_values(ascending=False, kind="stable").head(PROFILE_VALUES)
    top = top / max(column.n_present, 1)
    return {**entry, "values": list(top.index), "shares": _rounded(top.to_numpy()),
            "other": round(float(max(0.0, 1.0 - top.sum())), 6)}


def _column_drift(column: _Column, saved: Mapping[str, Any], base_rows: int) -> list[Finding]:
    findings = []
    before, after = float(saved.get("missing", 0.0)), column.missing_share
    moved = _missing_moved(before, after, column.n_rows, base_rows)
    if moved is not None:
        findings.append(Finding(
            "drift", moved, column.name,
            f"column {_q(column.name)} is missing in {_pct(after)} of rows, against "
            f"{_pct(before)} in training", "check the pipeline that fills this column: a "
            "change in how often it is missing often means a broken source"))
    if column.n_present == 0:
        return findings
    if "edges" in saved:
        expected, observed, what = _numeric_shift(column, saved)
    else:
        expected, observed, what = _category_shift(column, saved)
    if len(expected) < 2:
        return findings
    psi = _psi(expected, observed, (base_rows, column.n_present))
    noise = _chi2_999(len(expected) - 1) * (1 / column.n_present + 1 / base_rows)
    if psi > PSI_LEVELS[0] and psi > noise:
        findings.append(Finding(
            "drift", "high" if psi > PSI_LEVELS[1] else "medium", column.name,
            f"column {_q(column.name)} drifted from training: PSI {psi:.2f}; {what}",
            "check whether the new data comes from the same source and population; if the "
            "change is real and lasting, retrain on recent data"))
    return findings


def _numeric_shift(column: _Column, saved: Mapping[str, Any]
                   ) -> tuple[np.ndarray, np.ndarray, str]:
    edges = np.asarray(saved["edges"], dtype=np.float64)
    expected = np.asarray(saved["shares"], dtype=np.float64)
    x = column.numbers if column.numbers is not None else _coerced(column)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return expected, np.zeros_like(expected), "none of its values is a number any more"
    observed = np.bincount(np.searchsorted(edges, x), minlength=len(edges) + 1) / len(x)
    date = saved.get("kind") == "datetime"
    what = (f"the median went from {_num(saved.get('median', math.nan), date)} to "
            f"{_num(float(np.median(x)), date)}")
    above = float(np.mean(x > saved.get("max", math.inf)))
    below = float(np.mean(x < saved.get("min", -math.inf)))
    if above >= NOTABLE_SHARE:
        what += (f"; {_pct(above)} of values exceed the training maximum "
                 f"{_num(saved['max'], date)}")
    if below >= NOTABLE_SHARE:
        what += (f"; {_pct(below)} lie below the training minimum "
                 f"{_num(saved['min'], date)}")
    return expected, observed, what


def _coerced(column: _Column) -> np.ndarray:
    """Numbers of a column that arrived as other values (unreadable ones are missing)."""
    per_unique = pd.to_numeric(pd.Series(column.uniques.astype(object)), errors="coerce")
    return _per_row(column, per_unique.to_numpy(np.float64))


def _category_shift(column: _Column, saved: Mapping[str, Any]
                    ) -> tuple[np.ndarray, np.ndarray, str]:
    values = [str(v) for v in saved["values"]]
    keys = pd.Series(column.counts, index=[_key(v) for v in column.uniques])
    keys = keys.groupby(level=0).sum() / max(column.n_present, 1)
    observed = np.array([float(keys.get(v, 0.0)) for v in values] + [0.0])
    observed[-1] = max(0.0, 1.0 - observed[:-1].sum())
    expected = np.array([float(s) for s in saved["shares"]] + [float(saved["other"])])
    change = np.abs(observed - expected)
    i = int(change.argmax())
    name = (f"the share of {values[i]!r}" if i < len(values)
            else "the share of other values (rare or unseen in training)")
    return expected, observed, f"{name} went from {_pct(expected[i])} to {_pct(observed[i])}"


def _psi(expected: np.ndarray, observed: np.ndarray, rows: tuple[int, int]) -> float:
    """PSI between shares of ``rows`` (training, new) rows, each count given half a row
    (an empty bin of a small sample would otherwise weigh without bound)."""
    def smoothed(shares: np.ndarray, n: int) -> np.ndarray:
        return (shares * n + 0.5) / (n + 0.5 * len(shares))

    e, o = smoothed(expected, rows[0]), smoothed(observed, rows[1])
    return float(np.sum((o - e) * np.log(o / e)))


def _chi2_999(dof: int) -> float:
    """The chi-square quantile at 0.999 (Wilson-Hilferty): PSI times the effective rows
    follows it roughly when nothing moved, so smaller PSIs are sampling noise."""
    k = max(dof, 1)
    return float(k * (1 - 2 / (9 * k) + DRIFT_Z * math.sqrt(2 / (9 * k))) ** 3)


def _missing_moved(before: float, after: float, rows: int, base_rows: int) -> str | None:
    change = abs(after - before)
    pooled = (before * base_rows + after * rows) / (base_rows + rows)
    noise = DRIFT_Z * math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / rows + 1 / base_rows))
    if change < MISSING_DRIFT[0] or change <= noise:
        return None
    return "high" if change >= MISSING_DRIFT[1] else "medium"


def _absent_column(name: str, columns: Sequence[Any]) -> Finding:
    hint = close_matches(name, [str(c) for c in columns])
    return Finding("drift", "high", name,
                   f"column {_q(name)} of the training data is absent from the new data{hint}",
                   f"add {_q(name)} (empty values are allowed): the model reads every "
                   "training column, and a renamed column counts as absent")
