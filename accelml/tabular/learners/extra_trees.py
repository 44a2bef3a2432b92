"""Extra trees: random split thresholds; fast, and diverse from the boosted models."""

from __future__ import annotations

from collections.abc import Mapping

from optuna.distributions import BaseDistribution
from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor

from accelml.core.data import DataShape
from accelml.core.learner import Config, Fidelity, register
from accelml.core.task import Task
from accelml.tabular.learners._sklearn import ForestLearner
from accelml.tabular.learners.random_forest import forest_portfolio, forest_space


@register
class ExtraTrees(ForestLearner):
    """Extremely randomized trees, grown on all rows (no bootstrap)."""

    name = "extra_trees"
    relative_cost = 3.5
    fidelity = Fidelity("n_estimators", 50, 300)
    classifier = ExtraTreesClassifier
    regressor = ExtraTreesRegressor

    def space(self, task: Task, shape: DataShape) -> Mapping[str, BaseDistribution]:
        """Same knobs as the random forest."""
        return forest_space(task)

    def portfolio(self, task: Task, shape: DataShape) -> list[Config]:
        """Library defaults first."""
        return forest_portfolio(task)
