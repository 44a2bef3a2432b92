"""Forecasts of a fitted model: from the training history or a new one, blended over the
members, kept non-negative where the history was, with quantiles from the backtest
residuals; their scores against actuals; and a plot of history, forecast and interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from accelml.core.budget import Deadline
from accelml.core.data import Features
from accelml.core.forecasting import POSITION, SERIES, series_scales
from accelml.core.learner import get_learner
from accelml.errors import ConfigError, DataError, SchemaError
from accelml.timeseries.data import ID, TIME, VALUE, prepare_series
from accelml.timeseries.metrics import score_forecasts
from accelml.timeseries.preprocess import ForecastPreprocessor

if TYPE_CHECKING:
    from accelml.core.predictor import Predictor


#: The precomputed forecast (series x horizon x columns) and its column names, kept in the
#: preprocessor's arrays.
PRECOMPUTED, PRECOMPUTED_COLUMNS = "forecast", "forecast_columns"


def quantile_column(target: str, quantile: float) -> str:
    """The name of a quantile's column in a forecast: ``sales_q0.1``."""
    return f"{target}_q{quantile:g}"


def _codes(pre: ForecastPreprocessor, ids: Sequence[Any] | None) -> np.ndarray:
    if ids is None:
        return np.arange(len(pre.ids))
    return pre.codes(pd.Series([str(i) for i in ids], dtype=object))


def _check_horizon(pre: ForecastPreprocessor, horizon: int | None) -> int:
    horizon = pre.horizon if horizon is None else horizon
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 1:
        raise ConfigError(f"the horizon is a whole number of steps, 1 or more; got {horizon!r}")
    if horizon > pre.horizon:
        raise ConfigError(f"this model forecasts up to {pre.horizon} steps; {horizon} were "
                          f"asked for: fit again with --horizon {horizon}")
    return int(horizon)


def _with_history(predictor: Predictor, history: pd.DataFrame
                  ) -> tuple[ForecastPreprocessor, list[tuple[Any, Any, float]]]:
    """A preprocessor of the new history and every member applied to it."""
    old: ForecastPreprocessor = predictor.preprocessor  # type: ignore[assignment]
    prepared = prepare_series(history, old.columns, old.horizon, frequency=old.frequency,
                              season_length=old.season_length)
    pre = ForecastPreprocessor.fit(prepared, old.columns, old.horizon, old.quantiles)
    features, y = pre.features()
    members = []
    for member in predictor.members:
        learner = get_learner(member.learner)
        fitted = learner.with_history(member.fitted, features, y,  # type: ignore[attr-defined]
                                      member.config, Deadline.never())
        members.append((learner, fitted, member.weight))
    return pre, members


def point_forecasts(predictor: Predictor, rows: Features,
                    members: list[tuple[Any, Any, float]] | None = None) -> np.ndarray:
    """The blend's forecast of each row."""
    members = members or [(get_learner(m.learner), m.fitted, m.weight)
                          for m in predictor.members]
    total = sum(weight for _, _, weight in members)
    return sum(learner.predict(fitted, rows) * (weight / total)  # type: ignore[no-any-return]
               for learner, fitted, weight in members)


def forecast(predictor: Predictor, horizon: int | None = None,
             history: pd.DataFrame | None = None, future: pd.DataFrame | None = None,
             ids: Sequence[Any] | None = None) -> pd.DataFrame:
    """The next ``horizon`` steps (the model's horizon when None) of each series (or of
    ``ids``): the id and time columns, the point forecast under the target's name, then a
    column per quantile. ``history`` replaces the training history (same columns);
    ``future`` holds the covariates of the steps forecast."""
    pre: ForecastPreprocessor = predictor.preprocessor  # type: ignore[assignment]
    horizon = _check_horizon(pre, horizon)
    if history is None and future is None and PRECOMPUTED in pre.history:
        return _looked_up(pre, _codes(pre, ids), horizon)
    members = None
    if history is not None:
        pre, members = _with_history(predictor, history)
    codes = _codes(pre, ids)
    rows = pre.future(codes, horizon, future)
    point = point_forecasts(predictor, rows, members)
    if pre.nonnegative:
        point = np.maximum(point, 0.0)
    out = pre.user_frame(rows.X[:, SERIES], rows.X[:, POSITION])
    target = pre.columns.target
    out[target] = point
    for quantile, values in _quantiles(predictor, pre, rows, point).items():
        out[quantile_column(target, quantile)] = values
    return out


