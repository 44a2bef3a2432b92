"""TabularPreprocessor: encodings, the predict-time schema check, JSON round trip."""

from __future__ import annotations

import json
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from accelml.core.data import Features
from accelml.errors import ArtifactError, DataError, NotFittedError, SchemaError
from accelml.tabular.preprocess import OTHER, TabularPreprocessor

N = 100


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """One column of every kind, plus columns that must be dropped."""
    rng = np.random.default_rng(0)
    words = ["good", "bad", "great", "awful", "fine", "meh"]
    df = pd.DataFrame({
        "id": np.arange(N),
        "age": rng.integers(18, 90, N),
        "income": rng.normal(50_000, 10_000, N),
        "city": rng.choice(["paris", "rome", "oslo"], N),
        "member": rng.random(N) > 0.5,
        "joined": pd.date_range("2020-01-01", periods=N, freq="D").strftime("%Y-%m-%d"),
        "seen": pd.date_range("2021-06-01", periods=N, freq="7h"),
        "review": [" ".join(rng.choice(words, 5)) for _ in range(N)],
        "country": "fr",
        "empty": np.nan,
    })
    df.loc[[1, 4], "income"] = np.nan
    df.loc[[2], "city"] = None
    df.loc[[5], "city"] = "lima"  # a rare category
    return df


@pytest.fixture(scope="module")
def fitted(frame: pd.DataFrame) -> TabularPreprocessor:
    return TabularPreprocessor().fit(frame)


def column(features: Features, name: str) -> np.ndarray:
    return features.X[:, features.names.index(name)]


def test_layout_names_every_feature(fitted: TabularPreprocessor, frame: pd.DataFrame) -> None:
    features = fitted.transform(frame)
    assert features.X.shape == (N, 4 + 5 + 6 + 32)
    assert features.X.dtype == np.float64
    assert features.names[:4] == ("age", "income", "city", "member")
    assert "joined.hour" not in features.names  # every time is midnight
    assert "seen.hour" in features.names and "review.hash31" in features.names
    assert features.categorical == (2,)
    assert features.cardinalities == (4,)  # paris, rome, oslo + __other__


def test_dropped_columns_get_notes(fitted: TabularPreprocessor) -> None:
    assert "dropped column 'id': ID-like (all 100 values are distinct integers in a " \
        "near-contiguous range)" in fitted.notes
    assert "dropped column 'country': constant (every value is 'fr')" in fitted.notes
    assert "dropped column 'empty': all values missing" in fitted.notes
    dropped = {spec["name"]: spec["dropped"] for spec in fitted.schema if "dropped" in spec}
    assert set(dropped) == {"id", "country", "empty"}


def test_numeric_and_boolean_values(fitted: TabularPreprocessor, frame: pd.DataFrame) -> None:
    features = fitted.transform(frame)
    np.testing.assert_array_equal(column(features, "income"), frame["income"].to_numpy())
    assert np.isnan(column(features, "income")[[1, 4]]).all()
    np.testing.assert_array_equal(column(features, "member"), frame["member"].astype(float))


def test_rare_and_unseen_categories_share_other(
    fitted: TabularPreprocessor, frame: pd.DataFrame
) -> None:
    spec = next(s for s in fitted.schema if s["name"] == "city")
    assert spec["kind"] == "categorical"
    assert sorted(spec["categories"]) == ["oslo", "paris", "rome"]
    assert any("1 rare category" in note and OTHER in note for note in fitted.notes)
    other = 3.0
    codes = column(fitted.transform(frame), "city")
    assert codes[5] == other and np.isnan(codes[2])
    assert set(codes[~np.isnan(codes)]) == {0.0, 1.0, 2.0, other}
    new = frame.head(3).assign(city=["tokyo", "paris", None])
    codes = column(fitted.transform(new), "city")
    assert codes[0] == other
    assert codes[1] == spec["categories"].index("paris") and np.isnan(codes[2])


def test_all_rare_categories_are_kept() -> None:
    df = pd.DataFrame({"c": ["a", "b", "c", "a", "b", "c"], "x": np.arange(6.0) ** 2})
    preprocessor = TabularPreprocessor(min_category_count=5)
    features = preprocessor.fit_transform(df)
    assert features.cardinalities == (4,)
    assert set(column(features, "c")) == {0.0, 1.0, 2.0}


