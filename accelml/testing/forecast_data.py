"""Small series with structure a forecaster can learn: a level, a trend and a yearly season
per series, plus noise, in long format (integer months or dates). Tests and the conformance
suite use them; they need no download."""

from __future__ import annotations

import numpy as np
import pandas as pd

from accelml.core.data import Features
from accelml.core.forecasting import POSITION, SERIES
from accelml.core.task import Task, TaskKind

SEASON = 12
HORIZON = 6


def series_frame(n_series: int = 4, length: int = 40, seed: int = 0,
                 dates: bool = False) -> pd.DataFrame:
    """Long rows (store, month, sales[, price]): each store's sales rise with a trend and a
    yearly season, and fall a little with its price."""
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(n_series):
        t = np.arange(length)
        level, trend = 50 + 10 * index, 0.3 + 0.1 * index
        price = 10 + rng.normal(0, 1, length)
        sales = (level + trend * t + 8 * np.sin(2 * np.pi * t / SEASON) - 0.5 * price
                 + rng.normal(0, 1, length))
        time = (pd.date_range("2020-01-01", periods=length, freq="MS") if dates
                else t + 1)
        rows.append(pd.DataFrame({"store": f"s{index}", "month": time, "sales": sales,
                                  "price": price}))
    return pd.concat(rows, ignore_index=True)


def forecast_case() -> tuple[Task, Features, np.ndarray]:
    """(task, features, values) as the forecasting preprocessor makes them."""
    from accelml.timeseries.data import SeriesColumns, prepare_series
    from accelml.timeseries.preprocess import ForecastPreprocessor

    columns = SeriesColumns("store", "month", "sales")
    prepared = prepare_series(series_frame(n_series=3, length=30), columns, HORIZON,
                              season_length=SEASON)
    features, y = ForecastPreprocessor.fit(prepared, columns, HORIZON).features()
    return Task(TaskKind.FORECAST, "sales", "mase"), features, y


def steps_after(features: Features, horizon: int = HORIZON) -> Features:
    """The rows of the ``horizon`` steps after each series' last row (time as position)."""
    series = np.asarray(features.X[:, SERIES], dtype=np.int64)
    position = np.asarray(features.X[:, POSITION], dtype=np.int64)
    codes = np.unique(series)
    last = np.array([position[series == code].max() for code in codes])
    future_codes = np.repeat(codes, horizon)
    future_positions = np.repeat(last + 1, horizon) + np.tile(np.arange(horizon), len(codes))
    X = np.column_stack([future_codes, future_positions, future_positions + 1,
                         np.full((len(future_codes), features.X.shape[1] - 3), np.nan)])
    return Features(X.astype(np.float64), names=features.names,
                    block_info=features.block_info)