def precompute(predictor: Predictor, deadline: Deadline) -> bool:
    """Forecast every series over the full horizon from the training history and keep the
    answer with the model, so that a forecast of known series is a lookup (the server's
    path); not for models with covariates, whose future values come with each request.
    True when done."""
    pre: ForecastPreprocessor = predictor.preprocessor  # type: ignore[assignment]
    if pre.columns.covariates or deadline.expired():
        return False
    pre.history.pop(PRECOMPUTED, None)
    frame = forecast(predictor)
    values = frame.drop(columns=[c for c in (pre.columns.id, pre.columns.time) if c])
    pre.history[PRECOMPUTED] = values.to_numpy(np.float64).reshape(
        len(pre.ids), pre.horizon, values.shape[1])
    pre.history[PRECOMPUTED_COLUMNS] = np.asarray(values.columns, dtype=str)
    return True


def _looked_up(pre: ForecastPreprocessor, codes: np.ndarray, horizon: int) -> pd.DataFrame:
    values = pre.history[PRECOMPUTED][codes, :horizon, :]
    positions = (np.asarray(pre.lengths, dtype=np.int64)[codes][:, None]
                 + np.arange(horizon)[None, :])
    out = pre.user_frame(np.repeat(codes, horizon), positions.ravel())
    for index, name in enumerate(pre.history[PRECOMPUTED_COLUMNS]):
        out[str(name)] = values[:, :, index].ravel()
    return out


def _quantiles(predictor: Predictor, pre: ForecastPreprocessor, rows: Features,
               point: np.ndarray) -> dict[float, np.ndarray]:
    """Point forecast plus each quantile's offset at the row's step, times its series'
    scale on the history; kept non-negative where the history was."""
    state = predictor.info.get("intervals") or {}
    quantiles, offsets = state.get("quantiles") or [], np.asarray(state.get("offsets") or [])
    if not quantiles:
        return {}
    history = pre.history
    X = np.column_stack([history["series"], history["position"]]).astype(np.float64)
    scales = series_scales(X, history["y"], np.arange(len(history["y"])), pre.season_length,
                           len(pre.ids))
    codes = np.asarray(rows.X[:, SERIES], dtype=np.int64)
    steps = np.asarray(rows.X[:, POSITION], dtype=np.int64) - np.asarray(pre.lengths)[codes]
    out = {}
    for index, quantile in enumerate(quantiles):
        values = point + offsets[steps, index] * scales[codes]
        out[float(quantile)] = np.maximum(values, 0.0) if pre.nonnegative else values
    return out


def _long(frame: pd.DataFrame, pre: ForecastPreprocessor, value: str) -> pd.DataFrame:
    """A user-format frame as (unique_id, ds, y) with the history's id and time forms."""
    columns = pre.columns
    ids = (frame[columns.id].astype(str) if columns.id is not None
           else pd.Series(pre.ids[0], index=frame.index))
    if pre.frequency is None:
        times = pd.to_numeric(frame[columns.time], errors="coerce").astype("Int64")
    else:
        times = pd.to_datetime(frame[columns.time], errors="coerce")
    return pd.DataFrame({ID: ids.to_numpy(), TIME: times.to_numpy(),
                         VALUE: pd.to_numeric(frame[value], errors="coerce").to_numpy()})


