"""Column typing: what each raw column of a tabular dataset holds, and which columns to drop.

Inference looks at the dtype first and, for string and object columns, at the values (numbers
written as text, true/false, dates, free text, identifiers). The helpers that read raw values
(category keys, booleans, numbers, dates) live here too, so that fitting and predicting read a
value the same way whatever dtype it arrives in.
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import (
    infer_dtype,
    is_bool_dtype,
    is_datetime64_any_dtype,
    is_numeric_dtype,
    is_timedelta64_dtype,
)

from accelml.errors import DataError, SchemaError

try:  # pandas >= 2.2
    from pandas.tseries.api import guess_datetime_format
except ImportError:  # pragma: no cover - pandas 2.1
    from pandas._libs.tslibs.parsing import guess_datetime_format

#: Identifier detection needs at least this many rows: tiny frames are unique by chance.
ID_MIN_ROWS = 20
#: Distinct string values looked at to decide whether a column holds dates.
DATETIME_SAMPLE = 500
#: Share of sampled values a date format must parse for the column to be read as dates.
DATETIME_MIN_PARSED = 0.95
#: Free text: at least this many words per value on average...
TEXT_MIN_WORDS = 3.0
#: ...and at least this share of distinct values.
TEXT_MIN_UNIQUE = 0.3

TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0"})
_NUMERIC_INFERRED = frozenset({"integer", "floating", "mixed-integer-float", "decimal"})
_DATETIME_INFERRED = frozenset({"datetime", "datetime64", "date"})


class ColumnKind(StrEnum):
    """How a column is encoded."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    TEXT = "text"


@dataclass(frozen=True)
class ColumnInfo:
    """What inference found out about one column.

    Attributes:
        name: the column name as a string.
        kind: how the column is encoded (for a dropped column: what it looked like).
        dtype: the dtype the column had in the training data.
        drop_reason: why the column is not used, or None when it is used.
        datetime_format: strptime format of dates written as text, None otherwise.
        note: something the user should know about how the column was read.
    """

    name: str
    kind: ColumnKind
    dtype: str
    drop_reason: str | None = None
    datetime_format: str | None = None
    note: str | None = None

    @property
    def dropped(self) -> bool:
        """True when the column is not used."""
        return self.drop_reason is not None


def infer_columns(df: pd.DataFrame) -> list[ColumnInfo]:
    """Infer every column of ``df``, in column order."""
    return [infer_column(df.iloc[:, i], str(name)) for i, name in enumerate(df.columns)]


def infer_column(series: pd.Series, name: str | None = None) -> ColumnInfo:
    """Infer how to encode one column, or why to drop it."""
    name = str(series.name) if name is None else name
    dtype = str(series.dtype)
    values = present_values(series)
    nested = nested_value(values)
    if nested is not None:
        raise DataError(f"column {name!r} holds {type(nested).__name__} values (e.g. "
                        f"{_short(nested)!r}); AccelML learns from flat columns of numbers, "
                        "categories, dates or text: flatten it into one column per field, join "
                        "a list into text, or drop the column")
    fallback = ColumnKind.NUMERIC if is_numeric_dtype(series.dtype) else ColumnKind.CATEGORICAL
    if values.empty:
        return ColumnInfo(name, fallback, dtype, drop_reason="all values missing")
    if len(values) == len(series) and values.nunique() == 1:
        reason = f"constant (every value is {_short(values.iloc[0])!r})"
        return ColumnInfo(name, fallback, dtype, drop_reason=reason)
    info = _kind_by_dtype(series, name, dtype) or _kind_by_values(values, name, dtype)
    id_reason = _id_reason(info, values, len(series))
    if id_reason is not None:
        return ColumnInfo(name, info.kind, dtype, drop_reason=id_reason)
    return info


def nested_value(values: pd.Series) -> Any:
    """The first list, dict, set or array in an object column (which cannot be a category
    or a number), or None."""
    if not pd.api.types.is_object_dtype(values.dtype):
        return None
    for value in values:
        if isinstance(value, list | dict | set | np.ndarray):
            return value
    return None


def present_values(series: pd.Series) -> pd.Series:
    """Non-missing values; blank strings count as missing (as an empty CSV cell does)."""
    values = series.dropna()
    if is_numeric_dtype(values.dtype) or is_bool_dtype(values.dtype):
        return values
    if isinstance(values.dtype, pd.CategoricalDtype) or is_datetime64_any_dtype(values.dtype):
        return values
    blank = values.map(lambda v: isinstance(v, str) and not v.strip()).astype(bool)
    return values[~blank.to_numpy()]


