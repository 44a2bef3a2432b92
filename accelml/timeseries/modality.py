"""Forecasting as a modality: long-format series (id, time, value, covariates), validated
by rolling-origin backtests, forecast ``horizon`` steps past their history.

Picked by ``--task forecast`` (or by giving ``--horizon``). Each backtest window cuts every
series one horizon further back; a trial fits on what comes before the cut and forecasts
the horizon after it, and its score (MASE by default) averages over series and windows.
The served blend's backtest residuals give the prediction intervals
(:mod:`accelml.timeseries.intervals`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from accelml.config import RunConfig
from accelml.core.budget import Deadline
from accelml.core.data import Split
from accelml.core.forecasting import POSITION, SERIES, series_scales
from accelml.core.metrics import get_metric
from accelml.core.modality import (
    Modality,
    OnProgress,
    Prepared,
    ReportSection,
    ServeInput,
    register_modality,
)
from accelml.core.splits import SplitStrategy
from accelml.core.task import Task, TaskKind
from accelml.errors import ConfigError, DataError
from accelml.io import read_table
from accelml.timeseries.data import ID, TIME, VALUE, SeriesColumns, prepare_series
from accelml.timeseries.intervals import check_quantiles, residual_offsets
from accelml.timeseries.preprocess import ForecastPreprocessor

if TYPE_CHECKING:
    from accelml.core.predictor import Predictor

LEARNERS = ("seasonal_naive", "naive", "ets", "theta", "arima", "mstl", "global_lightgbm",
            "mlp_forecaster")
DEFAULT_QUANTILES = (0.1, 0.9)
#: Backtest windows are added (up to MAX_WINDOWS) until they validate this many points.
TARGET_POINTS = 10_000
MAX_WINDOWS = 3
#: Series drawn in the report.
REPORT_SERIES = 4


@dataclass(frozen=True)
class ForecastOptions:
    """The options only forecasting runs read.

    Attributes:
        horizon: steps to forecast (giving it makes a run a forecasting run).
        id_column: the series id column; None for a table that is one series.
        time_column: dates or integer steps.
        frequency: a pandas offset alias ("D", "W", "MS", "h"); inferred when None.
        season_length: steps per season; from the frequency when None (1 for integer time).
        covariates: numeric columns known in advance (prices, promotions), whose future
            values a forecast is given.
        quantiles: quantiles forecast beside the point forecast (0.1 and 0.9 by default).
        backtests: backtest windows; None chooses 1 to 3 by the data's size.
        duplicates: "mean" averages repeated timestamps of a series, "error" refuses them.
    """

    horizon: int | None = None
    id_column: str | None = None
    time_column: str | None = None
    frequency: str | None = None
    season_length: int | None = None
    covariates: tuple[str, ...] = ()
    quantiles: tuple[float, ...] | None = None
    backtests: int | None = None
    duplicates: str = "mean"


@dataclass(frozen=True)
class Backtests:
    """Rolling-origin windows over rows sorted by series then position: window w (of
    ``windows``, the oldest first) trains on each series' rows before ``length - w *
    horizon`` and validates on the ``horizon`` after; a series whose training part would
    be shorter than ``least`` rows sits that window out."""

    series: np.ndarray
    position: np.ndarray
    horizon: int
    windows: int
    least: int

    def split(self, y: np.ndarray, task: Task) -> tuple[Split, ...]:
        codes, counts = np.unique(self.series, return_counts=True)
        length = counts[np.searchsorted(codes, self.series)]
        splits = []
        for w in range(self.windows, 0, -1):
            cut = length - w * self.horizon
            usable = cut >= self.least
            train = np.nonzero(usable & (self.position < cut))[0]
            valid = np.nonzero(usable & (self.position >= cut)
                               & (self.position < cut + self.horizon))[0]
            if len(valid):
                splits.append((train, valid))
        if not splits:
            raise DataError(f"no series is long enough to backtest a horizon of "
                            f"{self.horizon} after {self.least} steps of history; lower "
                            "--horizon or pass longer series")
        return tuple(splits)


def backtest_windows(n_series: int, horizon: int, given: int | None) -> int:
    """``given``, or enough windows (1 to MAX_WINDOWS) to validate TARGET_POINTS points."""
    if given is not None:
        if isinstance(given, bool) or not isinstance(given, int) or given < 1:
            raise ConfigError(f"--backtests is a whole number of windows, 1 or more; got "
                              f"{given!r}")
        return given
    return max(1, min(MAX_WINDOWS, math.ceil(TARGET_POINTS / max(n_series * horizon, 1))))


def _read(data: Any) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, str | Path):
        return read_table(Path(data))
    raise DataError(f"forecasting data is a long table (id, time, value), a DataFrame or a "
                    f"file, not a {type(data).__name__}")


def _columns(frame: pd.DataFrame, target: str | None, options: ForecastOptions
             ) -> SeriesColumns:
    names = [str(c) for c in frame.columns]
    time = options.time_column or next((c for c in (TIME, "date", "time", "timestamp")
                                        if c in names), None)
    target = target or (VALUE if VALUE in names else None)
    if time is None or target is None:
        raise ConfigError("name the time and target columns with --time and --target; the "
                          f"data has {', '.join(names[:20])}")
    ident = options.id_column or (ID if ID in names and ID not in (time, target) else None)
    return SeriesColumns(ident, time, target, tuple(options.covariates))


@register_modality
class ForecastModality(Modality):
    """Series forecast ahead, chosen and blended on backtests."""

    name = "timeseries"
    aliases = ("forecast", "forecasting")
    learner_modules = ("accelml.timeseries.learners",)
    learner_names = LEARNERS
    option_type = ForecastOptions
    input_hint = "pass series with --task forecast --time COLUMN --horizon STEPS"
    defaults = {"stacking": False}
    priority = 15
    picked_by = ("horizon",)

    def prepare(self, data: Any, target: str | None, config: RunConfig,
                options: Any = None) -> Prepared:
        options = options or ForecastOptions()
        if options.horizon is None:
            raise ConfigError("a forecast needs a horizon: pass --horizon STEPS (horizon= in "
                              "Python), e.g. 28 for four weeks of daily data")
        quantiles = check_quantiles(DEFAULT_QUANTILES if options.quantiles is None
                                    else options.quantiles)
        frame = _read(data)
        columns = _columns(frame, target, options)
        prepared = prepare_series(frame, columns, options.horizon,
                                  frequency=options.frequency,
                                  season_length=options.season_length,
                                  duplicates=options.duplicates)
        pre = ForecastPreprocessor.fit(prepared, columns, options.horizon, quantiles)
        features, y = pre.features()
        metric = config.metric or "mase"
        get_metric(metric).check_task(TaskKind.FORECAST)
        task = Task(TaskKind.FORECAST, columns.target, metric)
        windows = backtest_windows(len(pre.ids), options.horizon, options.backtests)
        notes = [*prepared.notes,
                 f"{len(pre.ids)} series, frequency {pre.frequency or f'step {pre.step}'}, "
                 f"season {pre.season_length}, horizon {pre.horizon}; {windows} backtest "
                 f"window{'s' if windows > 1 else ''}"]
        split_info = {"windows": windows, "least": max(pre.season_length + 1, 2)}
        return Prepared(features, y, task, pre, config, notes, split_info=split_info)

    def splitter(self, config: RunConfig, prepared: Prepared) -> SplitStrategy | None:
        X = prepared.features.X
        pre = prepared.preprocessor
        return Backtests(np.asarray(X[:, SERIES], dtype=np.int64),
                         np.asarray(X[:, POSITION], dtype=np.int64),
                         pre.horizon, int(prepared.split_info["windows"]),  # type: ignore
                         int(prepared.split_info["least"]))

    def preprocessor_from_dict(self, state: dict[str, Any]) -> ForecastPreprocessor:
        return ForecastPreprocessor.from_dict(state)

    def finish(self, predictor: Predictor, prepared: Prepared, deadline: Deadline) -> None:
        """Prediction intervals from the served blend's backtest residuals, then every
        series' forecast, kept for lookups."""
        from accelml.timeseries.forecast import precompute

        splits = self.splitter(prepared.config, prepared).split(  # type: ignore[union-attr]
            prepared.y, prepared.task)
        predictor.info["intervals"] = interval_state(predictor, prepared, splits)
        predictor.info["precomputed_forecast"] = precompute(predictor, deadline)

    def evaluate(self, predictor: Predictor, data: Any) -> Any:
        from accelml.timeseries.forecast import evaluate

        return evaluate(predictor, _read(data))

    def predict(self, predictor: Predictor, data: Any) -> Any:
        raise DataError("forecasting models forecast the steps after their history: use "
                        "predictor.forecast(horizon=...) or `accelml forecast MODEL`")

    def forecast(self, predictor: Predictor, horizon: int | None, history: Any = None,
                 future: Any = None, ids: Any = None) -> pd.DataFrame:
        from accelml.timeseries.forecast import forecast

        return forecast(predictor, horizon, None if history is None else _read(history),
                        None if future is None else _read(future), ids)

    def predict_file(self, predictor: Predictor, source: Path, output: Path, *, proba: bool,
                     batch_rows: int, on_progress: OnProgress | None = None) -> int:
        raise ConfigError("forecasting models forecast rather than predict rows: use "
                          "`accelml forecast MODEL -o forecast.csv`")

    def report_sections(self, predictor: Predictor, data: Any) -> list[ReportSection]:
        """The forecast of a few series with its interval, and the intervals' coverage on
        the backtests."""
        from accelml.timeseries.forecast import forecast, forecast_figure

        pre: ForecastPreprocessor = predictor.preprocessor  # type: ignore[assignment]
        shown = list(pre.ids[:REPORT_SERIES])
        frame = forecast(predictor, None, None, None, shown)
        intervals = predictor.info.get("intervals") or {}
        lines = [f"{len(pre.ids)} series, {pre.horizon} steps ahead, frequency "
                 f"{pre.frequency or 'integer steps'}, season length {pre.season_length}; the "
                 "first "
                 f"{len(shown)} series are drawn with their last history."]
        if intervals.get("quantiles"):
            lines.append("Intervals: split-conformal quantiles "
                         f"{', '.join(map(str, intervals['quantiles']))} of the backtest "
                         "residuals, per step ahead.")
        return [ReportSection("Forecasts", lines, figures=[
            forecast_figure(predictor, frame, shown)])]

    def serve_input(self, predictor: Predictor, max_rows: int) -> ServeInput:
        from accelml.timeseries.serving import series_input

        return series_input(predictor, max_rows)

    def add_routes(self, app: Any, predictor: Predictor, dependencies: list[Any]) -> None:
        from accelml.timeseries.serving import add_routes

        add_routes(app, predictor, dependencies)


