"""The flattened forest walk answers as scikit-learn does, on missing values and on inputs
that sit exactly on a threshold, and steps aside where it should."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_wine
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)

from accelml.tabular.learners import flat_forest
from accelml.tabular.learners.flat_forest import flatten, float32_at_most, predict_few


def _with_missing(X: np.ndarray, seed: int = 0) -> np.ndarray:
    X = X.astype(np.float64).copy()
    rng = np.random.default_rng(seed)
    X[rng.random(X.shape) < 0.1] = np.nan
    return X


@pytest.mark.parametrize("forest", [RandomForestClassifier, ExtraTreesClassifier])
def test_class_shares_match_scikit_learn_with_missing_values(forest: type) -> None:
    X, y = load_wine(return_X_y=True)
    X = _with_missing(X)
    model = forest(n_estimators=40, random_state=0).fit(X, y)
    rows = _with_missing(load_wine(return_X_y=True)[0][:16], seed=1)
    rows[0] = np.nan  # every measurement missing
    for n in (1, 5, 16):
        few = predict_few(model, rows[:n], "multiclass")
        np.testing.assert_allclose(few, model.predict_proba(rows[:n]), rtol=0, atol=1e-12)


@pytest.mark.parametrize("forest", [RandomForestRegressor, ExtraTreesRegressor])
def test_values_match_scikit_learn_with_missing_values(forest: type) -> None:
    X, y = load_diabetes(return_X_y=True)
    X = _with_missing(X)
    model = forest(n_estimators=40, min_samples_leaf=2, random_state=0).fit(X, y)
    few = predict_few(model, X[:7], "regression")
    assert few is not None and few.shape == (7,)
    np.testing.assert_allclose(few, model.predict(X[:7]), rtol=1e-12)


def test_a_row_on_a_threshold_goes_the_way_scikit_learn_sends_it() -> None:
    X, y = load_diabetes(return_X_y=True)
    model = RandomForestRegressor(n_estimators=20, random_state=0).fit(X, y)
    tree = model.estimators_[0].tree_
    splits = np.flatnonzero(tree.children_left >= 0)[:8]
    rows = np.tile(X[:1], (2 * len(splits), 1))
    for i, node in enumerate(splits):  # the float32 nearest the threshold, and the one below
        nearest = np.float32(tree.threshold[node])
        rows[2 * i, tree.feature[node]] = nearest
        rows[2 * i + 1, tree.feature[node]] = np.nextafter(nearest, np.float32(-np.inf))
    np.testing.assert_allclose(predict_few(model, rows, "regression"),
                               model.predict(rows), rtol=1e-12)
    thresholds = np.array([0.1, 1 / 3, -2.5, 1e30])
    rounded = float32_at_most(thresholds)
    assert (rounded.astype(np.float64) <= thresholds).all()
    assert (np.nextafter(rounded, np.float32(np.inf)).astype(np.float64) > thresholds).all()


def test_many_rows_and_huge_forests_are_left_to_scikit_learn(
        monkeypatch: pytest.MonkeyPatch) -> None:
    X, y = load_wine(return_X_y=True)
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    assert predict_few(model, X[:flat_forest.MAX_ROWS + 1], "multiclass") is None
    monkeypatch.setattr(flat_forest, "MAX_NODES", 10)
    assert flatten(model) is None


def test_a_forest_that_grew_more_trees_is_flattened_again() -> None:
    X, y = load_wine(return_X_y=True)
    model = RandomForestClassifier(n_estimators=5, random_state=0, warm_start=True).fit(X, y)
    first = flat_forest.flat_forest(model)
    assert first is not None and len(first.roots) == 5
    model.set_params(n_estimators=12).fit(X, y)
    np.testing.assert_allclose(predict_few(model, X[:3], "multiclass"),
                               model.predict_proba(X[:3]), atol=1e-12)
