"""Random forest: robust with no tuning, a strong member for the ensemble."""

from __future__ import annotations

from collections.abc import Mapping

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    IntDistribution,
)
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from accelml.core.data import DataShape
from accelml.core.learner import Config, Fidelity, register
from accelml.core.task import Task
from accelml.tabular.learners._sklearn import ForestLearner

MAX_FEATURES = ("sqrt", "log2", 0.5, 0.75, 1.0)


def forest_space(task: Task) -> dict[str, BaseDistribution]:
    """The knobs that matter for bagged trees (shared with extra trees)."""
    space: dict[str, BaseDistribution] = {
        "max_features": CategoricalDistribution(MAX_FEATURES),
        "min_samples_leaf": IntDistribution(1, 32, log=True),
    }
    if task.kind.is_classification:
        space["criterion"] = CategoricalDistribution(("gini", "entropy"))
    return space


def forest_portfolio(task: Task) -> list[Config]:
    """Library defaults first (sqrt features for classes, all features for values)."""
    if task.kind.is_classification:
        return [
            {"max_features": "sqrt", "min_samples_leaf": 1, "criterion": "gini"},
            {"max_features": "sqrt", "min_samples_leaf": 1, "criterion": "entropy"},
            {"max_features": 0.5, "min_samples_leaf": 2, "criterion": "gini"},
        ]
    return [
        {"max_features": 1.0, "min_samples_leaf": 1},
        {"max_features": 0.5, "min_samples_leaf": 1},
        {"max_features": "sqrt", "min_samples_leaf": 2},
    ]


@register
class RandomForest(ForestLearner):
    """Bootstrap-sampled trees with random feature subsets at each split."""

    name = "random_forest"
    relative_cost = 4.0
    fidelity = Fidelity("n_estimators", 50, 300)
    classifier = RandomForestClassifier
    regressor = RandomForestRegressor

    def space(self, task: Task, shape: DataShape) -> Mapping[str, BaseDistribution]:
        """Feature subsampling, leaf size and (for classes) the split criterion."""
        return forest_space(task)

    def portfolio(self, task: Task, shape: DataShape) -> list[Config]:
        """Library defaults first."""
        return forest_portfolio(task)
