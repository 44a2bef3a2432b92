"""Local statistical forecasters: one model per series, from statsforecast.

Seasonal naive, naive (with or without drift), ETS, Theta, ARIMA (statsforecast's automatic
versions, which choose each series' model by information criterion) and MSTL (seasonal-trend
decomposition over one or several seasonal periods, its trend by ETS). Each series is fitted
on its own history and forecast ``horizon`` steps at fit time; ``predict`` looks the rows'
steps up. A series with fewer than two seasons of history is fitted without a season, and a
series a model cannot fit is forecast by its last value (both counted in ``info``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution

from accelml.core.budget import Deadline
from accelml.core.data import DataShape, Features
from accelml.core.learner import Config, FitFacts, Fitted, register
from accelml.core.task import Task
from accelml.timeseries.learners.base import (
    Forecaster,
    Series,
    SeriesSetup,
    load_arrays,
    save_arrays,
    steps_ahead,
)

#: Series fitted between two looks at the deadline.
DEADLINE_EVERY = 16


class OutOfTime(RuntimeError):
    """The deadline came before every series was fitted."""


def _naive(values: np.ndarray, horizon: int) -> np.ndarray:
    return np.full(horizon, values[-1], dtype=np.float64)


class LocalForecaster(Forecaster):
    """A statsforecast model fitted per series; subclasses build the model."""

    load_modules: ClassVar[tuple[str, ...]] = ()

    def build(self, config: Config, season_length: int, seasons: tuple[int, ...]) -> Any:
        """The statsforecast model for a series of this season length."""
        raise NotImplementedError

    def space(self, task: Task, shape: DataShape) -> dict[str, BaseDistribution]:
        return {}

    def portfolio(self, task: Task, shape: DataShape) -> list[Config]:
        return [{}]

    def fit(self, features: Features, y: np.ndarray, config: Config, *, task: Task,
            fidelity: int | None, deadline: Deadline, n_jobs: int, seed: int,
            valid: tuple[Features, np.ndarray] | None = None) -> Fitted:
        """Forecast every series ``horizon`` steps ahead from its end."""
        setup = SeriesSetup.of(features)
        series = Series.of(features, y)
        forecasts, unseasonal, fallback = forecast_each(
            series, setup, lambda m, seasons: self.build(config, m, seasons), deadline)
        info = {"learner": self.name, "horizon": setup.horizon,
                "unseasonal_series": unseasonal, "fallback_series": fallback}
        model = {"codes": series.codes, "last": series.last, "forecasts": forecasts}
        return Fitted(self.name, model, info, FitFacts())

    def with_history(self, fitted: Fitted, features: Features, y: np.ndarray,
                     config: Config, deadline: Deadline) -> Fitted:
        """Fitted again on the new history: a local model is its series' own."""
        return self.fit(features, y, config, task=None, fidelity=None,  # type: ignore
                        deadline=deadline, n_jobs=1, seed=0)

    def predict(self, fitted: Fitted, features: Features) -> np.ndarray:
        model = fitted.model
        index, step = steps_ahead(model["codes"], model["last"], features,
                                  int(fitted.info["horizon"]))
        return np.asarray(model["forecasts"][index, step], dtype=np.float64)

    def save(self, fitted: Fitted, directory: Path) -> list[Path]:
        return save_arrays(directory, fitted.model, fitted.info)

    def load(self, directory: Path, task: Task) -> Fitted:
        model, info = load_arrays(directory, self.name)
        return Fitted(self.name, model, info, FitFacts())


def forecast_each(series: Series, setup: SeriesSetup,
                  build: Callable[[int, tuple[int, ...]], Any], deadline: Deadline
                  ) -> tuple[np.ndarray, int, int]:
    """(series x horizon forecasts, series fitted without a season, series forecast by
    their last value because the model failed on them)."""
    horizon, m = setup.horizon, setup.season_length
    forecasts = np.empty((len(series.codes), horizon))
    unseasonal = fallback = 0
    for index in range(len(series.codes)):
        if index and index % DEADLINE_EVERY == 0 and deadline.expired():
            raise OutOfTime(f"the deadline came after {index} of {len(series.codes)} series")
        values = series.history(index)
        season = m if len(values) >= 2 * m else 1
        seasons = tuple(s for s in setup.seasons if len(values) >= 2 * s) or (1,)
        unseasonal += season < m
        try:
            out = build(season, seasons).forecast(y=values, h=horizon)["mean"]
            if not np.all(np.isfinite(out)):
                raise ValueError("non-finite forecast")
            forecasts[index] = out
        except Exception:  # noqa: BLE001  (a model that cannot fit a series: its last value)
            forecasts[index] = _naive(values, horizon)
            fallback += 1
    return forecasts, int(unseasonal), int(fallback)