def test_cardinality_is_capped() -> None:
    df = pd.DataFrame({"c": [f"v{i % 40}" for i in range(400)], "x": np.ones(400)})
    df.loc[0, "x"] = 2.0
    preprocessor = TabularPreprocessor(max_categories=10)
    features = preprocessor.fit_transform(df)
    assert features.cardinalities == (11,)
    assert any("kept the 10 most frequent of 40 categories" in n for n in preprocessor.notes)


def test_numbers_as_categories_round_trip_as_strings() -> None:
    df = pd.DataFrame({"grade": pd.Categorical([1, 2, 3] * 10), "x": np.arange(30.0) ** 2})
    preprocessor = TabularPreprocessor().fit(df)
    expected = column(preprocessor.transform(df), "grade")[:3]
    for sent in (["1", "2", "3"], [1.0, 2.0, 3.0], [1, 2, 3]):
        got = column(preprocessor.transform(pd.DataFrame({"grade": sent, "x": 1.0})), "grade")
        np.testing.assert_array_equal(got, expected)


def test_datetime_parts(fitted: TabularPreprocessor, frame: pd.DataFrame) -> None:
    features = fitted.transform(frame)
    joined = pd.to_datetime(frame["joined"])
    pandas_names = {"year": "year", "month": "month", "day": "day",
                    "dayofweek": "day_of_week", "dayofyear": "day_of_year"}
    for part, attribute in pandas_names.items():
        np.testing.assert_array_equal(column(features, f"joined.{part}"),
                                      getattr(joined.dt, attribute).to_numpy(dtype=float))
    np.testing.assert_array_equal(column(features, "seen.hour"), frame["seen"].dt.hour)
    row = fitted.transform(frame.head(1).assign(joined=[None]))
    assert np.isnan(column(row, "joined.year")).all()


def test_text_is_hashed_and_normalised(fitted: TabularPreprocessor, frame: pd.DataFrame) -> None:
    features = fitted.transform(frame)
    hashed = features.X[:, [features.names.index(f"review.hash{j}") for j in range(32)]]
    assert (hashed >= 0).all()
    np.testing.assert_allclose(np.linalg.norm(hashed, axis=1), 1.0)
    missing = fitted.transform(frame.head(1).assign(review=[None]))
    assert np.isnan(missing.X[0, features.names.index("review.hash0")])


def test_json_round_trip_transforms_identically(
    fitted: TabularPreprocessor, frame: pd.DataFrame
) -> None:
    restored = TabularPreprocessor.from_dict(json.loads(json.dumps(fitted.to_dict())))
    before, after = fitted.transform(frame), restored.transform(frame)
    np.testing.assert_array_equal(before.X, after.X)
    assert before.layout() == after.layout()
    assert restored.notes == fitted.notes and restored.schema == fitted.schema


def test_from_dict_rejects_other_formats() -> None:
    with pytest.raises(ArtifactError, match="not a saved tabular preprocessor"):
        TabularPreprocessor.from_dict({"format": "something/9"})


def test_single_row_equals_batch_row(fitted: TabularPreprocessor, frame: pd.DataFrame) -> None:
    batch = fitted.transform(frame)
    for i in (0, 2, 5, 57):
        single = fitted.transform(frame.iloc[[i]])
        np.testing.assert_array_equal(single.X[0], batch.X[i])
    as_dict = fitted.transform(frame.iloc[0].to_dict())
    np.testing.assert_array_equal(as_dict.X[0], batch.X[0])


def test_single_row_is_fast(fitted: TabularPreprocessor, frame: pd.DataFrame) -> None:
    row = frame.iloc[[3]]
    fitted.transform(row)
    start = time.perf_counter()
    for _ in range(20):
        fitted.transform(row)
    assert (time.perf_counter() - start) / 20 < 0.02  # ~1-2 ms; loose for slow CI machines


def test_column_order_does_not_matter(fitted: TabularPreprocessor, frame: pd.DataFrame) -> None:
    shuffled = frame[list(reversed(frame.columns))]
    np.testing.assert_array_equal(fitted.transform(shuffled).X, fitted.transform(frame).X)


