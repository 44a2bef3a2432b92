"""Conformal intervals from backtest residuals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from accelml.errors import ConfigError, DataError
from accelml.timeseries.intervals import quantile_forecasts, residual_offsets


def _residuals(step_values: dict[int, list[float]]) -> pd.DataFrame:
    rows = [(step, v) for step, values in step_values.items() for v in values]
    return pd.DataFrame(rows, columns=["step", "scaled"])


def test_offsets_are_each_steps_empirical_quantiles() -> None:
    residuals = _residuals({1: list(np.arange(-5.0, 6.0)), 2: list(np.arange(-10.0, 12, 2))})
    offsets = residual_offsets(residuals, [0.1, 0.5, 0.9], horizon=2)
    assert offsets[0].tolist() == pytest.approx([-4.0, 0.0, 4.0])  # 11 values -5..5
    assert offsets[1].tolist() == pytest.approx([-8.0, 0.0, 8.0])  # wider further ahead


def test_a_step_with_few_residuals_borrows_every_steps() -> None:
    residuals = _residuals({1: list(np.arange(-5.0, 6.0)), 2: [100.0]})
    offsets = residual_offsets(residuals, [0.5], horizon=2)
    pooled = np.quantile(np.r_[np.arange(-5.0, 6.0), 100.0], 0.5)
    assert offsets[1, 0] == pytest.approx(pooled)


def test_quantile_forecasts_scale_each_series_offsets() -> None:
    point = pd.DataFrame({"unique_id": ["a", "a", "b"], "ds": [1, 2, 1],
                          "y": [10.0, 11.0, 100.0]})
    offsets = np.array([[-1.0, 1.0], [-2.0, 2.0]])
    out = quantile_forecasts(point, offsets, pd.Series({"a": 1.0, "b": 10.0}), [0.1, 0.9])
    assert out["q0.1"].tolist() == [9.0, 9.0, 90.0]
    assert out["q0.9"].tolist() == [11.0, 13.0, 110.0]
    assert "q0.1" not in point.columns  # the input is left as it was


def test_bad_quantiles_and_missing_residuals_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"strictly between 0 and 1, got \[1.0\]"):
        residual_offsets(_residuals({1: [0.0]}), [0.5, 1.0], horizon=1)
    with pytest.raises(DataError, match="no backtest residuals"):
        residual_offsets(_residuals({}), [0.5], horizon=1)
    point = pd.DataFrame({"unique_id": ["a"] * 3, "ds": [1, 2, 3], "y": [1.0] * 3})
    with pytest.raises(DataError, match="3 steps ahead, further than the 2 steps"):
        quantile_forecasts(point, np.zeros((2, 1)), pd.Series({"a": 1.0}), [0.5])