def interval_state(predictor: Predictor, prepared: Prepared,
                   splits: tuple[Split, ...]) -> dict[str, Any]:
    """The quantile offsets (per step ahead, in units of each series' scale) of the
    blend's backtest residuals; none when the blend has no backtest forecasts."""
    pre: ForecastPreprocessor = prepared.preprocessor  # type: ignore[assignment]
    quantiles = list(pre.quantiles)
    oof = predictor.validation
    if not quantiles or oof is None:
        return {"quantiles": [], "offsets": [], "reason": "no backtest forecasts"}
    X, y = prepared.features.X, prepared.y
    parts = []
    for train, valid in splits:
        scales = series_scales(X, y, train, pre.season_length, len(pre.ids))
        codes = np.asarray(X[valid, SERIES], dtype=np.int64)
        position = np.asarray(X[valid, POSITION], dtype=np.int64)
        first = pd.Series(position).groupby(codes).transform("min").to_numpy()
        parts.append(pd.DataFrame({"step": position - first + 1,
                                   "scaled": (y[valid] - oof[valid]) / scales[codes]}))
    residuals = pd.concat(parts, ignore_index=True)
    residuals = residuals[np.isfinite(residuals["scaled"])]
    offsets = residual_offsets(residuals, quantiles, pre.horizon)
    return {"quantiles": quantiles, "offsets": offsets.tolist(),
            "residuals": int(len(residuals))}