def _kind_by_dtype(series: pd.Series, name: str, dtype: str) -> ColumnInfo | None:
    """The kind a typed column has; None for string and object columns."""
    if is_bool_dtype(series.dtype):
        return ColumnInfo(name, ColumnKind.BOOLEAN, dtype)
    if isinstance(series.dtype, pd.CategoricalDtype):
        return ColumnInfo(name, ColumnKind.CATEGORICAL, dtype)
    if is_datetime64_any_dtype(series.dtype):
        return ColumnInfo(name, ColumnKind.DATETIME, dtype)
    if is_timedelta64_dtype(series.dtype) or is_numeric_dtype(series.dtype):
        return ColumnInfo(name, ColumnKind.NUMERIC, dtype)
    return None


def _kind_by_values(values: pd.Series, name: str, dtype: str) -> ColumnInfo:
    """The kind of a string or object column, read from its (present) values."""
    inferred = infer_dtype(values, skipna=True)
    if inferred == "boolean":
        return ColumnInfo(name, ColumnKind.BOOLEAN, dtype)
    if inferred in _NUMERIC_INFERRED:
        return ColumnInfo(name, ColumnKind.NUMERIC, dtype)
    if inferred in _DATETIME_INFERRED:
        return ColumnInfo(name, ColumnKind.DATETIME, dtype)
    if inferred != "string":
        note = f"column {name!r} mixes value types ({inferred}): read as categories of text"
        return ColumnInfo(name, ColumnKind.CATEGORICAL, dtype, note=note)
    return _kind_of_strings(values.astype(str).str.strip(), name, dtype)


def _kind_of_strings(texts: pd.Series, name: str, dtype: str) -> ColumnInfo:
    """Numbers, true/false, dates, free text or categories, in that order of preference."""
    if _numbers_as_text(texts):
        note = f"column {name!r} holds numbers written as text: read as numeric"
        return ColumnInfo(name, ColumnKind.NUMERIC, dtype, note=note)
    if set(texts.str.lower().unique()) <= {"true", "false"}:
        return ColumnInfo(name, ColumnKind.BOOLEAN, dtype)
    fmt = datetime_format(texts)
    if fmt is not None:
        note = f"column {name!r} holds dates written as text (format {fmt!r}): read as dates"
        return ColumnInfo(name, ColumnKind.DATETIME, dtype, datetime_format=fmt, note=note)
    if _looks_like_text(texts):
        return ColumnInfo(name, ColumnKind.TEXT, dtype)
    return ColumnInfo(name, ColumnKind.CATEGORICAL, dtype)


def _numbers_as_text(texts: pd.Series) -> bool:
    """All values parse as numbers, and none is a code with a leading zero such as '007'."""
    parsed = pd.to_numeric(texts, errors="coerce")
    if not parsed.notna().all():
        return False
    return not texts.str.match(r"^[+-]?0\d").any()


def datetime_format(texts: pd.Series) -> str | None:
    """The strptime format that reads (nearly) all sampled values as dates, or None.

    A format must name a year and a month, so that words such as 'May' or ranges such as '3-4'
    are not taken for dates; one fixed format also makes a row parse the same alone or in a batch.
    """
    sample = texts.drop_duplicates().head(DATETIME_SAMPLE)
    candidates: list[str] = []
    with warnings.catch_warnings():  # dayfirst=True on an ISO date warns; the guess is right
        warnings.simplefilter("ignore", UserWarning)
        for text in sample.head(20):
            for dayfirst in (False, True):
                fmt = guess_datetime_format(text, dayfirst=dayfirst)
                if fmt and _names_year_and_month(fmt) and fmt not in candidates:
                    candidates.append(fmt)
    rates = {fmt: _parse_rate(sample, fmt) for fmt in candidates}
    best = max(rates, key=lambda fmt: rates[fmt], default=None)
    return best if best is not None and rates[best] >= DATETIME_MIN_PARSED else None


def _names_year_and_month(fmt: str) -> bool:
    has_year = "%Y" in fmt or "%y" in fmt
    return has_year and any(part in fmt for part in ("%m", "%b", "%B"))


def _parse_rate(texts: pd.Series, fmt: str) -> float:
    parsed = pd.to_datetime(texts, format=fmt, errors="coerce", utc=True)
    return float(parsed.notna().mean())


def _looks_like_text(texts: pd.Series) -> bool:
    """Free text: several words per value on average and many distinct values."""
    words = texts.head(2000).str.count(r"\S+").mean()
    return bool(words >= TEXT_MIN_WORDS and texts.nunique() / len(texts) >= TEXT_MIN_UNIQUE)


def _id_reason(info: ColumnInfo, values: pd.Series, n_rows: int) -> str | None:
    """Why the column looks like a row identifier, or None."""
    if n_rows < ID_MIN_ROWS or len(values) < n_rows or values.nunique() < n_rows:
        return None
    if info.kind is ColumnKind.CATEGORICAL and not isinstance(values.dtype, pd.CategoricalDtype):
        return f"ID-like (all {n_rows} values are distinct)"
    if info.kind is ColumnKind.NUMERIC:
        return _integer_id_reason(values, n_rows)
    return None


