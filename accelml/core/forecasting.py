"""What the engine knows of forecasting: the rows of a forecast task, the scale MASE divides
by, and the scores of forecasts against actuals.

A forecast task's :class:`~accelml.core.data.Features` holds one row per observation of a
regular series, sorted by series then time: ``X[:, SERIES]`` the series code, ``X[:,
POSITION]`` the step within the series (0, 1, 2, ...), ``X[:, TIME]`` the timestamp as a
number (seconds since the epoch for dates, the integer step otherwise), then the covariates;
``y`` the values; ``block_info["series"]`` the season length, horizon, frequency and series
count. Validation splits are backtest windows: each series' training rows end at a cut-off,
its validation rows are the steps after it.

Scores are computed per group (a series in one backtest window) and averaged over groups,
as the M competitions score: a series of large values weighs no more than one of small
values. The "truth" the metrics read is a (rows x 3) array: the actual value, the scale of
its series (the in-sample MAE of the seasonal naive forecast on the history before the
cut-off, M4's rule for MASE) and its group.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from accelml.core.data import Split

SERIES, POSITION, TIME = 0, 1, 2
ACTUAL, SCALE, GROUP = 0, 1, 2


def series_facts(block_info: dict[str, object]) -> dict[str, object]:
    """The ``series`` facts of a forecast task's features."""
    facts = block_info.get("series")
    if not isinstance(facts, dict):
        raise ValueError("forecast features carry block_info['series'] (season length, "
                         "horizon, series count)")
    return facts


def series_scales(X: np.ndarray, y: np.ndarray, rows: np.ndarray, season_length: int,
                  n_series: int) -> np.ndarray:
    """Per series code, the mean absolute difference between the values of ``rows`` one
    season apart (lag 1 where a series has no full season or that mean is 0, and 1.0
    where even that is 0, so scaled errors stay finite)."""
    rows = np.sort(np.asarray(rows, dtype=np.int64))
    series = np.asarray(X[rows, SERIES], dtype=np.int64)
    position = np.asarray(X[rows, POSITION], dtype=np.int64)
    values = np.asarray(y[rows], dtype=np.float64)
    scales = np.ones(n_series)
    settled = np.zeros(n_series, dtype=bool)
    for lag in dict.fromkeys((max(1, int(season_length)), 1)):
        if len(rows) <= lag:
            continue
        same = (series[lag:] == series[:-lag]) & (position[lag:] - position[:-lag] == lag)
        owner = series[lag:][same]
        diff = np.abs(values[lag:] - values[:-lag])[same]
        sums = np.bincount(owner, weights=diff, minlength=n_series)
        counts = np.bincount(owner, minlength=n_series)
        usable = ~settled & (counts > 0) & (sums > 0)
        scales[usable] = sums[usable] / counts[usable]
        settled |= usable
    return scales


def backtest_truth(X: np.ndarray, y: np.ndarray, splits: Sequence[Split], season_length: int,
                   n_series: int) -> np.ndarray:
    """The truth array of every row: its value, the scale of its series on the training
    rows of the split that validates it, and its group (series and window); rows no split
    validates get NaN scales and group -1."""
    truth = np.full((len(y), 3), np.nan)
    truth[:, ACTUAL] = y
    truth[:, GROUP] = -1
    for window, (train, valid) in enumerate(splits):
        scales = series_scales(X, y, train, season_length, n_series)
        codes = np.asarray(X[valid, SERIES], dtype=np.int64)
        truth[valid, SCALE] = scales[codes]
        truth[valid, GROUP] = window * n_series + codes
    return truth


def _group_means(values: np.ndarray, groups: np.ndarray, weights: np.ndarray | None = None
                 ) -> np.ndarray:
    """The mean of ``values`` within each group present (weighted when given)."""
    _, index = np.unique(groups, return_inverse=True)
    w = np.ones(len(values)) if weights is None else weights
    totals = np.bincount(index, weights=values * w)
    counts = np.bincount(index, weights=w)
    with np.errstate(invalid="ignore", divide="ignore"):
        return totals / counts


def mase(truth: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute scaled error: per group, the MAE over the series' scale."""
    error = np.abs(truth[:, ACTUAL] - forecast) / truth[:, SCALE]
    return float(np.mean(_group_means(error, truth[:, GROUP])))


def smape_terms(actual: np.ndarray, forecast: np.ndarray) -> np.ndarray:
    """Each step's symmetric absolute percentage share, 2|a - f| / (|a| + |f|) (0 to 2,
    M4's definition); a step where the actual and the forecast are both 0 counts as 0."""
    actual, forecast = np.asarray(actual, np.float64), np.asarray(forecast, np.float64)
    denominator = np.abs(actual) + np.abs(forecast)
    return np.asarray(np.divide(2 * np.abs(actual - forecast), denominator,
                                out=np.zeros_like(denominator), where=denominator > 0))


def ape_terms(actual: np.ndarray, forecast: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each step's absolute percentage share |a - f| / |a|, and the mask of the steps it
    is defined for (actual not 0); undefined steps hold 0."""
    actual, forecast = np.asarray(actual, np.float64), np.asarray(forecast, np.float64)
    defined = actual != 0
    share = np.divide(np.abs(actual - forecast), np.abs(actual),
                      out=np.zeros_like(actual), where=defined)
    return share, defined


def smape(truth: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric MAPE in percent (0 to 200, M4's definition), averaged over groups."""
    share = smape_terms(truth[:, ACTUAL], forecast)
    return float(100 * np.mean(_group_means(share, truth[:, GROUP])))


def mape(truth: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute percentage error in percent; steps whose actual is 0 are left out
    (groups with no other step too; NaN when nothing is left)."""
    share, defined = ape_terms(truth[:, ACTUAL], forecast)
    means = _group_means(share, truth[:, GROUP], defined.astype(np.float64))
    means = means[np.isfinite(means)]
    return float(100 * np.mean(means)) if len(means) else float("nan")


def mae(truth: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute error, averaged over groups."""
    return float(np.mean(_group_means(np.abs(truth[:, ACTUAL] - forecast), truth[:, GROUP])))


def rmse(truth: np.ndarray, forecast: np.ndarray) -> float:
    """Root mean squared error of each group, averaged over groups."""
    squared = (truth[:, ACTUAL] - forecast) ** 2
    return float(np.mean(np.sqrt(_group_means(squared, truth[:, GROUP]))))


FORECAST_METRICS = {"mase": mase, "smape": smape, "mape": mape, "mae": mae, "rmse": rmse}
