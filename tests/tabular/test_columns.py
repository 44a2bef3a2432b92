"""Column typing: each kind is recognised, identifiers and useless columns are dropped."""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
import pytest

from accelml.errors import DataError, SchemaError
from accelml.tabular.columns import (
    ColumnKind,
    category_key,
    coerce_boolean,
    coerce_datetime,
    coerce_numeric,
    infer_column,
    infer_columns,
)

N = 60
RNG = np.random.default_rng(0)


def kind_of(values: list | np.ndarray | pd.Series, dtype: str | None = None) -> ColumnKind:
    info = infer_column(pd.Series(values, name="c", dtype=dtype))
    assert not info.dropped, info.drop_reason
    return info.kind


@pytest.mark.parametrize(
    ("values", "dtype", "kind"),
    [
        (RNG.normal(size=N), None, ColumnKind.NUMERIC),
        (RNG.integers(0, 5, N), None, ColumnKind.NUMERIC),
        (list(RNG.integers(0, 5, N)) + [None], "Int64", ColumnKind.NUMERIC),
        ([1, 2.5, None] * 20, "object", ColumnKind.NUMERIC),
        (["1.5", "2", " 3 ", ""] * 15, None, ColumnKind.NUMERIC),
        (["a", "b", "c"] * 20, None, ColumnKind.CATEGORICAL),
        (["a", "b", None] * 20, "object", ColumnKind.CATEGORICAL),
        ([1, 2, 3] * 20, "category", ColumnKind.CATEGORICAL),
        (["007", "010", "123"] * 20, None, ColumnKind.CATEGORICAL),
        (["May", "June", "July"] * 20, None, ColumnKind.CATEGORICAL),
        (["3-4", "5-6", "1-2"] * 20, None, ColumnKind.CATEGORICAL),
        ([1, "a", 2.5] * 20, "object", ColumnKind.CATEGORICAL),
        ([True, False] * 30, None, ColumnKind.BOOLEAN),
        ([True, False, None] * 20, "object", ColumnKind.BOOLEAN),
        ([True, False, None] * 20, "boolean", ColumnKind.BOOLEAN),
        (["True", "false", "TRUE"] * 20, None, ColumnKind.BOOLEAN),
        (pd.date_range("2020-01-01", periods=N), None, ColumnKind.DATETIME),
        (pd.date_range("2020-01-01", periods=N, tz="UTC"), None, ColumnKind.DATETIME),
        ([datetime.date(2020, 1, d) for d in range(1, 31)] * 2, "object", ColumnKind.DATETIME),
        (["2020-01-05", "2021-03-07", "1999-12-31", ""] * 15, None, ColumnKind.DATETIME),
        (["25/12/2020", "01/02/2021", "13/07/2019"] * 20, None, ColumnKind.DATETIME),
    ],
)
def test_kind_detected(values: list, dtype: str | None, kind: ColumnKind) -> None:
    assert kind_of(values, dtype) is kind


def test_free_text_detected_and_short_strings_are_categories() -> None:
    words = ["good", "bad", "great", "awful", "fine", "meh", "slow", "fast"]
    reviews = [" ".join(RNG.choice(words, 6)) for _ in range(N)]
    assert kind_of(reviews) is ColumnKind.TEXT
    degrees = ["bachelor of science degree", "master of arts degree"] * 30
    assert kind_of(degrees) is ColumnKind.CATEGORICAL


def test_dates_written_as_text_keep_their_format() -> None:
    info = infer_column(pd.Series(["25/12/2020", "01/02/2021"] * 20, name="d"))
    assert info.datetime_format == "%d/%m/%Y"
    assert info.note is not None and "dates" in info.note


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        (np.arange(100, 100 + N), "near-contiguous"),
        (RNG.permutation(N) + 500, "near-contiguous"),
        (np.sort(RNG.choice(10_000, N, replace=False)), "sorted order"),
        ([f"user{i:04d}" for i in RNG.permutation(N)], "distinct"),
        ([str(i) for i in range(N)], "near-contiguous"),
    ],
)
def test_id_like_columns_dropped(values: np.ndarray | list, reason: str) -> None:
    info = infer_column(pd.Series(values, name="id"))
    assert info.dropped
    assert info.drop_reason is not None
    assert info.drop_reason.startswith("ID-like") and reason in info.drop_reason


