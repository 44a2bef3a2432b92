"""A global gradient-boosted forecaster: one LightGBM model over every series, fed lags,
rolling statistics, calendar features and covariates (mlforecast builds the features and
forecasts recursively: each step's forecast becomes the next step's lag).

One model learns from all series at once, which is what wins where there are many related
series (M4 hourly) and where statistical models, fitted one series at a time, see too
little. Series are put on one scale first (each standardized, or differenced); the model
is saved as LightGBM's text format and the history it forecasts from as arrays.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from accelml.core.budget import Deadline
from accelml.core.data import DataShape, Features
from accelml.core.forecasting import POSITION, SERIES, TIME, series_facts
from accelml.core.learner import Config, FitFacts, Fitted, register
from accelml.core.task import Task
from accelml.timeseries.learners.base import (
    Forecaster,
    SeriesSetup,
    load_arrays,
    save_arrays,
    steps_ahead,
)

BOOSTER_FILE = "booster.txt"
CALENDAR = ("month", "dayofweek", "hour", "day", "weekofyear")
#: Lags at most (the longest seasons of fine-grained data are cut to this).
MAX_LAG = 400


def _lags(choice: str, setup: SeriesSetup) -> list[int]:
    """The lags of a lag set: the last few steps and a season ago ("short"), every step of
    the last season ("season") or of the last two ("two_seasons"); each longer seasonal
    period (a week of hours) and its neighbours too."""
    m = max(setup.season_length, 1)
    span = {"short": 3, "season": max(m, 4), "two_seasons": max(2 * m, 8)}[choice]
    lags = set(range(1, span + 1)) | {m}
    for season in setup.seasons:
        if 1 < season <= MAX_LAG:
            lags |= {season - 1, season, season + 1}
    return sorted(lag for lag in lags if 0 < lag <= MAX_LAG)


def _frame(features: Features, y: np.ndarray | None, calendar: bool) -> pd.DataFrame:
    """The rows as mlforecast's long frame: unique_id, ds (the position), y, then the
    covariates and, for dates, calendar features."""
    X = features.X
    frame = pd.DataFrame({"unique_id": np.asarray(X[:, SERIES], dtype=np.int64),
                          "ds": np.asarray(X[:, POSITION], dtype=np.int64)})
    if y is not None:
        frame["y"] = np.asarray(y, dtype=np.float64)
    for index in range(TIME + 1, X.shape[1]):
        frame[f"cov_{index}"] = X[:, index]
    if calendar:
        stamps = pd.to_datetime(np.asarray(X[:, TIME], dtype=np.float64), unit="s")
        frame["month"] = stamps.month
        frame["dayofweek"] = stamps.dayofweek
        frame["hour"] = stamps.hour
        frame["day"] = stamps.day
        frame["weekofyear"] = stamps.isocalendar().week.to_numpy().astype(np.int64)
    return frame.sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True)


def _forecaster(config: Config, setup: SeriesSetup, booster: Any = None) -> Any:
    """mlforecast's MLForecast for ``config`` (its model set when ``booster`` is given)."""
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean, RollingStd
    from mlforecast.target_transforms import Differences, LocalStandardScaler

    window = max(setup.season_length, 4)
    transforms = {"standardize": [LocalStandardScaler()],
                  "difference": [Differences([1]), LocalStandardScaler()],
                  "seasonal_difference": [Differences([max(setup.season_length, 1)]),
                                          LocalStandardScaler()]}[str(config["target"])]
    forecaster = MLForecast(models={"lgb": _Placeholder()}, freq=1,
                            lags=_lags(str(config["lags"]), setup),
                            lag_transforms={1: [RollingMean(window), RollingStd(window)]},
                            target_transforms=transforms)
    if booster is not None:
        forecaster.models_ = {"lgb": booster}
    return forecaster


class _Placeholder:
    """mlforecast asks for an estimator; the booster is trained by hand (deadline, threads)
    and set afterwards."""

    def fit(self, X: Any, y: Any) -> _Placeholder:
        return self

    def predict(self, X: Any) -> Any:
        raise NotImplementedError

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {}


