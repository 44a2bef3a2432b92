"""Forecast metrics against numbers worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from accelml.core import forecasting
from accelml.errors import DataError
from accelml.timeseries.metrics import (
    coverage,
    mape,
    mase,
    pinball,
    score_forecasts,
    seasonal_scale,
    smape,
)


def test_mase_divides_by_the_in_sample_seasonal_naive_error() -> None:
    history = np.array([1.0, 2, 3, 4, 5, 6])
    assert seasonal_scale(history, 2) == pytest.approx(2.0)  # |3-1|, |4-2|, ... all 2
    assert mase(np.array([7.0, 8]), np.array([6.0, 10]), history, 2) == pytest.approx(0.75)


def test_the_scale_falls_back_to_lag_one_then_to_one() -> None:
    assert seasonal_scale(np.array([1.0, 2, 1, 2]), 2) == pytest.approx(1.0)  # lag 2 is 0
    assert seasonal_scale(np.array([1.0, 3]), 12) == pytest.approx(2.0)  # too short: lag 1
    assert seasonal_scale(np.array([5.0, 5, 5]), 1) == 1.0  # constant: MASE reads as MAE


def test_smape_and_mape_in_percent_by_hand() -> None:
    assert smape(np.array([100.0, 0]), np.array([110.0, 0])) == pytest.approx(
        100 * (2 * 10 / 210) / 2)
    assert mape(np.array([100.0, 0, 50]), np.array([110.0, 5, 40])) == pytest.approx(15.0)
    assert np.isnan(mape(np.array([0.0]), np.array([1.0])))


def test_the_engine_scores_series_as_the_per_series_metrics_do() -> None:
    """The search's grouped scores (core.forecasting) and the report's per-series ones
    share their formulas: a zero actual, a zero pair and a one-step group included."""
    actual = np.array([100.0, 0, 50, 0, 3, 7])
    forecast = np.array([110.0, 5, 40, 0, 2, 9])
    groups = np.array([0, 0, 0, 1, 1, 2])
    truth = np.column_stack([actual, np.ones(len(actual)), groups])
    for name, per_series in (("smape", smape), ("mape", mape)):
        expected = [per_series(actual[groups == g], forecast[groups == g]) for g in range(3)]
        assert forecasting.FORECAST_METRICS[name](truth, forecast) == pytest.approx(
            float(np.nanmean(expected)))


def test_pinball_loss_and_coverage_by_hand() -> None:
    assert pinball(np.array([10.0]), np.array([8.0]), 0.9) == pytest.approx(1.8)
    assert pinball(np.array([10.0]), np.array([12.0]), 0.9) == pytest.approx(0.2)
    assert coverage(np.array([1.0, 5, 9]), np.array([0.0, 6, 8]),
                    np.array([2.0, 7, 10])) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="between 0 and 1"):
        pinball(np.array([1.0]), np.array([1.0]), 1.0)


def _frame(rows: list[tuple[str, int, float]], value: str = "y") -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["unique_id", "ds", value])


def test_scores_are_averaged_over_series() -> None:
    history = _frame([("a", t, float(t)) for t in range(1, 7)] + [("b", t, 5.0)
                                                                   for t in (1, 2, 3)])
    actuals = _frame([("a", 7, 7.0), ("a", 8, 8.0), ("b", 4, 6.0)])
    forecasts = pd.DataFrame({"unique_id": ["a", "a", "b"], "ds": [7, 8, 4],
                              "y": [6.0, 10.0, 4.0], "q0.1": [5.0, 6.0, 3.0],
                              "q0.9": [8.0, 9.0, 5.0]})
    scores = score_forecasts(actuals, forecasts, history, 2, quantiles=(0.1, 0.9))
    assert scores["mase"] == pytest.approx((0.75 + 2.0) / 2)  # b: MAE 2 over scale 1
    assert scores["mae"] == pytest.approx((1.5 + 2.0) / 2)
    assert scores["coverage_0.1_0.9"] == pytest.approx((1.0 + 0.0) / 2)  # a: 7 in, 8 in
    assert scores["series"] == 2


def test_an_actual_without_a_forecast_is_an_error_naming_it() -> None:
    actuals = _frame([("a", 7, 7.0), ("a", 8, 8.0)])
    forecasts = _frame([("a", 7, 7.0)])
    with pytest.raises(DataError, match="1 actual values have no forecast, such as series "
                       "'a' at 8"):
        score_forecasts(actuals, forecasts, actuals, 1)
