"""Series preparation: columns and values checked, duplicates, order, frequency, gaps,
season length, short series and backtest windows."""

from __future__ import annotations

import pandas as pd
import pytest

from accelml.errors import ConfigError, DataError, SchemaError
from accelml.timeseries.data import (
    PreparedSeries,
    SeriesColumns,
    cutoffs,
    prepare_series,
    season_length_of,
)

COLUMNS = SeriesColumns(id="store", time="date", target="sales")
ONE = SeriesColumns(id=None, time="date", target="sales")


def _prepare(data: pd.DataFrame, columns: SeriesColumns = COLUMNS, horizon: int = 1,
             **options: object) -> PreparedSeries:
    """prepare_series, checking that the caller's frame is left as it was."""
    before = data.copy(deep=True)
    try:
        return prepare_series(data, columns, horizon, **options)
    finally:
        pd.testing.assert_frame_equal(data, before)


def _daily(days: list[int], store: str = "a", start: str = "2024-01-01") -> pd.DataFrame:
    dates = pd.Timestamp(start) + pd.to_timedelta(days, unit="D")
    return pd.DataFrame({"store": store, "date": dates, "sales": [float(d) for d in days]})


def test_daily_gap_is_inserted_and_interpolated() -> None:
    data = _daily([0, 1, 2, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15])
    prepared = _prepare(data, horizon=2)
    frame = prepared.frame
    assert list(frame.columns) == ["unique_id", "ds", "y"]
    assert prepared.frequency == "D" and prepared.step == 1 and prepared.season_length == 7
    assert len(frame) == 16
    assert frame["ds"].diff().dropna().eq(pd.Timedelta(days=1)).all()
    assert frame["y"].tolist() == [float(d) for d in range(16)]  # 3 and 4 interpolated
    assert any("inserted 2 missing timestamps" in n for n in prepared.notes)
    assert any("filled 2 missing target values" in n and "linear interpolation" in n
               for n in prepared.notes)
    assert prepared.short_series == []


def test_monthly_start_dates() -> None:
    dates = pd.date_range("2020-01-01", periods=30, freq="MS")
    data = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "sales": range(30)})
    prepared = _prepare(data, ONE, horizon=6)
    assert prepared.frequency == "MS" and prepared.season_length == 12
    assert prepared.frame["unique_id"].eq("series").all()
    assert prepared.frame["ds"].tolist() == list(dates)
    assert prepared.notes == []


def test_monthly_series_with_a_gap_keeps_its_frequency() -> None:
    dates = pd.date_range("2020-01-01", periods=30, freq="MS").delete([10, 11])
    data = pd.DataFrame({"date": dates, "sales": range(28)})
    prepared = _prepare(data, ONE, horizon=3)
    assert prepared.frequency == "MS" and len(prepared.frame) == 30


