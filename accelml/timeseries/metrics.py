"""Forecast accuracy: MASE (the default), sMAPE, MAPE, MAE and RMSE of point forecasts, and
pinball loss and interval coverage of quantile forecasts.

Each is computed per series and averaged over series, as the M competitions score: a series
of large values weighs no more than one of small values. MASE divides each series' mean
absolute error by the mean absolute error of its in-sample seasonal naive forecast (the M4
rule), so 1.0 is "as good as repeating last season" on the history.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from accelml.core.forecasting import ape_terms, series_scales, smape_terms
from accelml.errors import DataError

SeriesMetric = Callable[[np.ndarray, np.ndarray], float]
ID, TIME, VALUE = "unique_id", "ds", "y"


def seasonal_scale(history: np.ndarray, season_length: int) -> float:
    """The in-sample MAE of the seasonal naive forecast (lag ``season_length``); lag 1 when
    the history is too short for a season or the seasonal scale is 0 (a series that
    repeats exactly), and 1.0 when even that is 0 (a constant series), so MASE stays
    finite and reads as the plain MAE there. One series of the engine's rule
    (:func:`accelml.core.forecasting.series_scales`)."""
    history = np.asarray(history, dtype=np.float64)
    steps = np.arange(len(history))
    one_series = np.column_stack([np.zeros(len(history)), steps])
    return float(series_scales(one_series, history, steps, season_length, 1)[0])


def mase(actual: np.ndarray, forecast: np.ndarray, history: np.ndarray,
         season_length: int) -> float:
    """Mean absolute scaled error of one series."""
    error = np.abs(np.asarray(actual, np.float64) - np.asarray(forecast, np.float64))
    return float(np.mean(error) / seasonal_scale(history, season_length))


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric MAPE of one series, in percent (0 to 200; M4's definition); a step where
    both the actual and the forecast are 0 counts as no error."""
    return float(100 * np.mean(smape_terms(actual, forecast)))


def mape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute percentage error of one series, in percent; steps whose actual is 0
    are left out (NaN when all are)."""
    share, defined = ape_terms(actual, forecast)
    if not defined.any():
        return float("nan")
    return float(100 * np.mean(share[defined]))


def mae(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute error of one series."""
    return float(np.mean(np.abs(np.asarray(actual, np.float64) - forecast)))


def rmse(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Root mean squared error of one series."""
    return float(np.sqrt(np.mean((np.asarray(actual, np.float64) - forecast) ** 2)))


def pinball(actual: np.ndarray, forecast: np.ndarray, quantile: float) -> float:
    """Mean pinball (quantile) loss of one series' forecast of ``quantile``."""
    if not 0 < quantile < 1:
        raise ValueError(f"a quantile is between 0 and 1, got {quantile}")
    error = np.asarray(actual, np.float64) - np.asarray(forecast, np.float64)
    return float(np.mean(np.maximum(quantile * error, (quantile - 1) * error)))


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of actual values inside [lower, upper]."""
    actual = np.asarray(actual, np.float64)
    return float(np.mean((actual >= lower) & (actual <= upper)))


POINT_METRICS: dict[str, SeriesMetric] = {"smape": smape, "mape": mape, "mae": mae,
                                          "rmse": rmse}


def _aligned(actuals: pd.DataFrame, forecasts: pd.DataFrame, columns: Sequence[str]
             ) -> pd.DataFrame:
    """Actuals joined to the forecasts on (id, time), each forecast column renamed
    ``forecast:NAME``; an actual without its forecast is an error naming it (scoring only
    what was forecast would flatter the forecaster)."""
    renamed = forecasts[[ID, TIME, *columns]].rename(
        columns={name: f"forecast:{name}" for name in columns})
    joined = actuals[[ID, TIME, VALUE]].merge(renamed, on=[ID, TIME], how="left")
    missing = joined[[f"forecast:{name}" for name in columns]].isna().any(axis=1)
    if missing.any():
        first = joined[missing].iloc[0]
        raise DataError(f"{int(missing.sum())} actual values have no forecast, such as "
                        f"series {first[ID]!r} at {first[TIME]}: forecast every step the "
                        "actuals hold (a longer horizon), or score fewer steps")
    return joined


def score_forecasts(actuals: pd.DataFrame, forecasts: pd.DataFrame, history: pd.DataFrame,
                    season_length: int, point: str = VALUE,
                    quantiles: Sequence[float] = ()) -> dict[str, float]:
    """Every metric, averaged over series: ``actuals`` and ``history`` are long frames
    (unique_id, ds, y), ``forecasts`` holds (unique_id, ds) and the point forecast in
    column ``point``, plus a column ``q{quantile}`` (e.g. q0.1) per quantile. With a pair
    of quantiles around the median, the coverage of the interval between the outermost
    two is reported too (``coverage_0.1_0.9``)."""
    quantile_columns = [f"q{q:g}" for q in quantiles]
    joined = _aligned(actuals, forecasts, [point, *quantile_columns])
    histories = {key: part[VALUE].to_numpy() for key, part in
                 history.sort_values([ID, TIME]).groupby(ID, sort=False)}
    rows = []
    for key, part in joined.groupby(ID, sort=False):
        actual = part[VALUE].to_numpy()
        forecast = part[f"forecast:{point}"].to_numpy(np.float64)
        row = {"mase": mase(actual, forecast, histories.get(key, np.zeros(0)),
                            season_length)}
        row.update({name: fn(actual, forecast) for name, fn in POINT_METRICS.items()})
        for q, column in zip(quantiles, quantile_columns, strict=True):
            row[f"pinball_{q:g}"] = pinball(actual, part[f"forecast:{column}"].to_numpy(), q)
        if len(quantiles) >= 2:
            low, high = min(quantiles), max(quantiles)
            row[f"coverage_{low:g}_{high:g}"] = coverage(
                actual, part[f"forecast:q{low:g}"].to_numpy(),
                part[f"forecast:q{high:g}"].to_numpy())
        rows.append(row)
    table = pd.DataFrame(rows)
    out = {name: float(table[name].mean()) for name in table.columns}  # NaN-skipping
    out["series"] = float(len(table))
    return out
