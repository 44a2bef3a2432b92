"""The data audit: what a careful analyst checks in a table before trusting a model on it.

Every check reads the data once, cheaply (fits run it inside their time budget): leakage
(a feature that alone predicts the target almost perfectly, or copies it), identifiers,
duplicated rows and conflicting labels, rows shared with a test set, constant and
near-constant columns, missing values, class imbalance, high-cardinality categories and
target outliers. :func:`profile` keeps a small summary of the training columns in the run
record, so that :func:`drift` can later compare new data with it without the training data.

Only the core is imported here: the tabular modality runs the audit, so the audit cannot
lean on it (the import layers in ``pyproject.toml``); its column reading is its own and
lighter than the preprocessor's.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import (
    is_bool_dtype,
    is_datetime64_any_dtype,
    is_numeric_dtype,
    is_timedelta64_dtype,
)

from accelml.core.task import infer_task
from accelml.core.validation import check_target_column, close_matches
from accelml.errors import ConfigError, DataError, TargetError

try:  # pandas >= 2.2
    from pandas.tseries.api import guess_datetime_format
except ImportError:  # pragma: no cover - pandas 2.1
    from pandas._libs.tslibs.parsing import guess_datetime_format

CHECKS = ("target_leakage", "id_like", "duplicate_rows", "train_test_overlap", "constant",
          "near_constant", "missing", "class_imbalance", "high_cardinality", "target_outliers",
          "drift")
SEVERITIES = ("high", "medium", "low")
TASKS = ("binary", "multiclass", "regression")

#: Rows the model-based checks (leakage) read at most: a sample keeps the audit cheap.
MODEL_ROWS = 20_000
#: Rows the column statistics read at most (larger tables are sampled, and messages say so).
STATS_ROWS = 200_000
#: Fewer rows than this and values are distinct by chance: no identifier or leakage verdicts.
MIN_ROWS = 20
#: Held-out score of a one-feature model that is near-perfect (high) or suspicious (medium).
LEAK_AUC = (0.99, 0.97)
LEAK_R2 = (0.98, 0.95)
#: Correlation with a numeric target that makes a feature a near-copy of it.
COPY_CORRELATION = 0.99
#: Share of rows holding one value that makes a column near-constant.
NEAR_CONSTANT = 0.995
#: Share of missing values that is medium, and high.
MISSING = (0.5, 0.9)
#: Smallest class over largest class below which imbalance is medium (5 % of two classes),
#: and high (1 %); and the fewest rows a class needs to be learned and validated.
IMBALANCE = (1 / 19, 1 / 99)
MIN_CLASS_ROWS = 10
#: Distinct values (share of rows, or a count) that make a category column high-cardinality.
HIGH_CARDINALITY = (0.5, 1000)
#: Distinct share of present values that makes a column an identifier.
ID_DISTINCT = 0.99
#: Free text: at least this many words per value on average (not an identifier).
TEXT_WORDS = 3.0
#: Target outliers lie beyond this many interquartile ranges outside the middle half.
OUTLIER_IQR = 3.0
#: Share of rows that makes duplicates (or shared rows, or outliers) worth a medium finding.
NOTABLE_SHARE = 0.01
#: Findings of one check and severity beyond this many are grouped into one.
MAX_LISTED = 10
#: Profile: quantile bins of numbers, and the category values kept.
PROFILE_BINS = 10
PROFILE_VALUES = 20
#: Population stability index that is medium, and high, drift.
PSI_LEVELS = (0.1, 0.25)
#: A shift counts only when chance would exceed it less than once in a thousand times.
DRIFT_Z = 3.09
#: Change of the missing share that is medium, and high, drift.
MISSING_DRIFT = (0.05, 0.2)
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
                   r"[0-9a-fA-F]{12}$")
_NUMERIC_KINDS = ("numeric", "datetime")


@dataclass(frozen=True)
class Finding:
    """One thing the audit found: what, how serious, where, and what to do about it.

    Attributes:
        check: which check found it (one of :data:`CHECKS`).
        severity: "high" (fix before trusting a model), "medium" (look at it), "low" (know it).
        column: the column concerned; None for whole-table findings.
        message: what was found, with the figures.
        action: what to do about it, concretely.
    """

    check: str
    severity: str
    column: str | None
    message: str
    action: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (run record, CLI ``--json``)."""
        return {"check": self.check, "severity": self.severity, "column": self.column,
                "message": self.message, "action": self.action}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        """Inverse of :meth:`to_dict` (a saved run record's findings)."""
        missing = [k for k in ("check", "severity", "message", "action") if k not in data]
        if missing:
            raise DataError(f"an audit finding lacks {', '.join(missing)}; it has "
                            f"{', '.join(map(str, data))}")
        if data["severity"] not in SEVERITIES:
            raise DataError(f"unknown audit severity {data['severity']!r}; use one of "
                            f"{', '.join(SEVERITIES)}")
        column = data.get("column")
        return cls(str(data["check"]), str(data["severity"]),
                   None if column is None else str(column), str(data["message"]),
                   str(data["action"]))