def test_integer_steps_use_the_common_divisor() -> None:
    data = pd.DataFrame({"date": [0, 2, 4, 8, 10], "sales": [1.0, 2.0, 3.0, 5.0, 6.0]})
    prepared = _prepare(data, ONE)
    assert prepared.frequency is None and prepared.step == 2 and prepared.season_length == 1
    assert prepared.frame["ds"].tolist() == [0, 2, 4, 6, 8, 10]
    assert prepared.frame["y"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


def test_two_series_of_different_lengths_share_the_frequency() -> None:
    long = _daily(list(range(20)), "a")
    short = _daily([0, 1, 3], "b", start="2024-01-05")  # gapped: pandas infers nothing alone
    prepared = _prepare(pd.concat([long, short], ignore_index=True), horizon=5)
    sizes = prepared.frame.groupby("unique_id").size().to_dict()
    assert sizes == {"a": 20, "b": 4} and prepared.frequency == "D"
    assert prepared.short_series == ["b"]
    assert any("simpler models" in n and "'b'" in n for n in prepared.notes)
    assert any("horizon of 5" in n and "'b'" in n for n in prepared.notes)


def test_unsorted_timestamps_are_sorted_with_a_note() -> None:
    data = _daily([3, 0, 2, 1, 4, 5]).iloc[::-1]
    prepared = _prepare(data)
    assert prepared.frame["y"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert any("sorted the timestamps of 1 series" in n for n in prepared.notes)


def test_duplicates_are_averaged_or_refused() -> None:
    data = pd.concat([_daily([0, 1, 2, 3], "a"), _daily([1], "a").assign(sales=5.0),
                      _daily([0, 1, 2], "b")], ignore_index=True)
    data["price"] = [1.0, 2.0, 3.0, 4.0, 4.0, 7.0, 8.0, 9.0]
    prepared = _prepare(data, SeriesColumns("store", "date", "sales", ("price",)))
    row = prepared.frame.iloc[1]
    assert row["unique_id"] == "a" and row["y"] == 3.0 and row["price"] == 3.0
    assert len(prepared.frame) == 7
    assert any("1 duplicate rows" in n and "'a'" in n for n in prepared.notes)
    with pytest.raises(DataError, match=r"1 rows repeat a timestamp.*'a'.*--duplicates mean"):
        _prepare(data, duplicates="error")


def test_string_in_the_target_is_named() -> None:
    data = _daily([0, 1, 2]).astype({"sales": object})
    data.loc[1, "sales"] = "n/a"
    with pytest.raises(DataError, match=r"target column 'sales'.*'n/a'.*fix or drop"):
        _prepare(data)


def test_numeric_strings_in_the_target_are_read() -> None:
    data = _daily([0, 1, 2]).astype({"sales": str})
    assert _prepare(data).frame["y"].tolist() == [0.0, 1.0, 2.0]


def test_irregular_dates_ask_for_a_frequency() -> None:
    data = _daily([0, 1, 4, 10, 19, 31])
    with pytest.raises(DataError, match=r"could not infer the frequency.*--frequency"):
        _prepare(data)


def test_a_series_off_the_common_grid_is_named() -> None:
    data = pd.concat([_daily(list(range(10)), "a"), _daily([0, 1, 2], "b")], ignore_index=True)
    data.loc[data.index[-1], "date"] += pd.Timedelta(hours=6)
    with pytest.raises(DataError, match=r"1 series \('b'\).*'D' grid.*--frequency"):
        _prepare(data)


def test_given_frequency_fills_the_gaps_and_accepts_old_aliases() -> None:
    data = _daily([0, 4, 7])
    prepared = _prepare(data, frequency="D")
    assert prepared.frequency == "D" and len(prepared.frame) == 8
    ends = pd.DataFrame({"date": pd.date_range("2020-01-31", periods=5, freq="ME"),
                         "sales": range(5)})
    assert _prepare(ends, ONE, frequency="M").frequency == "ME"
    with pytest.raises(ConfigError, match=r"'fortnightly' is not a pandas offset alias"):
        _prepare(data, frequency="fortnightly")
    with pytest.raises(DataError, match=r"not on a regular 'MS' grid"):
        _prepare(data, frequency="MS")


def test_time_that_is_neither_dates_nor_integers() -> None:
    data = _daily([0, 1, 2]).astype({"date": str})
    data.loc[2, "date"] = "yesterday"
    with pytest.raises(DataError, match=r"time column 'date'.*'yesterday'"):
        _prepare(data)
    with pytest.raises(DataError, match=r"not whole, such as 1.5"):
        _prepare(pd.DataFrame({"date": [1.0, 1.5, 2.0], "sales": [1, 2, 3]}), ONE)


def test_missing_column_is_named_with_suggestions() -> None:
    data = _daily([0, 1, 2])
    with pytest.raises(SchemaError, match=r"target column 'sale' .*did you mean 'sales'.*"
                                          r"columns are: 'store', 'date', 'sales'"):
        _prepare(data, SeriesColumns("store", "date", "sale"))
    with pytest.raises(SchemaError, match=r"covariate column 'price'"):
        _prepare(data, SeriesColumns("store", "date", "sales", ("price",)))


def test_leading_and_given_missing_targets_are_filled() -> None:
    data = _daily(list(range(6)))
    data["sales"] = [None, None, 2.0, None, 6.0, None]
    prepared = _prepare(data)
    assert prepared.frame["y"].tolist() == [2.0, 2.0, 2.0, 4.0, 6.0, 6.0]
    assert any("filled 4 missing target values" in n for n in prepared.notes)
    data["sales"] = None
    with pytest.raises(DataError, match=r"no target value at all \('a'\)"):
        _prepare(data.astype({"sales": float}))


def test_covariates_are_carried_forward_then_back() -> None:
    data = _daily([0, 1, 3, 4])
    data["promo"] = [None, 1.0, 0.0, None]
    prepared = _prepare(data, SeriesColumns("store", "date", "sales", ("promo",)))
    assert prepared.frame["promo"].tolist() == [1.0, 1.0, 1.0, 0.0, 0.0]


def test_horizon_and_season_length_settings() -> None:
    data = _daily(list(range(5)))
    with pytest.raises(DataError, match=r"horizon of 5 steps.*\('a', 5 steps\).*--horizon"):
        _prepare(data, horizon=5)
    with pytest.raises(ConfigError, match=r"horizon must be.*got 0"):
        _prepare(data, horizon=0)
    with pytest.raises(ConfigError, match=r"season length must be.*got 0"):
        _prepare(data, season_length=0)
    with pytest.raises(ConfigError, match=r"duplicates='sum' is not a policy"):
        _prepare(data, duplicates="sum")
    prepared = _prepare(data, season_length=2)
    assert prepared.season_length == 2 and prepared.short_series == []


def test_integer_time_with_a_frequency_is_refused() -> None:
    data = pd.DataFrame({"date": [1, 2, 3], "sales": [1.0, 2.0, 3.0]})
    with pytest.raises(ConfigError, match=r"applies to dates.*leave --frequency out"):
        _prepare(data, ONE, frequency="D")


@pytest.mark.parametrize(("frequency", "expected"), [
    ("h", 24), ("D", 7), ("B", 5), ("W-SUN", 52), ("W", 52), ("MS", 12), ("M", 12),
    ("ME", 12), ("QS-OCT", 4), ("QE-DEC", 4), ("Q", 4), ("YS", 1), ("A-DEC", 1),
    ("min", 60), ("30min", 48), ("15min", 96), ("2h", 12), ("s", 60), ("2D", 1),
    ("6MS", 2), (None, 1),
])
def test_season_length_of(frequency: str | None, expected: int) -> None:
    assert season_length_of(frequency) == expected


def test_season_length_of_an_unknown_alias() -> None:
    with pytest.raises(ConfigError, match=r"'fortnight' is not a pandas offset alias"):
        season_length_of("fortnight")


def test_cutoffs_roll_the_origin_without_leaking() -> None:
    frame = pd.DataFrame({"unique_id": ["a"] * 12 + ["b"] * 6,
                          "ds": list(range(12)) + list(range(6)),
                          "y": [float(v) for v in range(18)]})
    before = frame.copy()
    folds = cutoffs(frame, horizon=2, windows=3, season_length=2)
    pd.testing.assert_frame_equal(frame, before)
    assert len(folds) == 3
    for train, valid in folds:
        assert list(train.columns) == list(valid.columns) == list(frame.columns)
        for uid, part in valid.groupby("unique_id"):
            assert len(part) == 2
            seen = train.loc[train["unique_id"] == uid, "ds"]
            assert seen.max() < part["ds"].min()
            assert not set(seen) & set(part["ds"])
    # b (6 steps) has 3 training steps only in the last window (cut 4 steps before its end).
    assert [sorted(set(v["unique_id"])) for _, v in folds] == [["a"], ["a"], ["a", "b"]]
    assert folds[0][1]["ds"].tolist() == [6, 7] and folds[-1][1]["ds"].tolist()[:2] == [10, 11]


def test_cutoffs_need_one_long_enough_series() -> None:
    frame = pd.DataFrame({"unique_id": "a", "ds": range(5), "y": 1.0})
    assert len(cutoffs(frame, horizon=2, windows=2)) == 1  # the first window leaves 1 step
    frame = frame.iloc[:3]
    with pytest.raises(DataError, match=r"no series is long enough.*longest series has 3"):
        cutoffs(frame, horizon=2, windows=2)
    with pytest.raises(ConfigError, match=r"windows must be"):
        cutoffs(frame, horizon=2, windows=0)


def test_numeric_ids_become_text_and_rows_without_id_or_time_are_dropped() -> None:
    data = pd.DataFrame({"store": [1.0, 1.0, 1.0, None, 2.0, 2.0, 2.0],
                         "date": [1, 2, 3, 4, 1, None, 2], "sales": range(7)})
    prepared = _prepare(data)
    assert prepared.frame["unique_id"].tolist() == ["1", "1", "1", "2", "2"]
    assert prepared.frame["ds"].tolist() == [1, 2, 3, 1, 2]
    assert any("dropped 2 rows without a series id or a time" in n for n in prepared.notes)
