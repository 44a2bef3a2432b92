"""The served model as a fitted scikit-learn estimator over DataFrames of the training
columns, so scikit-learn's inspection tools (permutation importance, partial dependence)
drive it. Predicting goes through the model's preprocessor and its whole blend."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from accelml.core.predictor import Predictor


class _Served(BaseEstimator):  # type: ignore[misc]
    """Shared parts: already fitted; ``fit`` is not something an explanation does."""

    def __init__(self, predictor: Predictor | None = None) -> None:
        self.predictor = predictor

    def fit(self, X: Any, y: Any = None) -> _Served:
        raise NotImplementedError("an AccelML model is fitted with accelml.fit")

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def _raw(self, X: pd.DataFrame) -> np.ndarray:
        assert self.predictor is not None
        return self.predictor.blend(self.predictor._features(X))


class ServedClassifier(ClassifierMixin, _Served):  # type: ignore[misc]
    """A classifier whose classes are the encoded class codes 0..k-1."""

    @property
    def classes_(self) -> np.ndarray:
        assert self.predictor is not None
        return np.arange(len(self.predictor.task.classes))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self._raw(X)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self._raw(X).argmax(axis=1))


class ServedRegressor(RegressorMixin, _Served):  # type: ignore[misc]
    """A regressor."""

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self._raw(X)


def as_estimator(predictor: Predictor) -> ServedClassifier | ServedRegressor:
    """The scikit-learn view of ``predictor``."""
    if predictor.task.kind.is_classification:
        return ServedClassifier(predictor)
    return ServedRegressor(predictor)
