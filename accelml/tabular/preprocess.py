"""Tabular preprocessing: a user's DataFrame in, :class:`~accelml.core.data.Features` out.

Fitted once on the training frame, applied identically at predict time, saved as plain JSON.
Every column becomes float64 columns: numbers as they are (NaN kept, tree learners use it;
infinities read as missing with a warning; values far outside the training range clipped, so
no learner overflows), booleans as 0/1, categories as integer codes (rare and unseen values
share an ``__other__`` code), dates as calendar parts, free text as hashed word n-grams. At
predict time the frame is checked against the training schema: missing columns are an error
that names them, extra columns a warning, values of the wrong type are converted or named in
an error.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype
from sklearn.feature_extraction.text import HashingVectorizer

from accelml.core.data import Features
from accelml.core.validation import close_matches
from accelml.errors import ArtifactError, ConfigError, DataError, NotFittedError, SchemaError
from accelml.tabular.columns import (
    ColumnInfo,
    ColumnKind,
    boolean_value,
    category_key,
    coerce_boolean,
    coerce_datetime,
    coerce_numeric,
    infer_columns,
    nested_value,
)

FORMAT = "accelml.tabular.preprocessor/1"
OTHER = "__other__"
#: Largest magnitude a numeric feature takes: float32 holds it, with room for the sums a
#: network or a linear model makes of several of them (a model saved before columns had
#: fitted ``clip`` bounds uses +-this).
NUMERIC_LIMIT = 1e30
DATE_PARTS = ("year", "month", "day", "dayofweek", "dayofyear")
#: Rows up to which a categorical column is encoded value by value: factorizing a column
#: took 0.1 ms, 2 to 3.5 ms of a one-row call on a table of 36 categorical columns.
FEW_ROWS = 16


class _Encoder(Protocol):
    """Turns one raw column into one or more float64 feature columns: from a pandas Series
    (batches), or from plain Python values (the rows of a JSON request; no pandas on the
    common path, and the same numbers as ``encode``)."""

    column: str
    names: tuple[str, ...]

    def encode(self, series: pd.Series) -> np.ndarray: ...

    def encode_values(self, values: list[Any]) -> np.ndarray: ...


class _ViaSeries:
    """``encode_values`` through ``encode``, for encoders with no faster way."""

    column: str

    def encode(self, series: pd.Series) -> np.ndarray:
        raise NotImplementedError

    def encode_values(self, values: list[Any]) -> np.ndarray:
        return self.encode(pd.Series(values, dtype=object, name=self.column))


class _Numeric(_ViaSeries):
    """Numbers as they are, except that infinities are missing values (with a warning) and
    values far outside the training range are clipped to the column's ``clip`` bounds, so that
    no learner (a linear model in float64, a network in float32) overflows into NaN."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.column = spec["name"]
        self.names = (self.column,)
        low, high = spec.get("clip") or (-NUMERIC_LIMIT, NUMERIC_LIMIT)
        self.low, self.high = float(low), float(high)

    def encode(self, series: pd.Series) -> np.ndarray:
        return self._bounded(coerce_numeric(series, self.column))

    def encode_values(self, values: list[Any]) -> np.ndarray:
        if all(v is None or type(v) in (int, float, bool) for v in values):
            return self._bounded(np.array([_as_float(v) for v in values]))
        return super().encode_values(values)  # text to parse, or to refuse by name

    def _bounded(self, values: np.ndarray) -> np.ndarray:
        infinite = np.isinf(values)
        if infinite.any():
            count = int(infinite.sum())
            warnings.warn(
                f"column {self.column!r}: {count} infinite "
                f"value{'s' if count > 1 else ''} (inf, -inf or a number beyond the float "
                "range) read as missing; send finite numbers, or leave the value empty when "
                "it is missing", UserWarning, stacklevel=5)
            values = np.where(infinite, np.nan, values)
        return np.clip(values, self.low, self.high)


def _as_float(value: Any) -> float:
    """A JSON number as a float: None is NaN, an integer beyond the float range infinite."""
    if value is None:
        return np.nan
    try:
        return float(value)
    except OverflowError:
        return np.inf if value > 0 else -np.inf


