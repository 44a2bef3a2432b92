"""Fairness slices: every metric of the task per group of a column (``--slice-by sex``), with
the largest gap between groups flagged, so a model that serves one group worse is seen
before it ships.

The rows are predicted once; each group is then scored from its share of the predictions,
which gives the same numbers as ``predictor.evaluate`` on that group alone.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from accelml.core.metrics import Metric, get_metric, metrics_for
from accelml.core.task import Task, TaskKind, encode_target
from accelml.core.validation import close_matches
from accelml.errors import ConfigError, DataError, TargetError

if TYPE_CHECKING:
    from accelml.core.predictor import Predictor

#: A numeric slice column with more distinct values than this is cut into quantile bins.
MAX_VALUE_GROUPS = 10
#: How many quantile bins a many-valued numeric slice column is cut into.
QUANTILE_BINS = 4
#: The group label of rows whose slice value is missing.
MISSING = "(missing)"
#: The tasks whose metrics are computed row by row, and so per group.
SLICEABLE = frozenset({TaskKind.BINARY, TaskKind.MULTICLASS, TaskKind.REGRESSION})


@dataclass(frozen=True)
class SliceGap:
    """The largest difference of one metric between two groups of one slice column.

    Attributes:
        column: the slice column.
        metric: the metric's name.
        best_group: the group the model serves best on this metric.
        worst_group: the group it serves worst.
        best: the metric's value on ``best_group``.
        worst: its value on ``worst_group``.
        gap: ``abs(best - worst)``, in the metric's units.
    """

    column: str
    metric: str
    best_group: str
    worst_group: str
    best: float
    worst: float
    gap: float

    def describe(self) -> str:
        """One sentence for the report and the CLI."""
        return (f"{self.metric} differs most between {self.column} = {self.best_group!r} "
                f"({_number(self.best)}) and {self.column} = {self.worst_group!r} "
                f"({_number(self.worst)}): a gap of {_number(self.gap)}")


def _number(value: float) -> str:
    """A score to four decimals (values of 10 and more to one), tiny ones in exponent form."""
    size = abs(value)
    if 0 < size < 1e-3:
        return f"{value:.2e}"
    return f"{value:.4f}" if size < 10 else f"{value:,.1f}"


@dataclass(frozen=True)
class SliceReport:
    """Metrics per group of each slice column.

    Attributes:
        table: one row per (column, group): ``column``, ``group``, ``rows``, then one column
            per metric of the task, headline metric first (NaN where a group cannot be
            scored; ``notes`` says why).
        gaps: per slice column, the largest gap of each metric, headline metric first.
        metric: the task's headline metric.
        metrics: every metric's name, in the table's order.
        notes: what was decided on the way (quantile bins, rows left out, groups not scored).
    """

    table: pd.DataFrame
    gaps: list[SliceGap]
    metric: str
    metrics: list[str]
    notes: list[str] = field(default_factory=list)

    def headline_gaps(self) -> list[SliceGap]:
        """The headline metric's largest gap of each slice column: what to flag first."""
        return [gap for gap in self.gaps if gap.metric == self.metric]


def slice_metrics(predictor: Predictor, data: pd.DataFrame, columns: Sequence[str], *,
                  min_rows: int = 1) -> SliceReport:
    """Every metric of the task per group of each of ``columns`` in labelled ``data``.

    Groups with fewer than ``min_rows`` rows, and metrics a group cannot be scored on (ROC
    AUC of a group holding a single class), are NaN with a note rather than an error.
    """
    task = predictor.task
    _check_request(task, data, columns, min_rows)
    notes: list[str] = []
    labelled = _labelled(data, task, notes)
    groups = {str(column): _groups(labelled[column], str(column), notes) for column in columns}
    y = encode_target(labelled[task.target], task)
    prediction = predict_raw(predictor, labelled)
    ordered = _ordered_metrics(task)
    rows = []
    for column, labels in groups.items():
        for group in _group_order(labels):
            mask = (labels == group).to_numpy()
            scores = _score_group(ordered, y[mask], prediction[mask], task, min_rows,
                                  (column, group, notes))
            rows.append({"column": column, "group": group, "rows": int(mask.sum()), **scores})
    table = pd.DataFrame(rows, columns=["column", "group", "rows", *(m.name for m in ordered)])
    gaps = [gap for column in groups for gap in _gaps(table, column, ordered)]
    return SliceReport(table, gaps, task.metric, [m.name for m in ordered], notes)


def _check_request(task: Task, data: Any, columns: Sequence[str], min_rows: int) -> None:
    """Refuse what cannot be sliced, each with its fix, before any prediction."""
    if task.kind not in SLICEABLE:
        raise ConfigError(f"slices apply to classification and regression models; this one "
                          f"is a {task.kind.value} model: leave out --slice-by")
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"slices need a table of labelled rows (a DataFrame or a table "
                        f"file), got {type(data).__name__}")
    if isinstance(columns, str):
        raise ConfigError(f"pass the slice columns as a list, e.g. [{columns!r}], not a "
                          "single string")
    if not columns:
        raise ConfigError("name at least one column to slice by, e.g. --slice-by sex")
    if min_rows < 1:
        raise ConfigError(f"min_rows must be 1 or more, got {min_rows}")
    if task.target not in data.columns:
        raise TargetError(f"slices need labelled rows: the data has no target column "
                          f"{task.target!r}{close_matches(task.target, map(str, data.columns))}; "
                          f"pass rows with their {task.target!r} values")
    names = [str(c) for c in data.columns]
    for column in columns:
        if column not in data.columns:
            shown = ", ".join(repr(n) for n in names[:12]) + (" ..." if len(names) > 12 else "")
            raise ConfigError(f"slice column {column!r} is not in the data"
                              f"{close_matches(str(column), names)}; columns are: {shown}")


