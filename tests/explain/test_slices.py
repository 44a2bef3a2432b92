"""Fairness slices: metrics per group agree with evaluate on that group alone, the largest
gap is flagged, groups that cannot be scored are blank with a note, and each bad input is a
clear error."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import accelml
from accelml.core.predictor import Predictor
from accelml.errors import ConfigError, TargetError
from accelml.explain.slices import MISSING, slice_metrics
from tests.explain.conftest import FittedCase


@pytest.fixture(scope="module")
def cancer(cancer_case: FittedCase) -> tuple[Predictor, pd.DataFrame]:
    return accelml.load(cancer_case.model_dir), cancer_case.test


@pytest.fixture(scope="module")
def diabetes(diabetes_case: FittedCase) -> tuple[Predictor, pd.DataFrame]:
    return accelml.load(diabetes_case.model_dir), diabetes_case.test


def test_each_group_scores_as_evaluate_on_that_group(cancer: tuple[Predictor, pd.DataFrame]
                                                     ) -> None:
    predictor, test = cancer
    report = slice_metrics(predictor, test, ["size_band", "texture_band"])
    table = report.table
    assert list(table.columns[:4]) == ["column", "group", "rows", "roc_auc"]  # headline first
    assert set(table["column"]) == {"size_band", "texture_band"}
    for row in table.itertuples(index=False):
        rows = test[test[row.column].astype(str) == row.group]
        assert row.rows == len(rows)
        expected = predictor.evaluate(rows)
        got = {name: getattr(row, name) for name in report.metrics}
        assert set(got) == set(expected)
        for name, value in expected.items():
            assert got[name] == pytest.approx(value, abs=1e-12), (row.column, row.group, name)
    assert table.groupby("column")["rows"].sum().eq(len(test)).all()


def test_the_largest_gap_of_each_metric_is_flagged(cancer: tuple[Predictor, pd.DataFrame]
                                                   ) -> None:
    predictor, test = cancer
    report = slice_metrics(predictor, test, ["size_band"])
    part = report.table.set_index("group")
    assert [gap.metric for gap in report.gaps][0] == "roc_auc"
    assert {gap.metric for gap in report.gaps} == set(report.metrics)
    for gap in report.gaps:
        values = part[gap.metric].astype(float)
        assert gap.gap == pytest.approx(values.max() - values.min())
        higher, lower = values.idxmax(), values.idxmin()
        better_is_higher = gap.metric != "log_loss"
        assert gap.best_group == (higher if better_is_higher else lower)
        assert gap.worst_group == (lower if better_is_higher else higher)
    headline = report.headline_gaps()
    assert len(headline) == 1 and headline[0].metric == "roc_auc"
    assert "roc_auc differs most between size_band = " in headline[0].describe()


def test_numeric_columns_are_binned_by_quantile_and_said(
        diabetes: tuple[Predictor, pd.DataFrame]) -> None:
    predictor, test = diabetes
    report = slice_metrics(predictor, test, ["age", "sex"])
    ages = report.table[report.table["column"] == "age"]
    assert len(ages) == 4 and ages["rows"].sum() == len(test)
    assert all(" to " in group for group in ages["group"])
    lows = [float(group.split(" to ")[0]) for group in ages["group"]]
    assert lows == sorted(lows)
    assert any("age: numeric with" in note and "4 quantile bins" in note
               for note in report.notes)
    sexes = report.table[report.table["column"] == "sex"]
    assert len(sexes) == 2  # two values: grouped as they are
    assert report.metric == "rmse" and report.table.columns[3] == "rmse"
    worst = max(sexes.itertuples(), key=lambda row: row.rmse)
    assert report.headline_gaps()[1].worst_group == worst.group


def test_a_group_of_one_class_gets_nan_auc_with_a_note(
        cancer: tuple[Predictor, pd.DataFrame]) -> None:
    predictor, test = cancer
    frame = test.copy()
    benign = frame.index[frame["diagnosis"] == "benign"][:8]
    frame["site"] = "mixed"
    frame.loc[benign, "site"] = "pure"
    frame.loc[frame.index[-3:], "site"] = None
    report = slice_metrics(predictor, frame, ["site"], min_rows=5)
    table = report.table.set_index("group")
    assert list(table.index) == ["mixed", "pure", MISSING]  # largest first, missing last
    assert math.isnan(table.loc["pure", "roc_auc"])
    assert not math.isnan(table.loc["pure", "accuracy"])
    assert table.loc[MISSING, "rows"] == 3 and table.loc[MISSING].iloc[2:].isna().all()
    assert any("'pure'" in note and "roc_auc" in note and "single class" in note
               for note in report.notes)
    assert any(f"{MISSING!r}: 3 rows, under the 5" in note for note in report.notes)
    gapped = {gap.metric for gap in report.gaps}
    assert "roc_auc" not in gapped and "accuracy" in gapped  # one group has an AUC: no gap


def test_rows_without_a_target_are_left_out_and_said(
        cancer: tuple[Predictor, pd.DataFrame]) -> None:
    predictor, test = cancer
    frame = test.copy()
    frame.loc[frame.index[:4], "diagnosis"] = None
    report = slice_metrics(predictor, frame, ["texture_band"])
    assert report.table["rows"].sum() == len(frame) - 4
    assert any("4 rows without a 'diagnosis' value" in note for note in report.notes)


def test_a_slice_column_absent_from_the_data_is_named_with_close_matches(
        cancer: tuple[Predictor, pd.DataFrame]) -> None:
    predictor, test = cancer
    with pytest.raises(ConfigError, match=r"slice column 'size_bnd' is not in the data "
                                          r"\(did you mean 'size_band'"):
        slice_metrics(predictor, test, ["size_bnd"])


def test_a_single_valued_slice_column_is_refused(cancer: tuple[Predictor, pd.DataFrame]
                                                 ) -> None:
    predictor, test = cancer
    frame = test.assign(country="x")
    with pytest.raises(ConfigError, match=r"'country' has a single value 'x': nothing to "
                                          r"compare; pick a column with two or more groups"):
        slice_metrics(predictor, frame, ["country"])


def test_data_without_the_target_is_refused(cancer: tuple[Predictor, pd.DataFrame]) -> None:
    predictor, test = cancer
    with pytest.raises(TargetError, match=r"slices need labelled rows: the data has no "
                                          r"target column 'diagnosis'.*pass rows with"):
        slice_metrics(predictor, test.drop(columns="diagnosis"), ["size_band"])


@pytest.mark.parametrize(("columns", "message"), [
    ([], "name at least one column"),
    ("size_band", r"as a list, e.g. \['size_band'\]"),
])
def test_the_slice_columns_must_be_a_non_empty_list(
        cancer: tuple[Predictor, pd.DataFrame], columns: object, message: str) -> None:
    predictor, test = cancer
    with pytest.raises(ConfigError, match=message):
        slice_metrics(predictor, test, columns)  # type: ignore[arg-type]


def test_many_valued_numbers_that_are_mostly_one_value_get_equal_width_bins(
        cancer: tuple[Predictor, pd.DataFrame]) -> None:
    predictor, test = cancer
    values = np.zeros(len(test))
    values[-12:] = np.arange(1, 13)
    report = slice_metrics(predictor, test.assign(dose=values), ["dose"])
    assert report.table["rows"].sum() == len(test)
    assert len(report.table) >= 2
    assert any("equal-width bins" in note for note in report.notes)