def clip_range(values: np.ndarray) -> list[float] | None:
    """The ``clip`` bounds of a numeric column from its training values: the finite range
    widened on each side by the larger of its width and its largest magnitude (so a linear
    model still extrapolates), within +-:data:`NUMERIC_LIMIT`; None without a finite value."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    low, high = float(finite.min()), float(finite.max())
    margin = max(high - low, abs(low), abs(high), 1.0)  # Python floats: inf on overflow
    return [max(low - margin, -NUMERIC_LIMIT), min(high + margin, NUMERIC_LIMIT)]


class _Boolean(_Numeric):
    def encode(self, series: pd.Series) -> np.ndarray:
        return coerce_boolean(series, self.column)

    def encode_values(self, values: list[Any]) -> np.ndarray:
        return np.array([boolean_value(v, self.column) for v in values])


class _Categorical:
    """Codes 0..k-1 for the kept categories, k for ``__other__`` (rare or unseen)."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.column = spec["name"]
        self.names = (self.column,)
        self.codes = {key: float(i) for i, key in enumerate(spec["categories"])}
        self.other = float(len(self.codes))
        self.cardinality = len(self.codes) + 1

    def encode(self, series: pd.Series) -> np.ndarray:
        if len(series) <= FEW_ROWS:  # a served call: each value looked up, no factorize
            return self.encode_values(series.tolist())
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        table = np.empty(len(uniques) + 1, dtype=np.float64)
        table[-1] = np.nan
        for i, value in enumerate(uniques):
            table[i] = self._code(value)
        return table[codes]

    def encode_values(self, values: list[Any]) -> np.ndarray:
        return np.array([self._value_code(v) for v in values], dtype=np.float64)

    def _value_code(self, value: Any) -> float:
        """The code of one cell, missing as NaN; a list or a dict raises TypeError (as
        factorizing it does), which :func:`_encode` names."""
        if value is None or value is pd.NA:
            return np.nan
        hash(value)
        return self._code(value)

    def _code(self, value: Any) -> float:
        key = category_key(value)
        return self.codes.get(key, self.other) if key else np.nan


class _Datetime(_ViaSeries):
    """Calendar parts; the hour only where training times were not all midnight."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.column = spec["name"]
        self.format = spec["format"]
        self.strict = spec["strict"]
        self.parts = DATE_PARTS + (("hour",) if spec["hour"] else ())
        self.names = tuple(f"{self.column}.{part}" for part in self.parts)

    def encode(self, series: pd.Series) -> np.ndarray:
        stamps = coerce_datetime(series, self.column, self.format, self.strict)
        parts = calendar_parts(stamps.to_numpy(dtype="datetime64[s]"))
        return np.column_stack([parts[part] for part in self.parts])


def calendar_parts(stamps: np.ndarray) -> dict[str, np.ndarray]:
    """Year, month, day, dayofweek (Monday 0), dayofyear and hour as floats, NaN for NaT.

    Plain numpy on datetime64 values: a few microseconds per call, where the pandas ``.dt``
    accessors cost about 100 each, which matters for one-row predictions.
    """
    missing = np.isnat(stamps)
    days = stamps.astype("datetime64[D]")
    years = stamps.astype("datetime64[Y]")
    months = stamps.astype("datetime64[M]")
    day_index = days.astype(np.int64)
    parts = {
        "year": years.astype(np.int64) + 1970.0,
        "month": months.astype(np.int64) % 12 + 1.0,
        "day": (days - months.astype("datetime64[D]")).astype(np.int64) + 1.0,
        "dayofweek": (day_index + 3) % 7 + 0.0,
        "dayofyear": (days - years.astype("datetime64[D]")).astype(np.int64) + 1.0,
        "hour": (stamps - days).astype("timedelta64[h]").astype(np.int64) + 0.0,
    }
    for values in parts.values():
        values[missing] = np.nan
    return parts


class _Text(_ViaSeries):
    """Hashed word 1-2 grams, l2-normalised; a missing text is a row of NaN."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.column = spec["name"]
        width = int(spec["n_features"])
        self.names = tuple(f"{self.column}.hash{j}" for j in range(width))
        self.vectorizer = HashingVectorizer(
            n_features=width, ngram_range=(1, 2), alternate_sign=False, norm="l2",
            dtype=np.float64,
        )

    def encode(self, series: pd.Series) -> np.ndarray:
        texts = [category_key(v) if not _is_missing(v) else "" for v in series.to_numpy(object)]
        out: np.ndarray = self.vectorizer.transform(texts).toarray()
        out[[not text for text in texts]] = np.nan
        return out


