"""Prediction intervals from backtest residuals (split conformal, per horizon step).

The rolling-origin backtests leave, for every series, window and step ahead, a residual
(actual less forecast). The residuals of step h across series and windows say how far off
an h-step forecast tends to be: the point forecast plus their q-quantile is the forecast of
quantile q. Steps further ahead get wider intervals because their residuals are larger; no
distribution is assumed. Residuals are scaled by each series' in-sample seasonal naive error
first, so series of large values do not set the width of series of small ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from accelml.errors import ConfigError, DataError

#: Fewer residuals than this at a step: the step borrows those of every step.
MIN_RESIDUALS = 10


def check_quantiles(quantiles: Sequence[float]) -> tuple[float, ...]:
    """Quantiles sorted, each strictly between 0 and 1, without repeats."""
    values = tuple(sorted({float(q) for q in quantiles}))
    bad = [q for q in values if not 0 < q < 1]
    if bad:
        raise ConfigError(f"quantiles lie strictly between 0 and 1, got {bad}; e.g. "
                          "--quantiles 0.1,0.5,0.9")
    return values


def residual_offsets(residuals: pd.DataFrame, quantiles: Sequence[float],
                     horizon: int) -> np.ndarray:
    """Offsets (horizon x quantiles) in units of each series' scale: the empirical
    q-quantile of the scaled residuals at each step ahead. ``residuals`` holds columns
    ``step`` (1..horizon) and ``scaled`` (residual / series scale). A step with fewer than
    :data:`MIN_RESIDUALS` residuals uses the residuals of all steps."""
    values = check_quantiles(quantiles)
    if residuals.empty:
        raise DataError("no backtest residuals to build intervals from: the history is too "
                        "short for a backtest; drop --quantiles or pass a longer history")
    pooled = residuals["scaled"].to_numpy(np.float64)
    offsets = np.empty((horizon, len(values)))
    by_step = {int(step): part["scaled"].to_numpy(np.float64)
               for step, part in residuals.groupby("step")}
    for step in range(1, horizon + 1):
        sample = by_step.get(step, np.zeros(0))
        sample = sample if len(sample) >= MIN_RESIDUALS else pooled
        offsets[step - 1] = np.quantile(sample, values)
    return np.maximum.accumulate(offsets, axis=1)  # quantiles never cross


def quantile_forecasts(point: pd.DataFrame, offsets: np.ndarray, scales: pd.Series,
                       quantiles: Sequence[float], value: str = "y") -> pd.DataFrame:
    """``point`` (unique_id, ds, ``value``; each series' rows in time order, the first one
    step ahead) with a ``q{quantile}`` column per quantile: the point forecast plus the
    step's offset times the series' scale."""
    values = check_quantiles(quantiles)
    out = point.copy()
    step = out.groupby("unique_id", sort=False).cumcount().to_numpy()
    if step.max(initial=0) >= len(offsets):
        raise DataError(f"the forecast runs {int(step.max()) + 1} steps ahead, further than "
                        f"the {len(offsets)} steps the intervals were built for")
    scale = out["unique_id"].map(scales).fillna(1.0).to_numpy(np.float64)
    for index, q in enumerate(values):
        out[f"q{q:g}"] = out[value].to_numpy(np.float64) + offsets[step, index] * scale
    return out