@register
class SeasonalNaive(LocalForecaster):
    """Each step repeats the value one season before (the last value without a season)."""

    name = "seasonal_naive"
    relative_cost = 0.01

    def build(self, config: Config, season_length: int, seasons: tuple[int, ...]) -> Any:
        from statsforecast.models import Naive, SeasonalNaive

        return SeasonalNaive(season_length) if season_length > 1 else Naive()


@register
class NaiveForecaster(LocalForecaster):
    """The last value, or with ``drift`` the line through the first and last values."""

    name = "naive"
    relative_cost = 0.02

    def space(self, task: Task, shape: DataShape) -> dict[str, BaseDistribution]:
        return {"drift": CategoricalDistribution([True, False])}

    def portfolio(self, task: Task, shape: DataShape) -> list[Config]:
        return [{"drift": True}, {"drift": False}]

    def build(self, config: Config, season_length: int, seasons: tuple[int, ...]) -> Any:
        from statsforecast.models import Naive, RandomWalkWithDrift

        return RandomWalkWithDrift() if config.get("drift", True) else Naive()


@register
class ETS(LocalForecaster):
    """Exponential smoothing (error, trend, season), chosen per series by AICc among the
    forms ``model`` allows ("Z" lets the criterion choose a component)."""

    name = "ets"
    relative_cost = 1.0

    def space(self, task: Task, shape: DataShape) -> dict[str, BaseDistribution]:
        return {"model": CategoricalDistribution(["ZZZ", "ZZA", "ZZN", "ZAZ", "ZNZ", "AAA",
                                                  "MAM"]),
                "damped": CategoricalDistribution([None, True, False])}

    def portfolio(self, task: Task, shape: DataShape) -> list[Config]:
        return [{"model": "ZZZ", "damped": None}, {"model": "ZZZ", "damped": True}]

    def build(self, config: Config, season_length: int, seasons: tuple[int, ...]) -> Any:
        from statsforecast.models import AutoETS

        model = str(config.get("model", "ZZZ"))
        if season_length == 1:
            model = model[:2] + "N"
        return AutoETS(season_length=season_length, model=model, damped=config.get("damped"))


@register
class Theta(LocalForecaster):
    """The Theta method (standard, optimized, dynamic), seasonally adjusted first; the
    variant is chosen per series when ``model`` is None."""

    name = "theta"
    relative_cost = 0.3

    def space(self, task: Task, shape: DataShape) -> dict[str, BaseDistribution]:
        return {"model": CategoricalDistribution([None, "STM", "OTM", "DSTM", "DOTM"]),
                "decomposition": CategoricalDistribution(["multiplicative", "additive"])}

    def portfolio(self, task: Task, shape: DataShape) -> list[Config]:
        return [{"model": None, "decomposition": "multiplicative"},
                {"model": "DOTM", "decomposition": "multiplicative"}]

    def build(self, config: Config, season_length: int, seasons: tuple[int, ...]) -> Any:
        from statsforecast.models import AutoTheta

        return AutoTheta(season_length=season_length, model=config.get("model"),
                         decomposition_type=str(config.get("decomposition",
                                                           "multiplicative")))


@register
class ARIMA(LocalForecaster):
    """Seasonal ARIMA with orders chosen per series (stepwise search, by AICc)."""

    name = "arima"
    relative_cost = 6.0

    def space(self, task: Task, shape: DataShape) -> dict[str, BaseDistribution]:
        return {"approximation": CategoricalDistribution([True, False]),
                "max_order": CategoricalDistribution([3, 5])}

    def portfolio(self, task: Task, shape: DataShape) -> list[Config]:
        return [{"approximation": True, "max_order": 5}]

    def build(self, config: Config, season_length: int, seasons: tuple[int, ...]) -> Any:
        from statsforecast.models import AutoARIMA

        order = int(config.get("max_order", 5))
        return AutoARIMA(season_length=season_length, max_order=order,
                         approximation=bool(config.get("approximation", True)))


@register
class MSTL(LocalForecaster):
    """Seasonal-trend decomposition over every seasonal period the frequency has (a day
    and a week of hours), the seasons repeated and the rest forecast by ETS."""

    name = "mstl"
    relative_cost = 0.8

    def space(self, task: Task, shape: DataShape) -> dict[str, BaseDistribution]:
        return {"trend": CategoricalDistribution(["ZZN", "ZAN", "ANN"])}

    def portfolio(self, task: Task, shape: DataShape) -> list[Config]:
        return [{"trend": "ZZN"}]

    def build(self, config: Config, season_length: int, seasons: tuple[int, ...]) -> Any:
        from statsforecast.models import MSTL as StatsMSTL
        from statsforecast.models import AutoETS

        trend = AutoETS(model=str(config.get("trend", "ZZN")))
        usable = [s for s in seasons if s > 1]
        if not usable:
            return trend
        return StatsMSTL(season_length=usable if len(usable) > 1 else usable[0],
                         trend_forecaster=trend)