def _params(config: Config, n_jobs: int, seed: int) -> dict[str, Any]:
    return {"objective": str(config["objective"]), "learning_rate": float(config["learning_rate"]),
            "num_leaves": int(config["num_leaves"]),
            "min_data_in_leaf": int(config["min_data_in_leaf"]),
            "feature_fraction": float(config["feature_fraction"]),
            "lambda_l2": float(config["lambda_l2"]), "bagging_fraction": 0.8, "bagging_freq": 1,
            "seed": seed, "deterministic": True, "force_col_wise": True, "num_threads": n_jobs,
            "verbosity": -1}


#: The first portfolio config; a config given without some of its keys takes them from it.
DEFAULTS: Config = {"lags": "season", "target": "standardize", "objective": "l2",
                    "num_leaves": 63, "learning_rate": 0.05, "rounds": 300,
                    "min_data_in_leaf": 20, "feature_fraction": 0.8, "lambda_l2": 0.1}


@register
class GlobalLightGBM(Forecaster):
    """LightGBM over lags of every series at once, forecasting recursively."""

    name = "global_lightgbm"
    relative_cost = 0.5
    load_modules = ("lightgbm", "mlforecast")

    def space(self, task: Task, shape: DataShape) -> dict[str, BaseDistribution]:
        return {"lags": CategoricalDistribution(["short", "season", "two_seasons"]),
                "target": CategoricalDistribution(["standardize", "difference",
                                                   "seasonal_difference"]),
                "objective": CategoricalDistribution(["l2", "l1"]),
                "num_leaves": IntDistribution(7, 255, log=True),
                "learning_rate": FloatDistribution(0.01, 0.2, log=True),
                "rounds": IntDistribution(50, 1000, log=True),
                "min_data_in_leaf": IntDistribution(5, 200, log=True),
                "feature_fraction": FloatDistribution(0.4, 1.0),
                "lambda_l2": FloatDistribution(1e-3, 10.0, log=True)}

    def portfolio(self, task: Task, shape: DataShape) -> list[Config]:
        return [DEFAULTS,
                {**DEFAULTS, "lags": "two_seasons", "target": "difference", "objective": "l1"},
                {**DEFAULTS, "target": "seasonal_difference", "num_leaves": 31}]

    def fit(self, features: Features, y: np.ndarray, config: Config, *, task: Task,
            fidelity: int | None, deadline: Deadline, n_jobs: int, seed: int,
            valid: tuple[Features, np.ndarray] | None = None) -> Fitted:
        """Build the lag features of every series and train the booster on them."""
        import lightgbm as lgb

        from accelml.tabular.learners.lightgbm_learner import _Stopper

        config = {**DEFAULTS, **config}
        setup = SeriesSetup.of(features)
        calendar = series_facts(dict(features.block_info)).get("frequency") is not None
        frame = _frame(features, y, calendar)
        with warnings.catch_warnings():  # (missing lags of short series are expected)
            warnings.simplefilter("ignore")
            X, target = _forecaster(config, setup).preprocess(frame, static_features=[],
                                                              dropna=False, return_X_y=True)
        known = np.isfinite(np.asarray(target, dtype=np.float64))  # lags may be missing
        X, target = X[known], np.asarray(target)[known]
        if len(target) == 0:
            raise ValueError("no series is longer than the differencing; use another target "
                             "transform")
        data = lgb.Dataset(X, target, params={"verbosity": -1}, free_raw_data=True)
        booster = lgb.train(_params(config, n_jobs, seed), data,
                            num_boost_round=int(config["rounds"]),
                            callbacks=[_Stopper(deadline, False)])
        booster.free_dataset()
        kept = int(booster.current_iteration())
        history = _history_arrays(features, y)
        info = {"learner": self.name, "calendar": calendar, "rounds": kept,
                "season_length": setup.season_length, "seasons": list(setup.seasons),
                "horizon": setup.horizon, "n_series": setup.n_series, "config": config,
                "columns": list(X.columns)}
        return Fitted(self.name, {"booster": booster, "history": history}, info,
                      FitFacts(units_trained=kept))

    def with_history(self, fitted: Fitted, features: Features, y: np.ndarray,
                     config: Config, deadline: Deadline) -> Fitted:
        """The same booster, forecasting from the new history."""
        model = {**fitted.model, "history": _history_arrays(features, y)}
        return Fitted(self.name, model, fitted.info, fitted.facts)

    def predict(self, fitted: Fitted, features: Features) -> np.ndarray:
        """Recursive forecasts of the rows' series up to the furthest row asked for."""
        history = fitted.model["history"]
        codes = np.unique(history["series"])
        last = _last_positions(history, codes)
        index, step = steps_ahead(codes, last, features)
        info = fitted.info
        setup = SeriesSetup(int(info["season_length"]), int(info["horizon"]),
                            tuple(info["seasons"]), int(info["n_series"]))
        asked = codes[np.unique(index)]
        past = _history_features(history, asked, features)
        future = _frame(features, None, bool(info["calendar"]))
        horizon = int(step.max()) + 1
        _check_steps(future, last, codes, horizon)
        forecaster = _forecaster(info["config"], setup, fitted.model["booster"])
        frame = _frame(past, history["y"][np.isin(history["series"], asked)],
                       bool(info["calendar"]))
        exogenous = [c for c in future.columns if c not in ("unique_id", "ds")]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            forecaster.preprocess(frame, static_features=[], dropna=False)  # where it starts
            out = forecaster.predict(horizon, X_df=future if exogenous else None,
                                     ids=list(asked))
        out = out.set_index(["unique_id", "ds"])["lgb"]
        keys = pd.MultiIndex.from_arrays([np.asarray(features.X[:, SERIES], dtype=np.int64),
                                          np.asarray(features.X[:, POSITION], dtype=np.int64)])
        return np.asarray(out.reindex(keys).to_numpy(), dtype=np.float64)

    def save(self, fitted: Fitted, directory: Path) -> list[Path]:
        files = save_arrays(directory, fitted.model["history"], fitted.info)
        path = directory / BOOSTER_FILE
        path.write_text(fitted.model["booster"].model_to_string())
        return [*files, path]

    def load(self, directory: Path, task: Task) -> Fitted:
        import lightgbm as lgb

        history, info = load_arrays(directory, self.name)
        booster = lgb.Booster(model_str=(directory / BOOSTER_FILE).read_text())
        return Fitted(self.name, {"booster": booster, "history": history}, info,
                      FitFacts(units_trained=int(info["rounds"])))


