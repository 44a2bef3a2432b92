"""Interactions in, learner features out: ids mapped to codes, values checked, duplicate
(user, item) rows aggregated, side tables aligned to the codes.

The fitted preprocessor keeps what serving needs besides the models: the id maps, every
user's training items (masked from their recommendations), item popularity (the answer for
users it has never seen) and, once the run is done, each known user's blended top items.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from accelml.core.data import Features
from accelml.core.ranking import user_item_matrix
from accelml.errors import DataError, SchemaError

KIND = "recsys"
#: A table column of side features with more distinct values than this share of rows is
#: an identifier or a title, not a feature.
MAX_DISTINCT_SHARE = 0.5
#: Tokens kept from a "|"-separated list column (genres), most frequent first.
MAX_TOKENS = 30
TOKEN_SEP = "|"
#: The most distinct values, and the largest value, a rating scale has.
MAX_SCALE_VALUES = 20
MAX_RATING = 10.0


@dataclass
class Columns:
    """The caller's column names."""

    user: str
    item: str
    rating: str | None = None
    time: str | None = None


@dataclass
class SideTable:
    """Side features of users or items, one row per code."""

    matrix: np.ndarray
    names: list[str]
    categorical: list[int]


def _labels(values: pd.Series) -> list[Any]:
    """Distinct ids in a stable order (numbers numerically, else as strings)."""
    unique = pd.unique(values)
    if pd.api.types.is_numeric_dtype(values):
        return sorted(v.item() if hasattr(v, "item") else v for v in unique)
    return sorted(str(v) for v in unique)


def _check_columns(frame: pd.DataFrame, columns: Columns) -> None:
    if columns.user == columns.item:
        raise DataError(f"the user column and the item column are both {columns.user!r}; "
                        "name two different columns with --user and --item")
    for role, name in (("user", columns.user), ("item", columns.item),
                       ("rating", columns.rating), ("time", columns.time)):
        if name is not None and name not in frame.columns:
            from accelml.core.validation import close_matches

            raise SchemaError(f"the {role} column {name!r} is not in the data"
                              f"{close_matches(name, [str(c) for c in frame.columns])}; "
                              f"columns: {', '.join(map(str, frame.columns[:20]))}")


def _values(frame: pd.DataFrame, rating: str | None) -> tuple[np.ndarray, np.ndarray]:
    """The rating (or 1 per row) and which rows have one; non-numeric or negative ratings
    are errors."""
    if rating is None:
        return np.ones(len(frame)), np.ones(len(frame), dtype=bool)
    column = frame[rating]
    if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        numbers = pd.to_numeric(column, errors="coerce")
        bad = column[numbers.isna() & column.notna()]
        if len(bad):
            raise DataError(f"the rating column {rating!r} holds non-numeric values such as "
                            f"{bad.iloc[0]!r} ({len(bad)} rows); ratings must be numbers: "
                            "fix those rows or leave --rating out for implicit feedback")
        column = numbers
    values = column.to_numpy(dtype=np.float64)
    present = ~np.isnan(values)
    if (values[present] < 0).any():
        first = values[present][values[present] < 0][0]
        raise DataError(f"the rating column {rating!r} holds negative values such as "
                        f"{first:g} ({int((values[present] < 0).sum())} rows); ratings and "
                        "counts must be 0 or more: shift the scale or drop those rows")
    return values, present


def _times(frame: pd.DataFrame, time: str | None) -> np.ndarray:
    """Seconds as floats (NaN without a time column); dates are parsed."""
    if time is None:
        return np.full(len(frame), np.nan)
    column = frame[time]
    if pd.api.types.is_numeric_dtype(column):
        return column.to_numpy(dtype=np.float64)
    parsed = pd.to_datetime(column, errors="coerce", utc=True)
    if parsed.isna().all():
        raise DataError(f"the time column {time!r} holds neither numbers nor dates (such "
                        f"as {column.iloc[0]!r}); pass a timestamp column or leave --time out")
    return (parsed.astype("int64") / 1e9).where(parsed.notna()).to_numpy(dtype=np.float64)