_ENCODERS: dict[str, type] = {
    ColumnKind.NUMERIC: _Numeric,
    ColumnKind.BOOLEAN: _Boolean,
    ColumnKind.CATEGORICAL: _Categorical,
    ColumnKind.DATETIME: _Datetime,
    ColumnKind.TEXT: _Text,
}


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (
        isinstance(value, float) and value != value
    )


class TabularPreprocessor:
    """Fits column typing and encodings on a training frame; applies them to any later frame.

    Args:
        min_category_count: categories seen fewer times in training share the ``__other__``
            code (unless that would leave no category at all).
        max_categories: at most this many categories per column are kept, the most frequent.
        text_features: hashed features per free-text column.

    Attributes:
        notes: what fitting decided that the user should know (dropped columns, merged
            categories, values read as numbers or dates), one sentence each.
        kind: the modality, under which :class:`~accelml.core.predictor.Predictor` finds
            :meth:`from_dict` again when it loads a saved model.
    """

    kind: str = "tabular"

    def __init__(
        self, min_category_count: int = 5, max_categories: int = 255, text_features: int = 32
    ) -> None:
        for label, value, low in (
            ("min_category_count", min_category_count, 1),
            ("max_categories", max_categories, 1),
            ("text_features", text_features, 1),
        ):
            if not isinstance(value, int) or value < low:
                raise ConfigError(f"{label} must be an integer >= {low}, got {value!r}")
        self.min_category_count = min_category_count
        self.max_categories = max_categories
        self.text_features = text_features
        self.notes: list[str] = []
        self._columns: list[dict[str, Any]] = []
        self._encoders: list[_Encoder] = []
        #: The last frame's columns and their layout (see :meth:`_layout`).
        self._seen: tuple[pd.Index, dict[str, Any], np.ndarray] | None = None

    # --- fitting -------------------------------------------------------------------------

    def fit(self, df: pd.DataFrame) -> TabularPreprocessor:
        """Learn column kinds, categories and date formats from the training frame.

        Raises:
            DataError: the frame is empty, has duplicate column names, or no usable column.
        """
        _check_frame(df)
        columns: list[dict[str, Any]] = []
        notes: list[str] = []
        for i, info in enumerate(infer_columns(df)):
            spec, spec_notes = self._fit_column(info, df.iloc[:, i])
            columns.append(spec)
            notes.extend(spec_notes)
        if all("dropped" in spec for spec in columns):
            raise DataError(
                "no usable feature column: " + "; ".join(notes) + ". Pass columns that hold "
                "numbers, categories, dates or text that vary between rows"
            )
        self._load(columns, notes)
        return self

    def _fit_column(
        self, info: ColumnInfo, series: pd.Series
    ) -> tuple[dict[str, Any], list[str]]:
        """The JSON spec of one column, plus the notes fitting it produced."""
        spec: dict[str, Any] = {"name": info.name, "kind": info.kind.value, "dtype": info.dtype}
        if info.dropped:
            spec["dropped"] = info.drop_reason
            return spec, [f"dropped column {info.name!r}: {info.drop_reason}"]
        notes = [info.note] if info.note else []
        if info.kind is ColumnKind.NUMERIC:
            bounds = clip_range(coerce_numeric(series, info.name))
            if bounds is not None:
                spec["clip"] = bounds
        elif info.kind is ColumnKind.CATEGORICAL:
            notes += self._fit_categories(spec, series)
        elif info.kind is ColumnKind.DATETIME:
            notes += _fit_datetime(spec, series, info.datetime_format)
        elif info.kind is ColumnKind.TEXT:
            spec["n_features"] = self.text_features
            notes.append(
                f"column {info.name!r} holds free text: hashed into {self.text_features} "
                "word n-gram features"
            )
        return spec, notes

    def _fit_categories(self, spec: dict[str, Any], series: pd.Series) -> list[str]:
        """Keep the frequent categories (most frequent first); the rest share ``__other__``."""
        counts = _category_counts(series)
        order = sorted(counts, key=lambda key: (-counts[key], key))
        frequent = [key for key in order if counts[key] >= self.min_category_count]
        kept = (frequent or order)[: self.max_categories]
        spec["categories"] = kept
        merged = len(order) - len(kept)
        if not merged:
            return []
        name = spec["name"]
        if len(frequent or order) > self.max_categories:
            return [
                f"column {name!r}: kept the {len(kept)} most frequent of {len(order)} "
                f"categories; the other {merged} map to {OTHER!r}"
            ]
        return [
            f"column {name!r}: {merged} rare {'category' if merged == 1 else 'categories'} "
            f"(seen fewer than "
            f"{self.min_category_count} times) map to {OTHER!r}"
        ]

    # --- applying ------------------------------------------------------------------------

    def transform(self, df: pd.DataFrame | Mapping[str, Any]) -> Features:
        """Encode a frame (or one row given as a mapping) exactly as the training frame was.

        Raises:
            NotFittedError: before :meth:`fit` or :meth:`from_dict`.
            SchemaError: a training column is missing, or holds values of the wrong type.
        """
        if not self._encoders:
            raise NotFittedError("TabularPreprocessor is not fitted: call fit(df) first")
        frame = pd.DataFrame([dict(df)]) if isinstance(df, Mapping) else df
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"this is a tabular model: pass a DataFrame (or a CSV / Parquet "
                            f"file on the command line), not {type(df).__name__}")
        if len(frame) == 0:
            raise DataError("no rows to predict: the data is empty")
        by_name, positions = self._layout(frame)
        X = np.empty((len(frame), len(self._names)), dtype=np.float64)
        done = _numbers_at_once(self._numbers, positions, frame, X)
        for index in np.flatnonzero(~done):
            encoder, start = self._encoders[index], self._starts[index]
            width = len(encoder.names)
            values = _encode(encoder, frame[by_name[encoder.column]])
            X[:, start : start + width] = values.reshape(len(frame), width)
        return Features(X, self._categorical, self._cardinalities, self._names)

    def _layout(self, frame: pd.DataFrame) -> tuple[dict[str, Any], np.ndarray]:
        """The frame's label of each training column, and the frame position of each plain
        number column (:class:`_NumberPlan`), kept for the next frame with the same columns:
        a served model sees the same columns call after call, and finding 850 of them took
        half a millisecond of a one-row call."""
        seen = self._seen
        if seen is not None and frame.columns.equals(seen[0]):
            return seen[1], seen[2]
        by_name = self._check_schema(frame)
        positions = frame.columns.get_indexer(
            pd.Index([by_name[name] for name in self._numbers.columns], dtype=object))
        if by_name.keys() <= self._known:  # no ignored columns, whose warning must repeat
            self._seen = (frame.columns, by_name, positions)
        return by_name, positions

    def transform_records(self, rows: Sequence[Mapping[str, Any]]) -> Features:
        """Encode rows given as mappings (JSON records) without building a DataFrame; the same
        features as :meth:`transform` of ``pd.DataFrame(rows)``. Keys the model was not
        trained on are ignored.

        Raises:
            SchemaError: a row lacks a training column, or holds a value of the wrong type.
        """
        if not self._encoders:
            raise NotFittedError("TabularPreprocessor is not fitted: call fit(df) first")
        if len(rows) == 0:
            raise DataError("no rows to predict: the list of rows is empty")
        for index, row in enumerate(rows):
            missing = [name for name in self._required if name not in row]
            if missing:
                raise SchemaError(f"row {index}: " + _missing_message(missing, list(row)))
        X = np.empty((len(rows), len(self._names)), dtype=np.float64)
        start = 0
        for encoder in self._encoders:
            width = len(encoder.names)
            try:
                values = encoder.encode_values([row[encoder.column] for row in rows])
            except TypeError:  # a list or a dict where one value belongs
                raise SchemaError(f"column {encoder.column!r} holds a list or a dict; send "
                                  "one number, category, date or text per cell, as in "
                                  "training") from None
            X[:, start : start + width] = values.reshape(len(rows), width)
            start += width
        return Features(X, self._categorical, self._cardinalities, self._names)

    def fit_transform(self, df: pd.DataFrame) -> Features:
        """Fit on ``df`` and encode it."""
        return self.fit(df).transform(df)

    def _check_schema(self, frame: pd.DataFrame) -> dict[str, Any]:
        """Map training column names to the frame's labels; complain about what differs."""
        if not isinstance(frame, pd.DataFrame):
            raise DataError(
                f"expected a pandas DataFrame (or one row as a dict), got {type(frame).__name__}"
            )
        by_name = {str(label): label for label in frame.columns}
        if len(by_name) < frame.shape[1]:
            raise DataError(f"the data has duplicate column names: {_duplicates(frame)}")
        missing = [name for name in self._required if name not in by_name]
        extra = [name for name in by_name if name not in self._known]
        if missing:
            raise SchemaError(_missing_message(missing, extra or list(by_name)))
        if extra:
            warnings.warn(
                f"ignored column(s) the model was not trained on: "
                f"{', '.join(repr(name) for name in extra)}",
                UserWarning,
                stacklevel=4,
            )
        return by_name

    # --- state ---------------------------------------------------------------------------

    @property
    def schema(self) -> list[dict[str, Any]]:
        """The training columns in order: name, kind, original dtype, and per kind the
        categories (without ``__other__``), date format, or ``dropped`` with the reason."""
        return [{k: (list(v) if isinstance(v, list) else v) for k, v in spec.items()}
                for spec in self._columns]

    @property
    def feature_sources(self) -> tuple[str, ...]:
        """The training column each encoded feature column comes from (a date gives
        several), so explanations add up encoded contributions per user column."""
        return tuple(encoder.column for encoder in self._encoders
                     for _ in encoder.names)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state; :meth:`from_dict` restores an identical preprocessor."""
        if not self._encoders:
            raise NotFittedError("TabularPreprocessor is not fitted: call fit(df) first")
        return {
            "format": FORMAT,
            "settings": {
                "min_category_count": self.min_category_count,
                "max_categories": self.max_categories,
                "text_features": self.text_features,
            },
            "columns": self.schema,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TabularPreprocessor:
        """Inverse of :meth:`to_dict`.

        Raises:
            ArtifactError: ``data`` was not written by :meth:`to_dict` of this format.
        """
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
            raise ArtifactError(
                f"not a saved tabular preprocessor of format {FORMAT!r} (found {found!r}); "
                "save it with TabularPreprocessor.to_dict() or retrain the model"
            )
        try:
            new = cls(**data["settings"])
            new._load([dict(spec) for spec in data["columns"]], list(data["notes"]))
        except (KeyError, TypeError, ValueError) as error:
            raise ArtifactError(f"saved tabular preprocessor is damaged: {error!r}") from error
        return new

    def _load(self, columns: list[dict[str, Any]], notes: list[str]) -> None:
        """Build encoders and the feature layout once, so transform does no per-call set-up."""
        self._columns = columns
        self.notes = notes
        used = [spec for spec in columns if "dropped" not in spec]
        self._encoders = [_ENCODERS[spec["kind"]](spec) for spec in used]
        self._known = frozenset(spec["name"] for spec in columns)
        self._required = [spec["name"] for spec in used]
        names: list[str] = []
        categorical: list[int] = []
        cardinalities: list[int] = []
        for encoder in self._encoders:
            if isinstance(encoder, _Categorical):
                categorical.append(len(names))
                cardinalities.append(encoder.cardinality)
            names.extend(encoder.names)
        self._names = tuple(names)
        self._categorical = tuple(categorical)
        self._cardinalities = tuple(cardinalities)
        self._starts = np.cumsum([0] + [len(e.names) for e in self._encoders], dtype=np.int64)[:-1]
        self._numbers = _NumberPlan(self._encoders, self._starts)
        self._seen = None


class _NumberPlan:
    """Where the plain number columns go: their encoders' indices, training names, places in
    the feature matrix and clip bounds, as arrays built once per model."""

    def __init__(self, encoders: Sequence[_Encoder], starts: np.ndarray) -> None:
        numbers: list[tuple[int, _Numeric]] = []
        for i, e in enumerate(encoders):
            if isinstance(e, _Numeric) and type(e) is _Numeric:  # not its subclasses
                numbers.append((i, e))
        self.n_encoders = len(encoders)
        self.indices = np.array([i for i, _ in numbers], dtype=np.int64)
        self.columns = [e.column for _, e in numbers]
        self.starts = starts[self.indices]
        self.low = np.array([e.low for _, e in numbers], dtype=np.float64)
        self.high = np.array([e.high for _, e in numbers], dtype=np.float64)


def _numbers_at_once(plan: _NumberPlan, positions: np.ndarray, frame: pd.DataFrame,
                     X: np.ndarray) -> np.ndarray:
    """Encode the numeric columns that arrive as finite numbers in one block copy, into their
    places in ``X``; return, per encoder, whether it is done. Column by column, a row of 850
    numbers took 30 ms (a Series per column); the others (text to parse, infinities to warn
    about) go through their encoders. ``positions`` are the plan's columns' places in the
    frame; a frame of numbers only is read in one copy."""
    done = np.zeros(plan.n_encoders, dtype=bool)
    if len(plan.indices) < 2:
        return done
    dtypes = frame.dtypes.to_numpy()
    numeric = {dtype: is_numeric_dtype(dtype) or is_bool_dtype(dtype) for dtype in set(dtypes)}
    if all(numeric.values()):
        ok = np.ones(len(positions), dtype=bool)
        block = frame.to_numpy(np.float64, na_value=np.nan)[:, positions]
    else:
        ok = np.fromiter((numeric[dtype] for dtype in dtypes[positions]), dtype=bool,
                         count=len(positions))
        if ok.sum() < 2:
            return done
        block = frame.iloc[:, positions[ok]].to_numpy(np.float64, na_value=np.nan)
    X[:, plan.starts[ok]] = np.clip(block, plan.low[ok], plan.high[ok])
    done[plan.indices[ok][~np.isinf(block).any(axis=0)]] = True
    return done


def _encode(encoder: _Encoder, series: pd.Series) -> np.ndarray:
    """One column's features; a cell holding a list or a dict is named, not a TypeError."""
    try:
        return encoder.encode(series)
    except TypeError:
        nested = nested_value(series)
        if nested is None:
            raise
        raise SchemaError(f"column {encoder.column!r} holds {type(nested).__name__} values "
                          f"(e.g. {str(nested)[:40]!r}); send one number, category, date or "
                          "text per cell, as in training") from None


