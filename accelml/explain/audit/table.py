"""Reading the table once for every check: each column's value codes, counts, kind
(numeric, datetime, boolean, categorical, text) and numbers, with the sample the checks
share. The audit's column reading is its own, lighter than the tabular preprocessor's,
which it may not import (the tabular modality runs the audit)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api.types import (
    is_bool_dtype,
    is_datetime64_any_dtype,
    is_numeric_dtype,
    is_timedelta64_dtype,
)

from accelml.core.task import infer_task
from accelml.errors import DataError, TargetError
from accelml.explain.audit.thresholds import STATS_ROWS, TEXT_WORDS

try:  # pandas >= 2.2
    from pandas.tseries.api import guess_datetime_format
except ImportError:  # pragma: no cover - pandas 2.1
    from pandas._libs.tslibs.parsing import guess_datetime_format


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
