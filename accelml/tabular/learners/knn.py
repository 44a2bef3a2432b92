"""k-nearest neighbours on standardized features: a different inductive bias for the ensemble."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution

from accelml.core.data import Features
from accelml.core.learner import Config, register
from accelml.core.task import Task
from accelml.tabular.learners._common import FitContext, merge_config
from accelml.tabular.learners._sklearn import SklearnLearner, fit_pipeline


@register
class KNN(SklearnLearner):
    """Neighbours vote (classes) or average (values), optionally weighted by distance.

    Fitting only builds an index, so the deadline is not checked (the cost is at prediction);
    ``valid`` is not used.
    """

    name = "knn"
    relative_cost = 5.0
    fidelity = None

    def space(self, task: Task, n_rows: int, n_features: int) -> Mapping[str, BaseDistribution]:
        """How many neighbours, and whether closer ones count more."""
        return {
            "n_neighbors": IntDistribution(1, 100, log=True),
            "weights": CategoricalDistribution(("uniform", "distance")),
        }

    def portfolio(self, task: Task) -> list[Config]:
        """Distance-weighted 10 neighbours first: smoother probabilities than the default 5."""
        return [
            {"n_neighbors": 10, "weights": "distance"},
            {"n_neighbors": 5, "weights": "uniform"},
            {"n_neighbors": 30, "weights": "distance"},
        ]

    def _fit(self, features: Features, y: np.ndarray, config: Config,
             ctx: FitContext) -> tuple[Any, dict[str, Any]]:
        from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

        params = merge_config(self.portfolio(ctx.task)[0], config, self.name)
        params["n_neighbors"] = min(int(params["n_neighbors"]), len(features))
        estimator = (KNeighborsClassifier if ctx.task.kind.is_classification
                     else KNeighborsRegressor)(**params, n_jobs=ctx.n_jobs)
        return fit_pipeline(features, y, estimator, ctx.n_jobs), {}