class RecsysPreprocessor:
    """Maps ids to codes and back; keeps the training history for serving."""

    kind = KIND

    def __init__(self, columns: Columns, users: list[Any], items: list[Any],
                 explicit: bool) -> None:
        self.columns, self.users, self.items, self.explicit = columns, users, items, explicit
        self._user_code = {self._key(u): i for i, u in enumerate(users)}
        self._item_code = {self._key(i): c for c, i in enumerate(items)}
        self.history = sparse.csr_matrix((len(users), len(items)), dtype=np.float32)
        self.popularity = np.zeros(len(items))
        self.side: dict[str, SideTable] = {}
        #: Each known user's blended top items and scores (filled when the run is done).
        self.top_items: np.ndarray | None = None
        self.top_scores: np.ndarray | None = None
        self.rating_range: tuple[float, float] | None = None
        self.mean_rating = float("nan")

    @staticmethod
    def _key(value: Any) -> Any:
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value if isinstance(value, int) else str(value)

    @property
    def schema(self) -> dict[str, Any]:
        """What a request names: the user and item columns."""
        return {"user": self.columns.user, "item": self.columns.item,
                "rating": self.columns.rating, "explicit": self.explicit}

    def user_codes(self, users: Any) -> np.ndarray:
        """Codes of ``users``; -1 for a user the model has never seen."""
        return np.array([self._lookup(self._user_code, u) for u in users], np.int64)

    def item_codes(self, items: Any) -> np.ndarray:
        """Codes of ``items``; -1 for an item the model has never seen."""
        return np.array([self._lookup(self._item_code, i) for i in items], np.int64)

    def _lookup(self, codes: dict[Any, int], value: Any) -> int:
        """The code of an id; an id given as text ("42", from a command line or a JSON
        string) finds the number 42 too."""
        key = self._key(value)
        found = codes.get(key)
        if found is None and isinstance(key, str):
            try:
                found = codes.get(self._key(float(key)))
            except ValueError:
                found = None
        return -1 if found is None else found

    def transform(self, data: pd.DataFrame) -> Features:
        """Features of (user, item) rows, unknown ids as code -1."""
        if not isinstance(data, pd.DataFrame):
            raise DataError(f"recommendation models read a table of ({self.columns.user}, "
                            f"{self.columns.item}) rows, not a {type(data).__name__}")
        for name in (self.columns.user, self.columns.item):
            if name not in data.columns:
                raise SchemaError(f"the rows lack the column {name!r}; they need "
                                  f"{self.columns.user!r} and {self.columns.item!r}")
        X = np.column_stack([self.user_codes(data[self.columns.user]),
                             self.item_codes(data[self.columns.item]),
                             _times(data, self.columns.time if self.columns.time in data
                                    else None)]).astype(np.float64)
        return Features(X, names=("user", "item", "time"), block_info=self.block_info(),
                        side={name: table.matrix for name, table in self.side.items()})

    def block_info(self, relevant_min: float | None = None) -> dict[str, Any]:
        """The facts learners read about the codes and side tables."""
        info: dict[str, Any] = {"interactions": {
            "n_users": len(self.users), "n_items": len(self.items), "explicit": self.explicit,
            "relevant_min": relevant_min}}
        if self.side:
            info["side"] = {name: {"names": t.names, "categorical": t.categorical}
                            for name, t in self.side.items()}
        return info

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state (the arrays go to :meth:`save_files`)."""
        return {"kind": KIND, "columns": vars(self.columns), "users": self.users,
                "items": self.items, "explicit": self.explicit,
                "rating_range": self.rating_range, "mean_rating": self.mean_rating,
                "side": {name: {"names": t.names, "categorical": t.categorical}
                         for name, t in self.side.items()}}

    def save_files(self, directory: Path) -> None:
        """The history, popularity, side tables and precomputed lists, as .npz."""
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {"indptr": self.history.indptr, "indices": self.history.indices,
                  "data": self.history.data, "popularity": self.popularity}
        arrays.update({f"side_{name}": t.matrix for name, t in self.side.items()})
        if self.top_items is not None and self.top_scores is not None:
            arrays.update(top_items=self.top_items, top_scores=self.top_scores)
        with (directory / "arrays.npz").open("wb") as handle:
            np.savez(handle, **arrays)

    def load_files(self, directory: Path) -> None:
        """Read what :meth:`save_files` wrote."""
        with np.load(directory / "arrays.npz", allow_pickle=False) as data:
            shape = (len(self.users), len(self.items))
            self.history = sparse.csr_matrix((data["data"], data["indices"], data["indptr"]),
                                             shape=shape)
            self.popularity = data["popularity"]
            for name in self.side:
                self.side[name].matrix = data[f"side_{name}"]
            if "top_items" in data:
                self.top_items, self.top_scores = data["top_items"], data["top_scores"]

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> RecsysPreprocessor:
        """Inverse of :meth:`to_dict` (then :meth:`load_files` for the arrays)."""
        pre = cls(Columns(**state["columns"]), list(state["users"]), list(state["items"]),
                  bool(state["explicit"]))
        pre.rating_range = (tuple(state["rating_range"])  # type: ignore[assignment]
                            if state.get("rating_range") else None)
        pre.mean_rating = float(state.get("mean_rating", float("nan")))
        pre.side = {name: SideTable(np.zeros((0, len(s["names"]))), list(s["names"]),
                                    list(s["categorical"]))
                    for name, s in state.get("side", {}).items()}
        return pre


def clean(frame: pd.DataFrame, columns: Columns) -> tuple[pd.DataFrame, list[str], bool]:
    """Rows with both ids and a value, duplicates of a (user, item) pair aggregated (ratings:
    the latest, or the mean without times; implicit feedback: counted, or its values
    summed). Returns the cleaned long frame (user, item, value, time, count), notes saying
    what was done, and whether the values are explicit ratings (:func:`looks_like_ratings`)."""
    _check_columns(frame, columns)
    notes: list[str] = []
    values, present = _values(frame, columns.rating)
    ids_missing = frame[columns.user].isna().to_numpy() | frame[columns.item].isna().to_numpy()
    if ids_missing.any():
        notes.append(f"{int(ids_missing.sum())} rows without a user or item id were left out")
    if (~present & ~ids_missing).any():
        notes.append(f"{int((~present & ~ids_missing).sum())} rows without a rating were "
                     "left out")
    keep = present & ~ids_missing
    long = pd.DataFrame({"user": frame[columns.user].to_numpy()[keep],
                         "item": frame[columns.item].to_numpy()[keep],
                         "value": values[keep], "time": _times(frame, columns.time)[keep]})
    if long.empty:
        raise DataError("no row has both a user and an item id (and a rating); nothing to "
                        "learn from")
    explicit = columns.rating is not None and looks_like_ratings(long["value"].to_numpy())
    if columns.rating is not None and not explicit:
        notes.append(f"the values of {columns.rating!r} are not a rating scale (0/1, one "
                     "value, or counts above 10): read as implicit feedback, their sums "
                     "weighting each (user, item) pair")
    grouped = long.sort_values("time", kind="stable").groupby(["user", "item"], sort=False)
    counts = grouped.size()
    if (counts > 1).any():
        how = "kept the latest rating" if explicit and columns.time else (
            "averaged the ratings" if explicit else "counted them as one interaction's value")
        notes.append(f"{int((counts > 1).sum())} (user, item) pairs occurred more than once "
                     f"({int(counts.sum() - len(counts))} extra rows): {how}")
    if explicit:
        value = grouped["value"].last() if columns.time else grouped["value"].mean()
    else:
        value = grouped["value"].sum() if columns.rating else counts.astype(float)
    out = pd.DataFrame({"value": value, "time": grouped["time"].max(), "count": counts})
    return out.reset_index(), notes, explicit


def looks_like_ratings(values: np.ndarray) -> bool:
    """Whether values are ratings on a scale (explicit feedback): more than two distinct
    values, at most 20 of them, none above 10. A constant or 0/1 column marks interactions,
    and counts of plays or clicks run higher: both are implicit feedback."""
    distinct = np.unique(values[~np.isnan(values)])
    return 2 < len(distinct) <= MAX_SCALE_VALUES and float(distinct.max()) <= MAX_RATING


def fit_preprocessor(long: pd.DataFrame, columns: Columns, explicit: bool
                     ) -> tuple[RecsysPreprocessor, Features, np.ndarray]:
    """The preprocessor and the training features of cleaned interactions."""
    users, items = _labels(long["user"]), _labels(long["item"])
    if len(users) < 2 or len(items) < 2:
        raise DataError(f"the data has {len(users)} distinct users and {len(items)} distinct "
                        "items; recommending needs at least two of each")
    pre = RecsysPreprocessor(columns, users, items, explicit)
    user_codes = pre.user_codes(long["user"])
    item_codes = pre.item_codes(long["item"])
    y = long["value"].to_numpy(np.float64)
    X = np.column_stack([user_codes, item_codes, long["time"].to_numpy(np.float64)])
    pre.history = user_item_matrix(X, None, (len(users), len(items))).astype(np.float32)
    pre.popularity = np.bincount(item_codes, minlength=len(items)).astype(np.float64)
    if explicit:
        pre.rating_range = (float(y.min()), float(y.max()))
        pre.mean_rating = float(y.mean())
    return pre, Features(X, names=("user", "item", "time")), y


def side_table(frame: pd.DataFrame, key: str, labels: list[Any],
               code_of: Any) -> SideTable:
    """Numeric and categorical columns of a user or item table, one row per code (NaN for a
    code the table lacks); ids, titles and other near-unique strings are left out, and a
    "|"-separated column (genres) becomes one 0/1 column per frequent token."""
    if key not in frame.columns:
        raise SchemaError(f"the side table has no {key!r} column to join on; columns: "
                          f"{', '.join(map(str, frame.columns[:20]))}")
    frame = frame.drop_duplicates(subset=[key], keep="last")
    codes = code_of(frame[key])
    frame, codes = frame[codes >= 0], codes[codes >= 0]
    columns: list[np.ndarray] = []
    names: list[str] = []
    categorical: list[int] = []
    for name in frame.columns:
        if name == key:
            continue
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            columns.append(column.to_numpy(dtype=np.float64))
            names.append(str(name))
            continue
        text = column.astype("string")
        if text.str.contains(TOKEN_SEP, regex=False).mean() > 0.2:
            parts = text.str.split(TOKEN_SEP, regex=False)
            for token in parts.explode().value_counts().index[:MAX_TOKENS]:
                columns.append(parts.apply(lambda row, t=token: float(t in (row or [])))
                               .to_numpy(dtype=np.float64))
                names.append(f"{name}={token}")
            continue
        if text.nunique() > MAX_DISTINCT_SHARE * max(1, len(text)):
            continue  # an id or a title
        categories = pd.Categorical(text)
        coded = categories.codes.astype(np.float64)
        columns.append(np.where(coded < 0, np.nan, coded))
        categorical.append(len(names))
        names.append(str(name))
    matrix = np.full((len(labels), len(columns)), np.nan)
    for index, values in enumerate(columns):
        matrix[codes, index] = values
    return SideTable(matrix, names, categorical)


def read_side(source: Any, what: str) -> pd.DataFrame:
    """A side table given as a DataFrame or a file path."""
    if isinstance(source, pd.DataFrame):
        return source
    from accelml.io import read_table

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = read_table(Path(source))
    if frame.empty:
        raise DataError(f"the {what} table {source} is empty")
    return frame
