"""A multilayer perceptron: standardized numbers and one-hot categories into ReLU layers.

Smooth where trees are stepwise, it errs differently from the boosted trees, which is what a
blend or a stacker needs; on small, dense, numeric tables it is often a strong model alone.
Trained epoch by epoch (``partial_fit``), so epochs are its fidelity for successive halving
and the deadline is checked between epochs.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from threadpoolctl import threadpool_limits

from accelml.core.data import DataShape, Features
from accelml.core.learner import Config, Fidelity, FitFacts, register
from accelml.core.task import Task
from accelml.tabular.learners._common import FitContext, lib_seed, merge_config, n_rounds
from accelml.tabular.learners._sklearn import SklearnLearner, make_preprocessor


@register
class MLP(SklearnLearner):
    """scikit-learn's MLP with Adam; regression targets are standardized for training and
    the output layer scaled back, so the saved model predicts in the target's units."""

    name = "mlp"
    superseded_by = "torch_mlp"  # searched only without torch, or when named
    relative_cost = 6.0
    fidelity = Fidelity("epochs", 8, 96)

    def space(self, task: Task, shape: DataShape) -> Mapping[str, BaseDistribution]:
        """Depth, width, L2 strength, step size and batch size."""
        return {
            "layers": IntDistribution(1, 3),
            "width": IntDistribution(32, 512, log=True),
            "alpha": FloatDistribution(1e-6, 1e-1, log=True),
            "learning_rate": FloatDistribution(3e-4, 1e-2, log=True),
            "batch_size": CategoricalDistribution((64, 128, 256, 512)),
        }

    def portfolio(self, task: Task, shape: DataShape) -> list[Config]:
        """A two-layer default, then a wide shallow net and a regularized deep one."""
        return [
            {"layers": 2, "width": 128, "alpha": 1e-4, "learning_rate": 1e-3, "batch_size": 128},
            {"layers": 1, "width": 512, "alpha": 1e-3, "learning_rate": 2e-3, "batch_size": 256},
            {"layers": 3, "width": 256, "alpha": 1e-2, "learning_rate": 1e-3, "batch_size": 128},
        ]

    def _fit(self, features: Features, y: np.ndarray, config: Config,
             ctx: FitContext) -> tuple[Any, dict[str, Any], FitFacts]:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier, MLPRegressor
        from sklearn.pipeline import Pipeline

        params = merge_config(self.defaults(ctx.task), config, self.name)
        classify = ctx.task.kind.is_classification
        estimator = (MLPClassifier if classify else MLPRegressor)(
            hidden_layer_sizes=(int(params["width"]),) * int(params["layers"]),
            alpha=float(params["alpha"]), learning_rate_init=float(params["learning_rate"]),
            batch_size=min(int(params["batch_size"]), len(y)),  # sklearn warns past n rows
            random_state=lib_seed(ctx.seed))
        epochs = n_rounds(self.fidelity, ctx.fidelity, self.name)
        with threadpool_limits(ctx.n_jobs), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            prepare = make_preprocessor(features).fit(features.X)
            X = prepare.transform(features.X)
            mean, scale = (0.0, 1.0) if classify else (float(y.mean()), float(y.std()) or 1.0)
            target = y if classify else (y - mean) / scale
            done = _train(estimator, X, target, epochs, ctx, classify)
        if not classify:  # fold the target's scale into the (linear) output layer
            estimator.coefs_[-1] *= scale
            estimator.intercepts_[-1] = estimator.intercepts_[-1] * scale + mean
        model = Pipeline([("prepare", prepare), ("model", estimator)])
        return (model, {"epochs": done, "epochs_done": done, "deadline_hit": done < epochs},
                FitFacts(units_trained=done))


def _train(estimator: Any, X: Any, y: np.ndarray, epochs: int, ctx: FitContext,
           classify: bool) -> int:
    """Run up to ``epochs`` passes, stopping before one that would pass the deadline (the
    first always runs, so a late start still gives a model); returns the passes made."""
    classes = np.arange(ctx.n_classes) if classify else None
    for done in range(epochs):
        started = time.monotonic()
        if classify:
            estimator.partial_fit(X, y, classes=classes)
        else:
            estimator.partial_fit(X, y)
        if ctx.deadline.remaining() < time.monotonic() - started:
            return done + 1
    return epochs