@pytest.mark.parametrize(
    "values",
    [
        RNG.normal(size=N),  # distinct floats are a real feature
        RNG.choice(10_000, N, replace=False),  # distinct, scattered, unsorted integers
        np.arange(10),  # too few rows to tell
        list(np.arange(N - 1)) + [None],  # has a missing value: not a row key
    ],
)
def test_distinct_values_that_are_not_ids_kept(values: np.ndarray | list) -> None:
    assert not infer_column(pd.Series(values, name="x")).dropped


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ([7] * N, "constant (every value is '7')"),
        (["a"] * N, "constant (every value is 'a')"),
        ([np.nan] * N, "all values missing"),
        ([None, "", "  "] * 20, "all values missing"),
    ],
)
def test_useless_columns_dropped(values: list, reason: str) -> None:
    assert infer_column(pd.Series(values, name="c")).drop_reason == reason


def test_one_value_plus_missing_is_kept() -> None:
    # Whether the value is present can carry signal.
    assert not infer_column(pd.Series([1.0, np.nan] * 30)).dropped


def test_infer_columns_names_every_column_as_text() -> None:
    df = pd.DataFrame({0: RNG.normal(size=N), "b": ["x", "y"] * 30})
    infos = infer_columns(df)
    assert [i.name for i in infos] == ["0", "b"]
    assert [i.kind for i in infos] == [ColumnKind.NUMERIC, ColumnKind.CATEGORICAL]
    assert infos[0].dtype == "float64"


def test_object_dtype_strings_read_like_string_dtype() -> None:
    # pandas 2 holds strings in object columns; pandas 3 in "str" columns.
    values = ["a", "b", None, "c"] * 15
    assert kind_of(values, "object") is kind_of(values, "str") is ColumnKind.CATEGORICAL


@pytest.mark.parametrize(
    ("value", "key"),
    [(3, "3"), (3.0, "3"), ("3", "3"), (" a ", "a"), (2.5, "2.5"), (np.int64(4), "4"),
     (np.float32(4.0), "4"), (True, "True"), (float("nan"), "")],
)
def test_category_key_makes_numbers_and_strings_meet(value: object, key: str) -> None:
    assert category_key(value) == key


def test_coerce_numeric_reads_strings_and_names_bad_value() -> None:
    values = coerce_numeric(pd.Series(["1.5", None, "", "2"]), "age")
    np.testing.assert_array_equal(values, [1.5, np.nan, np.nan, 2.0])
    with pytest.raises(SchemaError, match="column 'age' should be numeric but holds 'abc'"):
        coerce_numeric(pd.Series(["1", "abc"]), "age")


def test_coerce_boolean_reads_words_and_names_bad_value() -> None:
    values = coerce_boolean(pd.Series(["yes", "False", 1, 0.0, None], dtype=object), "b")
    np.testing.assert_array_equal(values, [1.0, 0.0, 1.0, 0.0, np.nan])
    with pytest.raises(SchemaError, match="column 'b' should be true/false but holds 'maybe'"):
        coerce_boolean(pd.Series(["true", "maybe"]), "b")


def test_coerce_datetime_falls_back_to_iso_and_names_bad_value() -> None:
    stamps = coerce_datetime(
        pd.Series(["2020-01-02", "2020-01-02T05:00:00+02:00", None]), "d", "%Y-%m-%d", True
    )
    assert list(stamps.dt.hour.fillna(-1)) == [0, 3, -1]  # zoned values are read in UTC
    with pytest.raises(SchemaError, match="column 'd' should hold dates .* but holds 'soon'"):
        coerce_datetime(pd.Series(["2020-01-02", "soon"]), "d", "%Y-%m-%d", True)
    lenient = coerce_datetime(pd.Series(["2020-01-02", "soon"]), "d", "%Y-%m-%d", False)
    assert lenient.isna().tolist() == [False, True]


@pytest.mark.parametrize(("values", "kind"), [
    ([[1, 2], [3], None], "list"),
    ([{"a": 1}, None, {"a": 2}], "dict"),
    ([np.array([1.0]), np.array([2.0]), np.array([3.0])], "ndarray"),
], ids=["list", "dict", "array"])
def test_nested_values_are_a_data_error_naming_the_column(values: list, kind: str) -> None:
    with pytest.raises(DataError, match=rf"column 'tags' holds {kind} values .*flatten it"):
        infer_column(pd.Series(values, name="tags", dtype=object))