def _labelled(data: pd.DataFrame, task: Task, notes: list[str]) -> pd.DataFrame:
    """The rows with a target value; those without one are left out, and said."""
    labelled = data[data[task.target].notna()]
    if labelled.empty:
        raise TargetError(f"no row has a value in the target column {task.target!r}; slices "
                          "need labelled rows")
    if len(labelled) < len(data):
        notes.append(f"{len(data) - len(labelled):,} rows without a {task.target!r} value "
                     "were left out")
    return labelled


def _groups(values: pd.Series, column: str, notes: list[str]) -> pd.Series:
    """Each row's group label (text): the value, or its quantile bin for a numeric column
    with many values; missing values form their own group."""
    present = values.dropna()
    distinct = present.nunique()
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric and distinct > MAX_VALUE_GROUPS:
        labels, how = _bins(values)
        notes.append(f"{column}: numeric with {distinct:,} values, cut into "
                     f"{labels[labels != MISSING].nunique()} {how} bins")
    else:
        names = {value: _label(value) for value in present.unique()}
        if len(set(names.values())) < len(names):  # shortened labels would merge groups
            names = {value: str(value) for value in names}
        labels = values.map(names).where(values.notna(), MISSING)
    if labels.nunique() < 2:
        only = labels.iloc[0]
        raise ConfigError(f"slice column {column!r} has a single value {only!r}: nothing to "
                          "compare; pick a column with two or more groups")
    return labels.astype(str)


def _label(value: Any) -> str:
    """A group's label: numbers stored as floats short (3.0 -> '3', 0.05068011 -> '0.05068')."""
    if isinstance(value, float | np.floating):
        return f"{float(value):.4g}"
    return str(value)


def _bins(values: pd.Series) -> tuple[pd.Series, str]:
    """Quantile bins labelled by their bounds, e.g. '12.3 to 15.8'; equal-width bins where
    one value fills most quantiles (a column that is mostly zeros)."""
    numbers = values.astype(float)
    codes, edges = pd.qcut(numbers, QUANTILE_BINS, labels=False, retbins=True,
                           duplicates="drop")
    how = "quantile"
    if len(edges) < 3:
        codes, edges = pd.cut(numbers, QUANTILE_BINS, labels=False, retbins=True)
        how = "equal-width"
    names = [f"{low:.4g} to {high:.4g}" for low, high in zip(edges[:-1], edges[1:], strict=True)]
    labels = pd.Series(MISSING, index=values.index, dtype=object)
    known = codes.notna()
    labels[known] = [names[int(code)] for code in codes[known]]
    return labels, how


def _group_order(labels: pd.Series) -> list[str]:
    """Groups in a readable order: numbers and bins by value, others largest first; the
    missing group last."""
    counts = labels.value_counts()
    names = [name for name in counts.index if name != MISSING]
    try:
        order = sorted(names, key=lambda name: float(name.split(" to ")[0]))
    except ValueError:
        order = names  # value_counts: largest first
    return order + ([MISSING] if MISSING in counts.index else [])


def predict_raw(predictor: Predictor, rows: pd.DataFrame) -> np.ndarray:
    """The blend's prediction in the metrics' convention: probabilities or values. Columns
    the model does not read (often the slice columns themselves) are expected here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="ignored column")
        if predictor.task.kind.is_classification:
            return predictor.predict_proba(rows).to_numpy()
        return np.asarray(predictor.predict(rows), dtype=float)


def _ordered_metrics(task: Task) -> list[Metric]:
    """The task's metrics, headline first."""
    headline = get_metric(task.metric)
    return [headline, *(m for m in metrics_for(task.kind) if m.name != headline.name)]


def _score_group(metrics: list[Metric], y: np.ndarray, prediction: np.ndarray, task: Task,
                 min_rows: int, where: tuple[str, str, list[str]]) -> dict[str, float]:
    """Each metric on one group; NaN, with a note, for what the group cannot be scored on."""
    column, group, notes = where
    if len(y) < min_rows:
        notes.append(f"{column} = {group!r}: {len(y)} rows, under the {min_rows} needed to "
                     "score a group; its metrics are left blank")
        return {metric.name: float("nan") for metric in metrics}
    scores: dict[str, float] = {}
    blank: list[str] = []
    for metric in metrics:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. R² of one row: NaN, noted below
                value = metric.score(y, prediction, task)
        except ValueError:
            value = float("nan")
        scores[metric.name] = value
        if not np.isfinite(value):
            blank.append(metric.name)
    if blank:
        why = "a single class" if task.kind.is_classification and len(np.unique(y)) < 2 \
            else f"{len(y)} rows"
        notes.append(f"{column} = {group!r}: {', '.join(blank)} cannot be computed on "
                     f"{why}; left blank")
    return scores


def _gaps(table: pd.DataFrame, column: str, metrics: list[Metric]) -> list[SliceGap]:
    """The largest gap of each metric between the groups of ``column`` that have a value."""
    part = table[table["column"] == column]
    gaps = []
    for metric in metrics:
        scored = part[np.isfinite(part[metric.name].astype(float))]
        if len(scored) < 2:
            continue
        values = scored[metric.name].astype(float)
        best = scored.loc[values.idxmax() if metric.greater_is_better else values.idxmin()]
        worst = scored.loc[values.idxmin() if metric.greater_is_better else values.idxmax()]
        gaps.append(SliceGap(column, metric.name, str(best["group"]), str(worst["group"]),
                             float(best[metric.name]), float(worst[metric.name]),
                             abs(float(best[metric.name]) - float(worst[metric.name]))))
    return gaps