def _integer_id_reason(values: pd.Series, n_rows: int) -> str | None:
    """Distinct integers that are near-contiguous or sorted; distinct floats are features."""
    if is_timedelta64_dtype(values.dtype) or is_bool_dtype(values.dtype):
        return None
    numbers_ = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    integral = pd.api.types.is_integer_dtype(values.dtype) or (
        not is_numeric_dtype(values.dtype) and bool(np.all(numbers_ == np.round(numbers_)))
    )
    if not integral:
        return None
    span = float(numbers_.max() - numbers_.min()) + 1.0
    if span <= 2 * n_rows:
        return f"ID-like (all {n_rows} values are distinct integers in a near-contiguous range)"
    steps = np.diff(numbers_)
    if bool(np.all(steps > 0) or np.all(steps < 0)):
        return f"ID-like (all {n_rows} values are distinct integers in sorted order)"
    return None


def _short(value: Any, limit: int = 40) -> str:
    """A value as text, cut for messages."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- reading raw values the same way at fit and at predict time ----------------------------


def category_key(value: Any) -> str:
    """The text a category value is known by; '' means missing.

    Numbers map to their plain text form (3, 3.0 and '3' are one category), so categories typed
    as numbers in training and as strings in a JSON request (or the reverse) meet.
    """
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        real = float(value)
        if real != real:
            return ""
        return str(int(real)) if real.is_integer() else repr(real)
    return str(value).strip()


def coerce_numeric(series: pd.Series, name: str) -> np.ndarray:
    """Float values of a numeric column, whatever dtype they arrive in.

    Raises:
        SchemaError: a present value is not a number (it would otherwise turn silently into NaN).
    """
    if is_bool_dtype(series.dtype) or is_numeric_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    if is_timedelta64_dtype(series.dtype):
        seconds: np.ndarray = series.dt.total_seconds().to_numpy(np.float64, na_value=np.nan)
        return seconds
    values = series.astype(object) if isinstance(series.dtype, pd.CategoricalDtype) else series
    values = values.map(_blank_to_none)
    parsed = pd.to_numeric(values, errors="coerce")
    bad = parsed.isna().to_numpy() & values.notna().to_numpy()
    if bad.any():
        example = values[bad].iloc[0]
        raise SchemaError(
            f"column {name!r} should be numeric but holds {example!r}; send a number, or leave "
            "the value empty when it is missing"
        )
    return parsed.to_numpy(dtype=np.float64, na_value=np.nan)


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def coerce_boolean(series: pd.Series, name: str) -> np.ndarray:
    """1.0 for true, 0.0 for false, NaN for missing, from bools, 0/1 or words like 'yes'.

    Raises:
        SchemaError: a present value is neither true nor false.
    """
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    table = np.empty(len(uniques) + 1, dtype=np.float64)
    table[-1] = np.nan
    for i, value in enumerate(uniques):
        table[i] = boolean_value(value, name)
    return table[codes]


def boolean_value(value: Any, name: str) -> float:
    """One value of a boolean column as 1.0, 0.0 or NaN (missing); see :func:`coerce_boolean`."""
    word = category_key(value).lower() if value is not None else ""
    if word in TRUE_WORDS:
        return 1.0
    if word in FALSE_WORDS:
        return 0.0
    if not word:
        return np.nan
    raise SchemaError(
        f"column {name!r} should be true/false but holds {value!r}; send true or false "
        "(or 1/0), or leave the value empty when it is missing"
    )


def coerce_datetime(series: pd.Series, name: str, fmt: str | None, strict: bool) -> pd.Series:
    """Naive timestamps of a date column: wall time for naive input, UTC for zoned input.

    Text is read with the training format first, then as ISO 8601 (what JSON clients send);
    a column typed as dates in training also accepts any format pandas can read.

    Raises:
        SchemaError: ``strict`` and a present value is not a date.
    """
    if is_datetime64_any_dtype(series.dtype):
        if getattr(series.dtype, "tz", None) is not None:
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        return series.reset_index(drop=True)
    values = series.astype(object).map(_blank_to_none).reset_index(drop=True)
    formats = [f for f in (fmt, "ISO8601") if f] + ([] if fmt else ["mixed"])
    parsed = _parse_dates(values, formats[0])
    for form in formats[1:]:
        todo = parsed.isna() & values.notna()
        if not todo.any():
            break
        parsed[todo] = _parse_dates(values[todo], form)
    bad = parsed.isna() & values.notna()
    if strict and bad.any():
        raise SchemaError(
            f"column {name!r} should hold dates{f' in format {fmt!r}' if fmt else ''} but holds "
            f"{values[bad].iloc[0]!r}; send a date, or leave the value empty when it is missing"
        )
    return parsed


def _parse_dates(values: pd.Series, fmt: str) -> pd.Series:
    """Naive second-resolution timestamps (zoned values converted to UTC), NaT if unreadable."""
    found = pd.to_datetime(values, format=fmt, errors="coerce", utc=True)
    return found.dt.tz_localize(None).astype("datetime64[s]")