def evaluate(predictor: Predictor, actuals: pd.DataFrame) -> dict[str, float]:
    """MASE, sMAPE, MAPE, MAE and RMSE (and pinball loss and coverage of the quantiles) of
    the model's forecast against ``actuals``: the steps after the training history, in the
    training columns; each series is scored on the steps the actuals hold."""
    pre: ForecastPreprocessor = predictor.preprocessor  # type: ignore[assignment]
    columns = pre.columns
    needed = [c for c in (columns.id, columns.time, columns.target) if c is not None]
    missing = [c for c in needed if c not in actuals.columns]
    if missing:
        raise SchemaError(f"the actuals lack the columns {missing}; they need {needed}")
    truth = _long(actuals, pre, columns.target).dropna()
    if truth.empty:
        raise DataError("the actuals hold no (id, time, value) row to score")
    ids = sorted(set(truth[ID]))
    unknown = [i for i in ids if i not in set(pre.ids)]
    if unknown:
        raise DataError(f"the actuals hold series the model never saw: {unknown[:5]}")
    future = actuals if columns.covariates else None
    predicted = forecast(predictor, None, future=future, ids=ids)
    quantiles = [q for q in pre.quantiles
                 if quantile_column(columns.target, q) in predicted.columns]
    long = _long(predicted, pre, columns.target)
    for q in quantiles:
        long[f"q{q:g}"] = predicted[quantile_column(columns.target, q)].to_numpy()
    history = pre.frame()
    history = history[history[ID].isin(ids)]
    scores = score_forecasts(truth, long, history[[ID, TIME, VALUE]], pre.season_length,
                             quantiles=quantiles)
    scores["steps"] = float(len(truth))
    return scores


def plot(predictor: Predictor, forecast_frame: pd.DataFrame, series: Sequence[Any],
         path: Path, history_steps: int | None = None) -> Path:
    """History, forecast and interval of each of ``series``, one panel each, as an image
    (PNG, or any format matplotlib writes by the file's suffix)."""
    figure = forecast_figure(predictor, forecast_frame, series, history_steps)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path


def forecast_figure(predictor: Predictor, forecast_frame: pd.DataFrame, series: Sequence[Any],
                    history_steps: int | None = None) -> Any:
    """The matplotlib Figure of :func:`plot` (made without pyplot, so a user's own backend
    is left alone)."""
    from matplotlib.figure import Figure

    pre: ForecastPreprocessor = predictor.preprocessor  # type: ignore[assignment]
    columns = pre.columns
    history = pre.frame()
    shown = [str(s) for s in series]
    unknown = [s for s in shown if s not in set(pre.ids)]
    if unknown:
        raise DataError(f"--plot names series the model does not know: {unknown[:5]}; "
                        f"known are e.g. {pre.ids[:5]}")
    keep = history_steps or 4 * max(pre.horizon, pre.season_length)
    figure = Figure(figsize=(9, 3 * len(shown)))
    axes = figure.subplots(len(shown), 1, squeeze=False)
    bounds = [c for c in forecast_frame.columns if c.startswith(f"{columns.target}_q")]
    for axis, ident in zip(axes[:, 0], shown, strict=True):
        past = history[history[ID] == ident].tail(keep)
        ahead = (forecast_frame[forecast_frame[columns.id].astype(str) == ident]
                 if columns.id is not None else forecast_frame)
        axis.plot(past[TIME], past[VALUE], color="black", label="history")
        axis.plot(ahead[columns.time], ahead[columns.target], color="tab:blue",
                  label="forecast")
        if len(bounds) >= 2:
            axis.fill_between(ahead[columns.time], ahead[bounds[0]], ahead[bounds[-1]],
                              color="tab:blue", alpha=0.2,
                              label=f"{bounds[0].rsplit('_q', 1)[1]} to "
                                    f"{bounds[-1].rsplit('_q', 1)[1]} quantiles")
        axis.set_title(f"{columns.id or 'series'} {ident}")
        axis.legend(loc="upper left")
    figure.tight_layout()
    return figure
