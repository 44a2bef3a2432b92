"""Linear models: logistic regression for classes, ridge for values.

Cheap, smooth and different from trees, so they help the ensemble; on small or wide data they
are often the best single model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, FloatDistribution

from accelml.core.data import DataShape, Features
from accelml.core.learner import Config, FitFacts, register
from accelml.core.task import Task
from accelml.tabular.learners._common import FitContext, lib_seed, merge_config
from accelml.tabular.learners._sklearn import SklearnLearner, fit_pipeline

MAX_ITER = 1000


@register
class Linear(SklearnLearner):
    """Standardized numbers + one-hot categories into an L2-regularized linear model.

    The fit is one solver call bounded by ``MAX_ITER``; it cannot be interrupted, so the
    deadline is not checked (a fit takes well under a second on typical tables); ``valid``
    is not used.
    """

    name = "linear"
    relative_cost = 1.2
    fidelity = None

    def space(self, task: Task, shape: DataShape) -> Mapping[str, BaseDistribution]:
        """Only the regularization strength matters."""
        if task.kind.is_classification:
            return {"C": FloatDistribution(1e-4, 1e3, log=True)}
        return {"alpha": FloatDistribution(1e-3, 1e4, log=True)}

    def simplicity(self, config: Config) -> float | None:
        """Stronger regularization is simpler: smaller C, larger alpha."""
        if "C" in config:
            return -float(np.log(config["C"]))
        return float(np.log(config.get("alpha", 1.0)))

    def portfolio(self, task: Task, shape: DataShape) -> list[Config]:
        """Library default first, then stronger and weaker regularization."""
        if task.kind.is_classification:
            return [{"C": 1.0}, {"C": 0.1}, {"C": 10.0}]
        return [{"alpha": 1.0}, {"alpha": 10.0}, {"alpha": 0.1}]

    def _fit(self, features: Features, y: np.ndarray, config: Config,
             ctx: FitContext) -> tuple[Any, dict[str, Any], FitFacts]:
        from sklearn.linear_model import LogisticRegression, Ridge

        params = merge_config(self.defaults(ctx.task), config, self.name)
        if ctx.task.kind.is_classification:
            estimator = LogisticRegression(C=params["C"], max_iter=MAX_ITER,
                                           random_state=lib_seed(ctx.seed))
        else:
            estimator = Ridge(alpha=params["alpha"])
        return fit_pipeline(features, y, estimator, ctx.n_jobs), {}, FitFacts()