# --- the public entry points -------------------------------------------------------------


def audit(data: pd.DataFrame, target: str | None = None, *, task: str | None = None,
          test: pd.DataFrame | None = None, seed: int = 0) -> list[Finding]:
    """Audit a training table (and the test table meant to score it) before fitting.

    Args:
        data: the training rows, target included.
        target: the column to predict; None audits the columns alone.
        task: "binary", "multiclass" or "regression"; inferred from the target when None.
        test: rows meant to test the model, checked for rows shared with ``data``.
        seed: the seed of the samples and folds the checks draw.

    Returns:
        Findings sorted high -> low severity, then by column order.
    """
    frame = _check_frame(data, "data")
    if test is not None:
        _check_frame(test, "test")
    if target is not None:
        check_target_column(frame.columns, target)
    if task is not None and task not in TASKS:
        raise ConfigError(f"unknown task {task!r} for the audit; use one of {', '.join(TASKS)}")
    table = _read_table(frame, target, task, seed)
    findings = [*_column_findings(table), *_target_findings(table),
                *_duplicate_findings(table), *_leakage_findings(table)]
    if test is not None:
        findings += _overlap_findings(table, test)
    order = {str(name): i for i, name in enumerate(frame.columns)}
    return _sorted(_grouped(findings), order)


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


# --- reading the table -------------------------------------------------------------------


@dataclass
class _Column:
    """One column, read once: codes of its values (-1: missing), what each code stands for,
    rows per code, and for numbers and dates their float values."""

    name: str
    position: int
    kind: str  # numeric | datetime | boolean | categorical | text
    codes: np.ndarray
    uniques: pd.Index
    counts: np.ndarray
    numbers: np.ndarray | None = None
    dtype: str = ""

    @property
    def n_rows(self) -> int:
        return len(self.codes)

    @property
    def n_present(self) -> int:
        return int(self.counts.sum())

    @property
    def n_distinct(self) -> int:
        return len(self.counts)

    @property
    def missing_share(self) -> float:
        return 1.0 - self.n_present / self.n_rows if self.n_rows else 0.0


@dataclass
class _Table:
    """What the checks share: the columns read, the target, the task and the sample."""

    features: list[_Column]
    target: _Column | None
    task: str | None
    total_rows: int
    seed: int

    @property
    def n_rows(self) -> int:
        return self.features[0].n_rows if self.features else 0

    @property
    def sampled(self) -> str:
        """A phrase for messages when the checks read a sample of the rows."""
        if self.n_rows >= self.total_rows:
            return ""
        return f" (in a random sample of {self.n_rows:,} of the {self.total_rows:,} rows)"


def _check_frame(data: object, what: str) -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"the audit reads a pandas DataFrame as {what}, got "
                        f"{type(data).__name__}; read files with accelml.io.read_table")
    if data.empty:
        raise DataError(f"the {what} table has no rows (or no columns); pass the rows to audit")
    return data


def _sample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """At most ``rows`` rows, drawn at random, in their order."""
    if len(frame) <= rows:
        return frame
    picked = np.random.default_rng(seed).choice(len(frame), rows, replace=False)
    return frame.iloc[np.sort(picked)]


