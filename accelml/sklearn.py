"""scikit-learn estimators: ``AccelClassifier`` and ``AccelRegressor``.

They follow the estimator contract (parameters stored as given in ``__init__``, fitted state in
attributes ending with ``_``), so they work in a Pipeline, ``clone`` and ``cross_val_score``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from accelml.config import DEFAULT_PRESET
from accelml.errors import NotFittedError

TARGET = "__accelml_target__"
#: The column a one-dimensional X of texts becomes.
TEXT = "text"


def _is_documents(X: Any) -> bool:
    """A one-dimensional X of strings (a list, Series or array of documents)."""
    if isinstance(X, str) or not hasattr(X, "__len__"):
        return False
    array = np.asarray(X, dtype=object)
    return array.ndim == 1 and len(array) > 0 and all(isinstance(v, str) for v in array[:100])


class _AccelEstimator(BaseEstimator):  # type: ignore[misc]
    _task: str | None = None

    def __init__(
        self,
        time_budget: float = 30.0,
        metric: str | None = None,
        preset: str = DEFAULT_PRESET,
        seed: int = 0,
        n_jobs: int | None = None,
        learners: tuple[str, ...] | None = None,
        max_trials: int | None = None,
        quiet: bool = True,
    ) -> None:
        self.time_budget = time_budget
        self.metric = metric
        self.preset = preset
        self.seed = seed
        self.n_jobs = n_jobs
        self.learners = learners
        self.max_trials = max_trials
        self.quiet = quiet

    def _frame(self, X: Any, fitting: bool = False) -> pd.DataFrame:
        if isinstance(X, pd.DataFrame):
            frame = X.copy()
            frame.columns = [str(c) for c in frame.columns]
        elif _is_documents(X):  # a list or column of texts, as text pipelines take
            frame = pd.DataFrame({TEXT: list(X)})
        else:
            array = np.asarray(X)
            if array.ndim != 2:
                raise ValueError(f"X must be 2-dimensional, got shape {array.shape}")
            frame = pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])
        if fitting:
            self.n_features_in_ = frame.shape[1]
            if isinstance(X, pd.DataFrame):
                self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        return frame

    def fit(self, X: Any, y: Any) -> _AccelEstimator:
        """Run AccelML's search on X, y within ``time_budget`` seconds."""
        from accelml.api import fit

        frame = self._frame(X, fitting=True)
        frame[TARGET] = np.asarray(y)
        self.predictor_ = fit(
            frame, TARGET, self.time_budget, task=self._task, metric=self.metric,
            preset=self.preset, seed=self.seed, n_jobs=self.n_jobs, learners=self.learners,
            max_trials=self.max_trials, quiet=self.quiet)
        return self

    def _predictor(self) -> Any:
        if not hasattr(self, "predictor_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit first")
        return self.predictor_

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels (classifier) or values (regressor)."""
        return np.asarray(self._predictor().predict(self._frame(X)))

    def leaderboard(self) -> pd.DataFrame:
        """The run's leaderboard."""
        board: pd.DataFrame = self._predictor().leaderboard()
        return board


class AccelClassifier(ClassifierMixin, _AccelEstimator):  # type: ignore[misc]
    """AutoML classifier with the scikit-learn API."""

    _task = "multiclass"  # a 2-class target becomes binary

    def fit(self, X: Any, y: Any) -> AccelClassifier:
        """Fit; ``classes_`` holds the labels in predict_proba column order."""
        super().fit(X, y)
        self.classes_ = np.asarray(self.predictor_.classes)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in ``classes_`` order."""
        return np.asarray(self._predictor().predict_proba(self._frame(X)).to_numpy())


class AccelRegressor(RegressorMixin, _AccelEstimator):  # type: ignore[misc]
    """AutoML regressor with the scikit-learn API."""

    _task = "regression"