def _history_arrays(features: Features, y: np.ndarray) -> dict[str, np.ndarray]:
    return {"series": np.asarray(features.X[:, SERIES], dtype=np.int64),
            "position": np.asarray(features.X[:, POSITION], dtype=np.int64),
            "X": np.asarray(features.X, dtype=np.float64), "y": np.asarray(y, np.float64),
            "names": np.asarray(features.names, dtype=str)}


def _last_positions(history: dict[str, np.ndarray], codes: np.ndarray) -> np.ndarray:
    last = np.full(len(codes), -1, dtype=np.int64)
    np.maximum.at(last, np.searchsorted(codes, history["series"]), history["position"])
    return last


def _history_features(history: dict[str, np.ndarray], asked: np.ndarray,
                      like: Features) -> Features:
    rows = np.isin(history["series"], asked)
    return Features(history["X"][rows], names=list(history["names"]),
                    block_info=like.block_info)


def _check_steps(future: pd.DataFrame, last: np.ndarray, codes: np.ndarray,
                 horizon: int) -> None:
    """Covariates and calendar features must be known for every step up to the furthest
    one asked for, so the rows must hold each asked series' steps without a gap."""
    if len(future.columns) <= 2:
        return
    counts = future.groupby("unique_id").size()
    first = future.groupby("unique_id")["ds"].min()
    starts = last[np.searchsorted(codes, first.index.to_numpy())] + 1
    if (first.to_numpy() != starts).any() or (counts.to_numpy() != horizon).any():
        from accelml.errors import DataError

        raise DataError("a forecast with covariates needs every step up to the furthest one "
                        "asked for, for each series")