def _read_table(frame: pd.DataFrame, target: str | None, task: str | None,
                seed: int) -> _Table:
    """Every column read once; the task inferred the project's way when not given."""
    sample = _sample(frame, STATS_ROWS, seed)
    features, target_column = [], None
    for position, name in enumerate(sample.columns):
        column = _summarize(sample.iloc[:, position], str(name), position)
        if str(name) == target:
            target_column = column
        else:
            features.append(column)
    if target is not None and target_column is not None:
        y = sample.iloc[:, target_column.position].dropna()
        if y.empty:
            raise TargetError(f"target column {target!r} has no values; pass rows that have "
                              "one, or another target")
        task = infer_task(y, target, task).kind.value
    return _Table(features, target_column, task, len(frame), seed)


def _summarize(series: pd.Series, name: str, position: int) -> _Column:
    """Codes, values, counts and kind of one column."""
    codes, uniques = _codes(series)
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    column = _Column(name, position, "categorical", codes, uniques, counts,
                     dtype=str(series.dtype))
    column.kind, column.numbers = _kind(series, column)
    return column


def _codes(series: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """A code per row (-1: missing; blank strings count as missing, as an empty CSV cell
    does) and the value of each code."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    codes, uniques = codes.astype(np.int64), pd.Index(uniques)
    if uniques.dtype == object or pd.api.types.is_string_dtype(uniques.dtype):
        blank = np.fromiter((isinstance(v, str) and not v.strip() for v in uniques), bool,
                            len(uniques))
        if blank.any():
            remap = np.full(len(uniques) + 1, -1, dtype=np.int64)
            remap[:-1][~blank] = np.arange(int((~blank).sum()))
            codes, uniques = remap[codes], uniques[~blank]
    return codes, uniques


def _kind(series: pd.Series, column: _Column) -> tuple[str, np.ndarray | None]:
    """What the column holds, and its values as floats for numbers and dates."""
    dtype = series.dtype
    if is_bool_dtype(dtype):
        return "boolean", None
    if is_datetime64_any_dtype(dtype):
        values = series.dt.tz_convert(None) if getattr(dtype, "tz", None) else series
        return "datetime", (values - pd.Timestamp(0)).dt.total_seconds().to_numpy()
    if is_timedelta64_dtype(dtype):
        return "numeric", series.dt.total_seconds().to_numpy(np.float64)
    if is_numeric_dtype(dtype):
        return "numeric", series.to_numpy(np.float64, na_value=np.nan)
    if isinstance(dtype, pd.CategoricalDtype) or column.n_distinct == 0:
        return "categorical", None
    return _kind_of_values(column)


def _kind_of_values(column: _Column) -> tuple[str, np.ndarray | None]:
    """Object and string columns, read from their distinct values."""
    values = pd.Series(column.uniques.astype(object))
    if all(isinstance(v, bool | np.bool_) for v in values):
        return "boolean", None
    numbers = pd.to_numeric(values, errors="coerce")
    texts = values.astype(str).str.strip()
    if numbers.notna().all() and not texts.str.match(r"^[+-]?0\d").any():
        return "numeric", _per_row(column, numbers.to_numpy(np.float64))
    if not all(isinstance(v, str) for v in values):
        return "categorical", None
    dates = _date_seconds(texts)
    if dates is not None:
        return "datetime", _per_row(column, dates)
    words = texts.head(2000).str.count(r"\S+").mean()
    if words >= TEXT_WORDS and column.n_distinct >= 0.3 * column.n_present:
        return "text", None
    return "categorical", None


def _per_row(column: _Column, per_unique: np.ndarray) -> np.ndarray:
    """Values per row from values per code (NaN where missing)."""
    table = np.append(per_unique, np.nan)
    values: np.ndarray = table[column.codes]  # code -1 reads the appended NaN
    return values


def _date_seconds(texts: pd.Series) -> np.ndarray | None:
    """Seconds since 1970 of texts that are dates in one format (naming a year and a
    month, so that words and ranges are not taken for dates), or None."""
    try:
        fmt = guess_datetime_format(str(texts.iloc[0]))
    except (ValueError, TypeError, OverflowError):
        return None
    year = fmt is not None and ("%Y" in fmt or "%y" in fmt)
    if not year or not any(m in fmt for m in ("%m", "%b", "%B")):  # type: ignore[operator]
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        parsed = pd.to_datetime(texts, format=fmt, errors="coerce", utc=True)
    if parsed.head(500).notna().mean() < 0.95:
        return None
    seconds: np.ndarray = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()
    return seconds


# --- column checks -----------------------------------------------------------------------


def _column_findings(table: _Table) -> list[Finding]:
    findings: list[Finding] = []
    for column in table.features:
        missing = _missing(column)
        findings += [missing] if missing else []
        if column.missing_share >= MISSING[1]:
            continue  # an almost empty column: the missing finding says it all
        found = _constant(column) or _id_like(column) or _high_cardinality(column)
        findings += [found] if found else []
    return findings


def _missing(column: _Column) -> Finding | None:
    share = column.missing_share
    if share < MISSING[0]:
        return None
    q = _q(column.name)
    if column.n_present == 0:
        return Finding("missing", "high", column.name, f"column {q} has no values (all "
                       f"{column.n_rows:,} missing)", f"drop {q}: an empty column carries "
                       "nothing (AccelML leaves it out)")
    severity = "high" if share >= MISSING[1] else "medium"
    return Finding("missing", severity, column.name,
                   f"column {q} is missing in {_pct(share)} of rows "
                   f"({column.n_rows - column.n_present:,} of {column.n_rows:,})",
                   f"find out why {q} is missing so often; drop it unless the fact that it "
                   "is missing is itself informative (AccelML encodes missing values, so "
                   "keeping it is safe but adds little)")


def _constant(column: _Column) -> Finding | None:
    """One value in every row (or in all but a few), the rows without a value aside."""
    if column.n_present == 0:
        return None
    q = _q(column.name)
    top = int(column.counts.max())
    value = _short(column.uniques[int(column.counts.argmax())])
    if column.n_distinct == 1:
        rest = "" if column.n_present == column.n_rows else " where present (else missing)"
        return Finding("constant", "low", column.name,
                       f"column {q} holds one value{rest}: {value!r}",
                       f"drop {q}: one value carries no information (AccelML leaves a fully "
                       "constant column out; a missing-or-not column acts as a flag)")
    share = top / column.n_rows
    if share < NEAR_CONSTANT or column.n_rows < MIN_ROWS:
        return None
    return Finding("near_constant", "low", column.name,
                   f"column {q} is {value!r} in {_pct(share)} of rows; only "
                   f"{_count(column.n_rows - top, 'row')} differ (or are missing)",
                   f"drop {q} unless its rare values matter (a rare flag marking an "
                   "important case): a model can hardly learn from so few rows")


def _id_like(column: _Column) -> Finding | None:
    """Nearly all values distinct, as labels, UUIDs or integers counting rows."""
    present = column.n_present
    if present < MIN_ROWS or column.n_distinct < ID_DISTINCT * present:
        return None
    what: str | None = None
    if column.kind == "categorical":
        sample = [str(v) for v in column.uniques[:200]]
        uuid = sum(bool(_UUID.match(v)) for v in sample) >= 0.9 * len(sample)
        what = "distinct UUID-like strings" if uuid else "distinct labels"
    elif column.kind == "numeric" and column.numbers is not None:
        what = _integer_sequence(column.numbers[column.codes >= 0])
    else:
        return None
    if what is None:
        return None
    q = _q(column.name)
    every = _left_out_by_fit(column)
    kept = ("fitting leaves it out already (every value is present and distinct); drop it "
            "from the data too" if every else "fitting keeps it (it leaves out only "
            f"columns whose every value is distinct): drop it (data.drop(columns=[{q}]))")
    return Finding("id_like", "low" if every else "medium", column.name,
                   f"column {q} looks like a row identifier: {column.n_distinct:,} of "
                   f"{present:,} values ({_pct(column.n_distinct / present)}) are {what}",
                   f"{kept}: an identifier says nothing about new rows, and where it follows "
                   "the row order it can leak how the data was sorted")


def _left_out_by_fit(column: _Column) -> bool:
    """Whether fitting drops the column as an identifier by itself: every value present
    and distinct, and text labels or an integer-typed sequence (the tabular
    preprocessor's rule, which this package cannot import)."""
    if column.n_distinct < column.n_rows or column.dtype == "category":
        return False
    if column.kind == "categorical":
        return True
    integers = column.dtype.lower().startswith(("int", "uint")) or column.dtype == "object"
    values = column.numbers if column.numbers is not None else np.zeros(0)
    steps = np.diff(values)
    strict = len(values) > 0 and (values.max() - values.min() + 1 <= 2 * len(values)
                                  or bool(np.all(steps > 0) or np.all(steps < 0)))
    return integers and strict


def _integer_sequence(values: np.ndarray) -> str | None:
    """Distinct integers that count rows (a near-contiguous range, or sorted); distinct
    fractions and scattered integers are measurements, not identifiers."""
    if len(values) == 0 or not np.all(values == np.round(values)):
        return None
    if float(values.max() - values.min()) + 1 <= 2 * len(values):
        return "distinct integers in a near-contiguous range"
    steps = np.sign(np.diff(values))
    if max(float(np.mean(steps > 0)), float(np.mean(steps < 0))) >= ID_DISTINCT:
        return "distinct integers in sorted order"
    return None


def _high_cardinality(column: _Column) -> Finding | None:
    """A category column with so many values that each has few rows (text and dates
    are meant to vary, identifiers are their own finding)."""
    if column.kind != "categorical" or column.n_present < MIN_ROWS:
        return None
    share, count = column.n_distinct / column.n_present, column.n_distinct
    many = share > HIGH_CARDINALITY[0] and count >= 50
    if not many and count <= HIGH_CARDINALITY[1]:
        return None
    q = _q(column.name)
    return Finding("high_cardinality", "medium" if many else "low", column.name,
                   f"column {q} has {count:,} distinct values in {column.n_present:,} rows "
                   f"({column.n_present / count:.1f} rows per value on average)",
                   f"group rare values of {q} into 'other', or derive a coarser column "
                   "(a prefix, a region, a type): a model learns little from values seen a "
                   "few times")


# --- the target --------------------------------------------------------------------------


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


# --- duplicates and shared rows -----------------------------------------------------------

_HASH_SEED = 20240611


def _row_hashes(columns: Sequence[np.ndarray]) -> np.ndarray:
    """One 64-bit hash per row of aligned code arrays (a random linear hash: equal rows
    always agree, different ones collide with negligible odds)."""
    rng = np.random.default_rng(_HASH_SEED)
    weights = rng.integers(1, 2**63, size=len(columns), dtype=np.uint64) | np.uint64(1)
    total = np.zeros(len(columns[0]) if columns else 0, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for codes, weight in zip(columns, weights, strict=True):
            total += (codes + 2).astype(np.uint64) * weight
    return total


def _chance_share(table: _Table, features: np.ndarray) -> float:
    """At most this share of rows would repeat an earlier row by chance: equal rows are
    equal on the three most varied columns (fewer than all), which distinct rows share
    with probability P (no independence assumed), so about (n - 1) P / 2 of n rows."""
    distinct = ~pd.Series(features).duplicated().to_numpy()
    if len(table.features) == 1:  # nothing to compare with: repeats are chance
        distinct[:] = True
    varied = sorted(table.features, key=lambda c: -c.n_distinct)[:3]
    varied = varied[:max(1, min(3, len(table.features) - 1))]  # fewer than all columns
    _, counts = np.unique(_row_hashes([c.codes[distinct] for c in varied]),
                          return_counts=True)
    pairs = float(counts.sum()) * (float(counts.sum()) - 1)
    chance = float(np.sum(counts * (counts - 1.0))) / pairs if pairs else 1.0
    return min(1.0, (table.n_rows - 1) * chance / 2)


def _copy_verdict(table: _Table, features: np.ndarray) -> tuple[bool, float]:
    """Whether the training rows look copied (they repeat three times as often as chance
    allows, five rows at least), and the chance bound."""
    repeats = float(pd.Series(features).duplicated().mean())
    chance = _chance_share(table, features)
    return repeats >= 3 * chance and repeats * table.n_rows >= 5, chance


def _duplicate_findings(table: _Table) -> list[Finding]:
    if not table.features:
        return []
    features = _row_hashes([c.codes for c in table.features])
    with_target = features if table.target is None else _row_hashes(
        [c.codes for c in table.features] + [table.target.codes])
    copies = int(pd.Series(with_target).duplicated().sum())
    copied, chance = _copy_verdict(table, features)
    findings = []
    if copies:
        share = copies / table.n_rows
        what = "features and target" if table.target is not None else "every column"
        why = (f"; far more than chance allows (at most {_pct(chance)}): they look copied"
               if copied else "; the features take few enough values that repeats can be "
               "genuine")
        findings.append(Finding(  # genuine repeats recur in new data too: no bias
            "duplicate_rows", "medium" if copied and share >= NOTABLE_SHARE else "low", None,
            f"{_count(copies, 'row')} ({_pct(share)}) repeating an earlier row exactly ({what})"
            f"{table.sampled}{why}",
            "drop the copies (data.drop_duplicates()) unless they are genuine repeated "
            "observations: copies that land in both training and validation folds make "
            "validation scores optimistic"))
    if table.target is not None and (copied or table.task != "regression"):
        findings += _conflicts(table, features, copied)
    return findings


def _conflicts(table: _Table, features: np.ndarray, copied: bool) -> list[Finding]:
    """Rows with equal features and different targets."""
    target = table.target.codes  # type: ignore[union-attr]
    keep = target >= 0
    pairs = pd.DataFrame({"f": features[keep], "t": target[keep]}).drop_duplicates()
    mixed = pairs["f"][pairs["f"].duplicated()].unique()
    rows = int(np.isin(features[keep], mixed).sum())
    if not rows:
        return []
    share = rows / table.n_rows
    why = ("; the rows look copied, so these are records labelled twice"
           if copied else "; the features cannot tell these rows apart, which limits accuracy")
    return [Finding(
        "duplicate_rows", "medium" if copied and share >= NOTABLE_SHARE else "low", None,
        f"{_count(rows, 'row')} ({_pct(share)}) sharing their features with a row of another "
        f"target value ({_count(len(mixed), 'group')}){table.sampled}{why}",
        "check the labels of these rows: equal inputs with different targets are label "
        "noise, or a feature that tells them apart is missing")]


def _overlap_findings(table: _Table, test: pd.DataFrame) -> list[Finding]:
    """Rows of ``test`` equal to training rows on the feature columns both tables have,
    weighed against how often training rows repeat each other."""
    names = {str(c): i for i, c in enumerate(test.columns)}
    shared = [c for c in table.features if c.name in names]
    if not shared:
        return []
    codes, unseen = [], np.zeros(len(test), dtype=bool)
    for column in shared:
        own, values = _codes(test.iloc[:, names[column.name]])
        found = np.append(column.uniques.get_indexer(values), -1)[own]  # -1 -> missing
        unseen |= (found < 0) & (own >= 0)
        codes.append(found)
    train = _row_hashes([c.codes for c in shared])
    inside = np.isin(_row_hashes(codes), train) & ~unseen
    count = int(inside.sum())
    if not count:
        return []
    rate, repeat = count / len(test), float(pd.Series(train).duplicated(keep=False).mean())
    on = "" if len(shared) == len(table.features) else (
        f" (on the {len(shared)} feature columns the test table has)")
    copied = _copy_verdict(table, _row_hashes([c.codes for c in table.features]))[0]
    natural = not copied and rate <= max(2 * repeat, repeat + NOTABLE_SHARE)
    severity = ("low" if natural or rate < NOTABLE_SHARE else "high" if rate >= 0.05
                else "medium")
    why = (f"about as often as training rows repeat each other ({_pct(repeat)}), so they "
           "can be genuine repeats" if natural else "the training rows look copied too "
           "(see duplicate_rows), and the copies reach across the split" if copied else
           f"far more often than training rows repeat each other ({_pct(repeat)}): rows "
           "were copied across the split")
    return [Finding(
        "train_test_overlap", severity, None,
        f"{count:,} of {len(test):,} test rows ({_pct(rate)}) also appear in the training "
        f"data{on}{table.sampled}; {why}",
        "remove these rows from the test table (or from training) so the test score "
        "measures rows the model has not seen")]


# --- leakage -----------------------------------------------------------------------------


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


# --- profile and drift -------------------------------------------------------------------


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


# --- ordering, grouping and formatting ---------------------------------------------------

_GROUPED = {"constant": "hold one value", "near_constant": "are near-constant",
            "missing": "are mostly missing", "id_like": "look like row identifiers",
            "high_cardinality": "have many distinct category values"}


def _grouped(findings: list[Finding]) -> list[Finding]:
    """Many findings of one column check and severity (a bag of words has hundreds of
    near-constant columns) become one, naming the first few columns."""
    out: list[Finding] = []
    for check in dict.fromkeys(f.check for f in findings):
        for severity in SEVERITIES:
            same = [f for f in findings if f.check == check and f.severity == severity]
            if len(same) <= MAX_LISTED or check not in _GROUPED:
                out += same
                continue
            names = ", ".join(_q(f.column or "") for f in same[:5])
            out.append(Finding(check, severity, None,
                               f"{len(same)} columns {_GROUPED[check]}: {names} and "
                               f"{len(same) - 5} more; e.g. {same[0].message}",
                               same[0].action))
    return out


def _sorted(findings: list[Finding], order: Mapping[str, int]) -> list[Finding]:
    """High -> low severity, then column order (whole-table findings first)."""
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(findings, key=lambda f: (
        rank[f.severity], -1 if f.column is None else order.get(f.column, len(order)),
        CHECKS.index(f.check)))


_LABELS = {"target_leakage": "possible leakage", "id_like": "an identifier",
           "duplicate_rows": "duplicates", "train_test_overlap": "test rows seen in training",
           "missing": "missing values", "class_imbalance": "rare class",
           "target_outliers": "target outliers", "drift": "drift"}


def high_notes(findings: Sequence[Finding]) -> list[str]:
    """One short sentence per high-severity finding, for the notes shown after a fit."""
    return [f"audit: {f.message.split('; ')[0]}: {_LABELS.get(f.check, f.check)}"
            for f in findings if f.severity == "high"]


def _key(value: Any) -> str:
    """The text a category value is known by (3, 3.0 and '3' are one value)."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _count(n: int, noun: str) -> str:
    """'1 row', '2 rows', '3 classes'."""
    plural = noun + ("es" if noun.endswith("s") else "s")
    return f"{n:,} {noun if n == 1 else plural}"


def _rounded(shares: np.ndarray) -> list[float]:
    return [round(float(s), 6) for s in shares]


def _q(name: str) -> str:
    return repr(str(name))


def _short(value: Any, limit: int = 40) -> str:
    text = _key(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _pct(share: float) -> str:
    value = 100 * float(share)
    if 99 <= value < 100:
        return f"{min(value, 99.9):.1f} %"
    if value == 0 or value >= 10:
        return f"{value:.0f} %"
    return f"{value:.1f} %" if value >= 0.1 else f"{value:.2f} %"


def _num(value: Any, date: bool = False) -> str:
    """A figure as people read it: dates as dates, thousands separated, 4 digits."""
    number = float(value)
    if math.isnan(number):
        return "n/a"
    if date:
        return str(pd.Timestamp(number, unit="s"))
    if number.is_integer() and abs(number) < 1e15:
        return f"{int(number):,}"
    return f"{number:,.1f}" if abs(number) >= 1000 else f"{number:.4g}"
