"""k-nearest neighbours on standardized features: a different inductive bias for the ensemble.

The saved model holds the training matrix and targets, not the search index: the index is
built again on load, so no index structure from a file is ever trusted (a crafted one could
send a query outside its arrays), and the file holds plain arrays only.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution

from accelml.core.data import DataShape, Features
from accelml.core.learner import Config, FitFacts, Fitted, OnnxUnavailable, register
from accelml.core.task import Task
from accelml.errors import ArtifactError
from accelml.tabular.learners._common import FitContext, merge_config
from accelml.tabular.learners._sklearn import (
    MODEL_FILE,
    SklearnLearner,
    dump_skops,
    fit_pipeline,
    load_skops,
)

#: How scikit-learn searches neighbours: a tree it builds from the training rows, or none.
FIT_METHODS = ("brute", "kd_tree", "ball_tree")


@register
class KNN(SklearnLearner):
    """Neighbours vote (classes) or average (values), optionally weighted by distance.

    Fitting only builds an index, so the deadline is not checked (the cost is at prediction);
    ``valid`` is not used.
    """

    name = "knn"
    relative_cost = 5.0
    fidelity = None

    def space(self, task: Task, shape: DataShape) -> Mapping[str, BaseDistribution]:
        """How many neighbours, and whether closer ones count more."""
        return {
            "n_neighbors": IntDistribution(1, 100, log=True),
            "weights": CategoricalDistribution(("uniform", "distance")),
        }

    def portfolio(self, task: Task, shape: DataShape) -> list[Config]:
        """Distance-weighted 10 neighbours first: smoother probabilities than the default 5."""
        return [
            {"n_neighbors": 10, "weights": "distance"},
            {"n_neighbors": 5, "weights": "uniform"},
            {"n_neighbors": 30, "weights": "distance"},
        ]

    def _fit(self, features: Features, y: np.ndarray, config: Config,
             ctx: FitContext) -> tuple[Any, dict[str, Any], FitFacts]:
        from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

        params = merge_config(self.defaults(ctx.task), config, self.name)
        params["n_neighbors"] = min(int(params["n_neighbors"]), len(features))
        estimator = (KNeighborsClassifier if ctx.task.kind.is_classification
                     else KNeighborsRegressor)(**params, n_jobs=ctx.n_jobs)
        return fit_pipeline(features, y, estimator, ctx.n_jobs), {}, FitFacts()

    def to_onnx(self, fitted: Fitted, n_features: int) -> Any:
        """Left out on purpose: the graph would not predict what the native model does."""
        raise OnnxUnavailable("in float32, ties between equally near neighbours break "
                              "differently from the native model")

    def _save_model(self, model: Any, directory: Path) -> list[Path]:
        return [dump_skops(without_index(model), directory / MODEL_FILE)]

    def _load_model(self, directory: Path) -> Any:
        return with_index(load_skops(directory / MODEL_FILE))


def without_index(model: Any) -> Any:
    """A copy of the pipeline whose neighbours model holds no search tree (arrays only)."""
    neighbours = copy.copy(model.steps[-1][1])
    neighbours._tree = None
    stripped = copy.copy(model)
    stripped.steps = [*model.steps[:-1], (model.steps[-1][0], neighbours)]
    return stripped


def with_index(model: Any) -> Any:
    """The loaded pipeline with its search tree built again from the stored training rows
    (the same rows and settings build the same tree, so predictions are unchanged)."""
    neighbours = model.steps[-1][1]
    rows, targets = neighbours._fit_X, neighbours._y
    method = getattr(neighbours, "_fit_method", None)
    if method not in FIT_METHODS or rows.shape[0] != len(targets):
        raise ArtifactError(
            f"the stored neighbours are inconsistent ({rows.shape[0]} rows, {len(targets)} "
            f"targets, search {method!r}); the model file is damaged: train it again")
    if method != "brute":
        neighbours.fit(rows, targets)
    return model
