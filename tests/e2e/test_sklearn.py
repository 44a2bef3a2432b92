"""AccelClassifier / AccelRegressor follow the scikit-learn estimator contract."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from accelml import AccelClassifier, AccelRegressor
from accelml.errors import NotFittedError

OPTIONS = {"time_budget": 8.0, "learners": ("lightgbm", "linear"), "max_trials": 3}


def test_params_round_trip_and_clone() -> None:
    model = AccelClassifier(**OPTIONS)
    assert model.get_params()["time_budget"] == OPTIONS["time_budget"]
    model.set_params(seed=5)
    assert clone(model).get_params()["seed"] == 5
    with pytest.raises(NotFittedError, match="not fitted yet"):
        model.predict(np.zeros((1, 3)))


def test_classifier_in_a_pipeline_and_cross_val_score() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    pipeline = make_pipeline(StandardScaler(), AccelClassifier(**OPTIONS))
    scores = cross_val_score(pipeline, X, y, cv=2)
    assert scores.shape == (2,) and scores.min() > 0.85
    fitted = pipeline.fit(X, y)
    proba = fitted.predict_proba(X[:5])
    assert proba.shape == (5, 2) and np.allclose(proba.sum(axis=1), 1)
    assert list(fitted[-1].classes_) == [0, 1]
    assert set(fitted.predict(X[:20])) <= {0, 1}


def test_regressor_scores_r2() -> None:
    X, y = load_diabetes(return_X_y=True)
    model = AccelRegressor(**OPTIONS).fit(X[:350], y[:350])
    assert model.score(X[350:], y[350:]) > 0.3
    assert model.n_features_in_ == X.shape[1]