def test_dropped_columns_are_not_required(
    fitted: TabularPreprocessor, frame: pd.DataFrame
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        features = fitted.transform(frame.drop(columns=["id", "country", "empty"]))
    assert len(features) == N


def test_missing_column_named_with_close_match(
    fitted: TabularPreprocessor, frame: pd.DataFrame
) -> None:
    renamed = frame.rename(columns={"income": "Income"}).drop(columns=["city"])
    with pytest.raises(SchemaError) as caught:
        fitted.transform(renamed)
    message = str(caught.value)
    assert "lacks 2 column(s)" in message
    assert "'income' (did you mean 'Income'?)" in message and "'city'" in message
    assert "add the column" in message and "retrain" in message


def test_extra_column_warns(fitted: TabularPreprocessor, frame: pd.DataFrame) -> None:
    with pytest.warns(UserWarning, match="ignored column.*'surprise'"):
        features = fitted.transform(frame.assign(surprise=1))
    np.testing.assert_array_equal(features.X, fitted.transform(frame).X)


def test_wrong_dtype_coerced(fitted: TabularPreprocessor, frame: pd.DataFrame) -> None:
    as_text = frame.head(5).assign(
        age=frame["age"].head(5).astype(str),
        member=frame["member"].head(5).map({True: "true", False: "false"}),
        seen=frame["seen"].head(5).dt.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    np.testing.assert_array_equal(fitted.transform(as_text).X, fitted.transform(frame.head(5)).X)


def test_uncoercible_value_named(fitted: TabularPreprocessor, frame: pd.DataFrame) -> None:
    bad = frame.head(3).assign(age=["31", "abc", None])
    with pytest.raises(SchemaError, match="column 'age' should be numeric but holds 'abc'"):
        fitted.transform(bad)
    bad = frame.head(2).assign(joined=["2020-01-01", "someday"])
    with pytest.raises(SchemaError, match="column 'joined' should hold dates"):
        fitted.transform(bad)


def test_not_fitted_and_bad_training_data() -> None:
    with pytest.raises(NotFittedError, match="call fit"):
        TabularPreprocessor().transform(pd.DataFrame({"a": [1]}))
    with pytest.raises(DataError, match="empty"):
        TabularPreprocessor().fit(pd.DataFrame({"a": []}))
    with pytest.raises(DataError, match="no usable feature column.*'c': constant"):
        TabularPreprocessor().fit(pd.DataFrame({"c": [1, 1, 1]}))
    with pytest.raises(DataError, match="duplicate column names: 'a'"):
        TabularPreprocessor().fit(pd.DataFrame([[1, 2]], columns=["a", "a"]))


def test_object_dtype_frame_matches_string_dtype(frame: pd.DataFrame) -> None:
    # pandas 2 (and pandas 3 with object columns) hands strings over as object dtype.
    as_object = frame.astype({"city": object, "joined": object, "review": object})
    a = TabularPreprocessor().fit_transform(frame)
    b = TabularPreprocessor().fit_transform(as_object)
    np.testing.assert_array_equal(a.X, b.X)


def test_breast_cancer_passes_through() -> None:
    X = load_breast_cancer(as_frame=True).data
    preprocessor = TabularPreprocessor()
    features = preprocessor.fit_transform(X)
    np.testing.assert_array_equal(features.X, X.to_numpy(dtype=np.float64))
    assert features.names == tuple(X.columns) and features.categorical == ()
    assert preprocessor.notes == []


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as a JSON client sends them: plain Python values, None for missing, text dates."""
    plain = frame.astype(object).where(frame.notna(), None)
    plain["seen"] = [v.isoformat() if v is not None else None for v in plain["seen"]]
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in plain.to_dict("records")]


def test_records_equal_the_frame_path(fitted: TabularPreprocessor, frame: pd.DataFrame) -> None:
    records = _records(frame)
    fast = fitted.transform_records(records)
    batch = fitted.transform(pd.DataFrame(records))
    np.testing.assert_array_equal(fast.X, batch.X)
    np.testing.assert_array_equal(fast.X, fitted.transform(frame).X)
    mixed = [dict(records[0], age="42", member="yes", city=7), dict(records[1], income=None)]
    np.testing.assert_array_equal(fitted.transform_records(mixed).X,
                                  fitted.transform(pd.DataFrame(mixed)).X)


def test_records_are_fast(fitted: TabularPreprocessor, frame: pd.DataFrame) -> None:
    row = [{k: v for k, v in rec.items() if k not in ("seen", "joined", "review")}
           for rec in _records(frame.iloc[[3]])]
    numeric_only = TabularPreprocessor().fit(frame[["age", "income", "city", "member"]])
    numeric_only.transform_records(row)
    start = time.perf_counter()
    for _ in range(200):
        numeric_only.transform_records(row)
    assert (time.perf_counter() - start) / 200 < 0.001  # ~30 us; loose for slow CI machines


def test_bad_records_are_named(fitted: TabularPreprocessor, frame: pd.DataFrame) -> None:
    record = _records(frame.iloc[[0]])[0]
    with pytest.raises(SchemaError, match=r"row 1: the data lacks 1 column\(s\).*'income'"):
        fitted.transform_records([record, {k: v for k, v in record.items() if k != "income"}])
    with pytest.raises(SchemaError, match="column 'age' should be numeric but holds 'old'"):
        fitted.transform_records([dict(record, age="old")])
    with pytest.raises(SchemaError, match="column 'member' should be true/false"):
        fitted.transform_records([dict(record, member="perhaps")])
    with pytest.raises(DataError, match="list of rows is empty"):
        fitted.transform_records([])


def test_infinities_are_missing_with_a_warning_on_both_paths(
    fitted: TabularPreprocessor, frame: pd.DataFrame
) -> None:
    rows = frame.head(4).assign(income=[np.inf, -np.inf, 1.0, np.nan], age=[30, 40, 50, 60])
    with pytest.warns(UserWarning, match=r"column 'income': 2 infinite values .* read as "
                      "missing") as caught:
        batch = fitted.transform(rows)
    assert len(caught) == 1
    assert np.isnan(column(batch, "income")[[0, 1, 3]]).all()
    assert column(batch, "income")[2] == 1.0
    records = _records(rows.head(3))
    records[2]["income"] = 10**400  # a JSON integer past the float range
    with pytest.warns(UserWarning, match="column 'income': 3 infinite values"):
        fast = fitted.transform_records(records)
    assert np.isnan(column(fast, "income")).all()
    as_text = frame.head(2).assign(income=["inf", "-Infinity"])
    with pytest.warns(UserWarning, match="column 'income': 2 infinite values"):
        assert np.isnan(column(fitted.transform(as_text), "income")).all()
    assert rows["income"].iloc[0] == np.inf  # the caller's frame is left as it was


def test_huge_values_are_clipped_to_the_widened_training_range(
    fitted: TabularPreprocessor, frame: pd.DataFrame
) -> None:
    spec = next(s for s in fitted.schema if s["name"] == "age")
    low, high = frame["age"].min(), frame["age"].max()
    margin = max(high - low, abs(low), abs(high))
    assert spec["clip"] == [low - margin, high + margin]
    rows = frame.head(4).assign(age=[1e308, -1e308, high + 1.0, 2.0 * high])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ages = column(fitted.transform(rows), "age")
    np.testing.assert_array_equal(ages, [high + margin, low - margin, high + 1.0, 2.0 * high])
    records = _records(rows)
    np.testing.assert_array_equal(column(fitted.transform_records(records), "age"), ages)
    X = fitted.transform(frame).X  # the training values themselves are kept exactly
    np.testing.assert_array_equal(column(fitted.transform(frame), "age"), frame["age"])
    assert np.isfinite(X.astype(np.float32)[~np.isnan(X)]).all()


def test_the_clip_range_survives_json_and_older_states_still_load(
    fitted: TabularPreprocessor, frame: pd.DataFrame
) -> None:
    state = json.loads(json.dumps(fitted.to_dict()))
    restored = TabularPreprocessor.from_dict(state)
    rows = frame.head(2).assign(income=[1e300, -1e300])
    np.testing.assert_array_equal(restored.transform(rows).X, fitted.transform(rows).X)
    for spec in state["columns"]:
        spec.pop("clip", None)  # saved before columns had clip bounds
    older = TabularPreprocessor.from_dict(state)
    np.testing.assert_array_equal(column(older.transform(rows), "income"), [1e30, -1e30])


def test_training_infinities_leave_a_finite_range() -> None:
    train = pd.DataFrame({"x": [1.0, 2.0, np.inf, 4.0, -np.inf, 3.0],
                          "c": ["a", "b", "a", "b", "a", "b"]})
    preprocessor = TabularPreprocessor().fit(train)
    assert preprocessor.schema[0]["clip"] == [-3.0, 8.0]
    with pytest.warns(UserWarning, match="column 'x': 2 infinite values"):
        X = preprocessor.transform(train).X
    assert np.isnan(X[[2, 4], 0]).all() and np.isfinite(np.delete(X[:, 0], [2, 4])).all()


def test_cells_holding_lists_or_dicts_are_named(fitted: TabularPreprocessor,
                                                frame: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="column 'tags' holds list values"):
        TabularPreprocessor().fit(frame.assign(tags=[[i, i + 1] for i in range(N)]))
    for column_name, value in (("city", {"name": "paris"}), ("member", ["yes"])):
        bad = frame.head(2).astype({column_name: object})
        bad[column_name] = [value, value]
        with pytest.raises(SchemaError, match=f"column {column_name!r} holds "
                           f"{type(value).__name__} values"):
            fitted.transform(bad)


def test_numeric_columns_read_in_one_block_encode_as_column_by_column() -> None:
    rng = np.random.default_rng(0)
    train = pd.DataFrame(rng.normal(size=(50, 6)), columns=[f"x{i}" for i in range(6)])
    train["count"] = pd.array(rng.integers(0, 9, 50), dtype="Int64")
    train["flag"] = rng.random(50) > 0.5
    fitted = TabularPreprocessor().fit(train)
    rows = train.head(4).copy()
    rows.loc[1, "x2"] = np.inf  # warned about by name, read as missing
    rows.loc[2, "count"] = pd.NA
    rows.loc[3, "x0"] = 1e300  # clipped to the training range
    rows["x5"] = rows["x5"].astype(str)  # numbers sent as text: parsed, not in the block
    with pytest.warns(UserWarning, match="column 'x2': 1 infinite value"):
        block = fitted.transform(rows).X
    records = rows.astype(object).where(rows.notna(), None).to_dict("records")
    records[1]["x2"] = float("inf")
    with pytest.warns(UserWarning, match="column 'x2'"):
        one_by_one = fitted.transform_records(records).X
    np.testing.assert_array_equal(block, one_by_one)
    assert np.isnan(block[1, 2]) and np.isnan(block[2, 6]) and block[3, 0] < 1e300


def test_a_kept_column_layout_follows_each_frames_order_dtypes_and_extras() -> None:
    """The layout of a frame's columns is kept for the next frame with the same columns: a
    frame in another order, with numbers sent as text, or with an extra column still
    encodes as a fresh preprocessor encodes it, and the extra column warns every time."""
    rng = np.random.default_rng(1)
    train = pd.DataFrame(rng.normal(size=(60, 40)).round(3), columns=[f"x{i}" for i in range(40)])
    train["city"] = rng.choice(["paris", "rome"], 60)
    rows = train.head(3)
    expected = TabularPreprocessor().fit(train).transform(rows).X
    fitted = TabularPreprocessor().fit(train)
    numbers_only = rows.drop(columns=["city"])
    for frame in (rows, rows, rows[list(reversed(rows.columns))],
                  rows.assign(x7=rows["x7"].astype(str)), rows):
        np.testing.assert_array_equal(fitted.transform(frame).X, expected)
    fitted_numbers = TabularPreprocessor().fit(train.drop(columns=["city"]))
    for frame in (numbers_only, numbers_only.assign(x3=numbers_only["x3"].astype(str))):
        np.testing.assert_array_equal(fitted_numbers.transform(frame).X,
                                      np.delete(expected, 40, axis=1))
    for _ in range(2):
        with pytest.warns(UserWarning, match="ignored column.*'surprise'"):
            np.testing.assert_array_equal(fitted.transform(rows.assign(surprise=1)).X, expected)


@pytest.mark.parametrize("dtype", [object, "category", "string"])
def test_a_few_rows_encode_their_categories_as_a_whole_frame_does(dtype: object) -> None:
    values = ["paris", " rome ", None, "oslo", "lima", "paris", "rome", "oslo"] * 5
    train = pd.DataFrame({"city": pd.Series(values, dtype=dtype),
                          "code": pd.Series([1, 2, 3, 1.0, 2, 3, None, 1] * 5, dtype=object)})
    fitted = TabularPreprocessor().fit(train)
    unseen = pd.DataFrame({"city": pd.Series(["madrid", None, "rome"] * 8, dtype=dtype),
                           "code": pd.Series(["1", 4, np.nan] * 8, dtype=object)})
    for frame in (train, unseen):  # more rows than encode one by one, then one at a time
        whole = fitted.transform(frame).X
        for i in range(len(frame)):
            np.testing.assert_array_equal(fitted.transform(frame.iloc[[i]]).X[0], whole[i])
    cities = column(fitted.transform(unseen.head(3)), "city")  # madrid, missing, rome
    assert cities[0] == len(fitted.schema[0]["categories"]) and np.isnan(cities[1])
    assert cities[2] == fitted.schema[0]["categories"].index("rome")


def test_a_record_holding_a_list_in_a_category_is_named(fitted: TabularPreprocessor,
                                                        frame: pd.DataFrame) -> None:
    record = dict(_records(frame)[0], city=["paris"])
    with pytest.raises(SchemaError, match="column 'city' holds a list or a dict"):
        fitted.transform_records([record])
