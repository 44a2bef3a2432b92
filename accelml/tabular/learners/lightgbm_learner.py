"""LightGBM: the first learner the search tries; fast and strong on most tables.

Saved as LightGBM's own text model file; category codes go in as categorical features.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from accelml.core.budget import Deadline
from accelml.core.data import DataShape, Features
from accelml.core.learner import Config, Fidelity, FitFacts, Fitted, register
from accelml.core.task import Task
from accelml.tabular.learners._common import (
    EARLY_STOPPING_ROUNDS,
    FitContext,
    TabularLearner,
    by_kind,
    check_model_file,
    lib_seed,
    merge_config,
    n_rounds,
    predict_threads,
)

MODEL_FILE = "model.txt"
_BASE = {"feature_fraction": 1.0, "bagging_fraction": 1.0, "lambda_l1": 1e-8,
         "lambda_l2": 1e-8, "extra_trees": False}


class _Stopper:
    """Early stopping on ``valid`` and the deadline in one callback.

    LightGBM ends training on one EarlyStopException that carries the iteration to keep, so
    both reasons must agree on it: the best validation round, or the last round built.
    """

    order = 30
    before_iteration = False

    def __init__(self, deadline: Deadline, has_valid: bool) -> None:
        self.deadline, self.has_valid = deadline, has_valid
        self.best, self.best_iteration = np.inf, 0
        self.best_result: list[Any] = []
        self.deadline_hit = False

    def __call__(self, env: Any) -> None:
        from lightgbm.callback import EarlyStopException

        results = [r for r in env.evaluation_result_list if r[0] == "valid"]
        if results:
            score = -results[0][2] if results[0][3] else results[0][2]
            if score < self.best:
                self.best, self.best_iteration, self.best_result = score, env.iteration, results
        keep = self.best_iteration if self.has_valid else env.iteration
        patience_out = self.has_valid and env.iteration - keep >= EARLY_STOPPING_ROUNDS
        self.deadline_hit = self.deadline.expired()
        last = env.iteration == env.end_iteration - 1
        if patience_out or self.deadline_hit or last:
            raise EarlyStopException(keep, self.best_result)


def max_leaves(n_rows: int) -> int:
    """The largest tree the search may ask for: 256 leaves, and up to 4096 on large tables
    (a leaf per 16 rows), where deep leaf-wise trees are often the best model."""
    return max(256, min(4096, n_rows // 16))


@register
class LightGBM(TabularLearner):
    """Leaf-wise gradient boosting with native categorical splits."""

    name = "lightgbm"
    relative_cost = 1.0
    fidelity = Fidelity("n_estimators", 50, 2000)
    load_modules = ("lightgbm",)

    def space(self, task: Task, shape: DataShape) -> Mapping[str, BaseDistribution]:
        """Tree size (larger trees allowed on more rows), shrinkage, row/column sampling and
        regularization."""
        return {
            "learning_rate": FloatDistribution(0.005, 0.3, log=True),
            "num_leaves": IntDistribution(4, max_leaves(shape.n_rows), log=True),
            "min_data_in_leaf": IntDistribution(2, 100, log=True),
            "feature_fraction": FloatDistribution(0.3, 1.0),
            "bagging_fraction": FloatDistribution(0.5, 1.0),
            "lambda_l1": FloatDistribution(1e-8, 10.0, log=True),
            "lambda_l2": FloatDistribution(1e-8, 10.0, log=True),
            "extra_trees": CategoricalDistribution((False, True)),
        }

    def simplicity(self, config: Config) -> float | None:
        """Fewer leaves per tree is simpler."""
        return -float(config.get("num_leaves", 31))

    def portfolio(self, task: Task, shape: DataShape) -> list[Config]:
        """Library defaults, then AutoGluon-style extra-trees, large and regularized variants."""
        return [
            {**_BASE, "learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 20},
            {**_BASE, "learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 20,
             "feature_fraction": 0.75, "extra_trees": True},
            {**_BASE, "learning_rate": 0.03, "num_leaves": 128, "min_data_in_leaf": 3,
             "feature_fraction": 0.9},
            {**_BASE, "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 40,
             "feature_fraction": 0.7, "bagging_fraction": 0.8, "lambda_l2": 1.0},
        ]

    def _params(self, config: Config, ctx: FitContext) -> dict[str, Any]:
        params = merge_config(self.defaults(ctx.task), config, self.name)
        objective = by_kind(ctx.task, ctx.n_classes,
                                          ("binary", "multiclass", "regression"))
        metric = by_kind(ctx.task, ctx.n_classes,
                                       ("binary_logloss", "multi_logloss", "rmse"))
        params.update(objective=objective, metric=metric, seed=lib_seed(ctx.seed),
                      deterministic=True, force_row_wise=True, num_threads=ctx.n_jobs,
                      verbosity=-1, bagging_freq=1 if params["bagging_fraction"] < 1 else 0)
        if objective == "multiclass":
            params["num_class"] = ctx.n_classes
        return params

    def _fit(self, features: Features, y: np.ndarray, config: Config,
             ctx: FitContext) -> tuple[Any, dict[str, Any], FitFacts]:
        import lightgbm as lgb

        categorical: list[int] | Literal["auto"] = list(features.categorical) or "auto"
        train = lgb.Dataset(features.X, y, categorical_feature=categorical)
        valid_sets = []
        if ctx.valid is not None:
            valid_sets = [lgb.Dataset(ctx.valid[0].X, ctx.valid[1], reference=train,
                                      categorical_feature=categorical)]
        stopper = _Stopper(ctx.deadline, bool(valid_sets))
        booster = lgb.train(self._params(config, ctx), train,
                            num_boost_round=n_rounds(self.fidelity, ctx.fidelity, self.name),
                            valid_sets=valid_sets, valid_names=["valid"] * len(valid_sets),
                            callbacks=[stopper], keep_training_booster=True)
        booster.free_dataset()  # kept, not round-tripped through a string: O(trees) past deadline
        rounds = int(booster.best_iteration or booster.current_iteration())
        return (booster, {"n_estimators": rounds, "deadline_hit": stopper.deadline_hit},
                FitFacts(units_trained=rounds, refit_units=rounds))

    def _predict_raw(self, model: Any, info: dict[str, Any], features: Features) -> np.ndarray:
        return np.asarray(model.predict(features.X, num_iteration=info["n_estimators"],
                                        num_threads=predict_threads(info, len(features))))

    def _contributions(self, model: Any, info: dict[str, Any],
                       features: Features) -> np.ndarray:
        """LightGBM's own TreeSHAP (``pred_contrib``): per class, the columns then the
        base value."""
        raw = np.asarray(model.predict(features.X, num_iteration=info["n_estimators"],
                                       pred_contrib=True,
                                       num_threads=predict_threads(info, len(features))))
        width = features.X.shape[1] + 1
        return raw.reshape(len(features), -1, width).transpose(0, 2, 1)

    def to_onnx(self, fitted: Fitted, n_features: int) -> Any:
        """onnxmltools' LightGBM converter, probabilities as a plain tensor (no ZipMap)."""
        import onnxmltools

        from accelml.tabular.export import OPSET, float_input

        return onnxmltools.convert_lightgbm(fitted.model, initial_types=float_input(n_features),
                                            target_opset=OPSET, zipmap=False)

    def _save_model(self, model: Any, directory: Path) -> list[Path]:
        path = directory / MODEL_FILE
        model.save_model(path)
        return [path]

    def _load_model(self, directory: Path) -> Any:
        import lightgbm as lgb

        return lgb.Booster(model_file=check_model_file(directory / MODEL_FILE))