def _check_frame(df: pd.DataFrame) -> None:
    """Training data must be a non-empty frame with unique column names."""
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame of features, got {type(df).__name__}")
    if df.shape[0] == 0 or df.shape[1] == 0:
        raise DataError(
            f"the training data is empty ({df.shape[0]} rows, {df.shape[1]} columns); "
            "pass at least one row and one feature column"
        )
    names = [str(label) for label in df.columns]
    if len(set(names)) < len(names):
        raise DataError(f"the data has duplicate column names: {_duplicates(df)}; rename them")


def _duplicates(df: pd.DataFrame) -> str:
    names = pd.Series([str(label) for label in df.columns])
    return ", ".join(repr(name) for name in sorted(set(names[names.duplicated()])))


def _missing_message(missing: list[str], candidates: list[str]) -> str:
    listed = ", ".join(f"{name!r}{close_matches(name, candidates)}" for name in missing)
    return (
        f"the data lacks {len(missing)} column(s) the model was trained on: {listed}; "
        "add the column(s) (or fix their names), or retrain the model without them"
    )


def _category_counts(series: pd.Series) -> dict[str, int]:
    """Rows per category key; values that are one key (3, 3.0, '3') count together."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    per_unique = np.bincount(codes[codes >= 0], minlength=len(uniques))
    counts: dict[str, int] = {}
    for value, count in zip(uniques, per_unique, strict=True):
        key = category_key(value)
        if key:
            counts[key] = counts.get(key, 0) + int(count)
    return counts


def _fit_datetime(spec: dict[str, Any], series: pd.Series, fmt: str | None) -> list[str]:
    """Store the format, whether times of day occur, and whether bad values are an error."""
    stamps = coerce_datetime(series, spec["name"], fmt, strict=False)
    present = series.reset_index(drop=True).notna()
    if not pd.api.types.is_datetime64_any_dtype(series.dtype):
        present &= series.reset_index(drop=True).astype(object).map(
            lambda v: not (isinstance(v, str) and not v.strip())
        ).astype(bool)
    unparsed = present & stamps.isna()
    times = stamps.dropna()
    spec["format"] = fmt
    spec["hour"] = bool((times != times.dt.normalize()).any())
    spec["strict"] = not bool(unparsed.any())
    if spec["strict"]:
        return []
    example = series.reset_index(drop=True)[unparsed].iloc[0]
    return [
        f"column {spec['name']!r}: {int(unparsed.sum())} values that are not dates "
        f"(e.g. {example!r}) read as missing"
    ]
