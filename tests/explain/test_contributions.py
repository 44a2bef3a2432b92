"""SHAP contributions: the tree libraries' own values add up to each model's raw output,
blends and stacks add up to the served output, and a model without a fast path is
explained by the model-agnostic estimate, which says so."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, softmax

import accelml
from accelml.core.budget import Deadline
from accelml.core.learner import NoFastPath, discover, get_learner
from accelml.explain.contributions import contributions
from accelml.testing.conformance import binary_table, multiclass_table, regression_table
from tests.conftest import diabetes_frame, split
from tests.explain.conftest import FittedCase

TREES = ["lightgbm", "xgboost", "catboost"]
discover(["accelml.tabular.learners"])
CASES = {"binary": binary_table, "multiclass": multiclass_table,
         "regression": regression_table}


@pytest.mark.parametrize("kind", list(CASES))
@pytest.mark.parametrize("name", TREES)
def test_a_tree_learners_own_values_add_up_to_its_output(name: str, kind: str) -> None:
    task, features, y = CASES[kind]()
    learner = get_learner(name)
    fitted = learner.fit(features, y, learner.defaults(task), task=task, fidelity=40,
                         deadline=Deadline.never(), n_jobs=1, seed=0)
    values = learner.contributions(fitted, features)
    assert values.shape == (len(features), features.X.shape[1] + 1,
                            len(task.classes) if kind == "multiclass" else 1)
    raw = values.sum(axis=1)  # the columns plus the base value: the raw output
    predicted = learner.predict(fitted, features)
    if kind == "regression":
        np.testing.assert_allclose(raw[:, 0], predicted, rtol=1e-5, atol=1e-4)
    elif kind == "binary":
        np.testing.assert_allclose(expit(raw[:, 0]), predicted[:, 1], atol=1e-5)
    else:
        np.testing.assert_allclose(softmax(raw, axis=1), predicted, atol=1e-5)


def test_learners_without_a_fast_path_say_so() -> None:
    task, features, y = binary_table()
    learner = get_learner("linear")
    fitted = learner.fit(features, y, learner.defaults(task), task=task, fidelity=None,
                         deadline=Deadline.never(), n_jobs=1, seed=0)
    with pytest.raises(NoFastPath, match="linear has no exact fast path"):
        learner.contributions(fitted, features)


def test_a_blend_of_trees_adds_up_exactly_to_the_served_prediction() -> None:
    train, test = split(diabetes_frame())
    predictor = accelml.fit(train, "progression", time_budget=60,
                            learners=TREES, max_trials=3, seed=0,
                            stacking=False, quiet=True)
    assert len({member.learner for member in predictor.members}) == 2
    found = contributions(predictor, test)
    assert found.exact and "exact TreeSHAP of catboost, lightgbm" in found.method
    assert found.columns[:3] == ["age", "sex", "bmi"]
    np.testing.assert_allclose(found.values.sum(axis=1) + found.base,
                               predictor.predict(test), rtol=1e-6)


def test_a_stacked_model_falls_back_to_the_agnostic_estimate_and_says_so(
        cancer_case: FittedCase) -> None:
    predictor = accelml.load(cancer_case.model_dir)
    assert predictor.stacker is not None
    found = contributions(predictor, cancer_case.test)
    assert not found.exact
    assert found.method.startswith("model-agnostic estimate")
    assert "a stacked model has no exact fast path" in found.method
    served = predictor.predict_proba(cancer_case.test)["malignant"].to_numpy()
    np.testing.assert_allclose(found.values.sum(axis=1) + found.base, served, atol=1e-9)
    assert found.output == "P(malignant)"
    # the strongest reasons are the columns that separate the classes in this data
    top = np.abs(found.values).mean(axis=0).argsort()[::-1][:5]
    assert {"worst_concave_points", "worst_perimeter", "worst_radius",
            "mean_concave_points"} & {found.columns[i] for i in top}
