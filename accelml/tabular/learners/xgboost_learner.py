"""XGBoost: depth-wise gradient boosting, a strong second opinion to LightGBM.

Category codes are marked as categorical features (``feature_types="c"``), so XGBoost splits
on sets of codes; the model is saved as UBJSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution

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

MODEL_FILE = "model.ubj"
#: xgboost.train ends with Booster.reset(), which costs about 20-30 us per tree; the deadline
#: callback stops early enough to leave that time (it matters on tiny data with many rounds).
FINALIZE_S_PER_TREE = 50e-6
_BASE = {"min_child_weight": 1.0, "subsample": 1.0, "colsample_bytree": 1.0,
         "reg_lambda": 1.0, "reg_alpha": 1e-8}


def _deadline_callback(deadline: Deadline, trees_per_round: int) -> Any:
    """A TrainingCallback that stops once the deadline, less the time to finalize, is near."""
    import xgboost as xgb

    class DeadlineCallback(xgb.callback.TrainingCallback):
        hit = False

        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            finalize_s = (epoch + 1) * trees_per_round * FINALIZE_S_PER_TREE
            self.hit = deadline.remaining() <= finalize_s
            return self.hit

    return DeadlineCallback()


def _matrix(features: Features, y: np.ndarray | None = None) -> Any:
    import xgboost as xgb

    types = ["c" if i in set(features.categorical) else "q" for i in range(features.X.shape[1])]
    return xgb.DMatrix(features.X, label=y, feature_types=types,
                       enable_categorical=bool(features.categorical))


@register
class XGBoost(TabularLearner):
    """Histogram gradient boosting with categorical splits."""

    name = "xgboost"
    relative_cost = 1.5
    fidelity = Fidelity("n_estimators", 50, 2000)
    load_modules = ("xgboost",)

    def space(self, task: Task, shape: DataShape) -> Mapping[str, BaseDistribution]:
        """Depth, shrinkage, row/column sampling and regularization."""
        return {
            "learning_rate": FloatDistribution(0.005, 0.3, log=True),
            "max_depth": IntDistribution(2, 12),
            "min_child_weight": FloatDistribution(0.01, 20.0, log=True),
            "subsample": FloatDistribution(0.5, 1.0),
            "colsample_bytree": FloatDistribution(0.3, 1.0),
            "reg_lambda": FloatDistribution(1e-3, 10.0, log=True),
            "reg_alpha": FloatDistribution(1e-8, 10.0, log=True),
        }

    def simplicity(self, config: Config) -> float | None:
        """Shallower trees are simpler."""
        return -float(config.get("max_depth", 6))

    def portfolio(self, task: Task, shape: DataShape) -> list[Config]:
        """A default with a gentler learning rate, then a deep and a shallow variant."""
        return [
            {**_BASE, "learning_rate": 0.1, "max_depth": 6},
            {**_BASE, "learning_rate": 0.05, "max_depth": 8, "subsample": 0.8,
             "colsample_bytree": 0.8},
            {**_BASE, "learning_rate": 0.05, "max_depth": 4, "min_child_weight": 5.0,
             "subsample": 0.9, "colsample_bytree": 0.7, "reg_lambda": 5.0},
        ]

    def _params(self, config: Config, ctx: FitContext) -> dict[str, Any]:
        params = merge_config(self.defaults(ctx.task), config, self.name)
        params.update(
            objective=by_kind(ctx.task, ctx.n_classes,
                              ("binary:logistic", "multi:softprob", "reg:squarederror")),
            eval_metric=by_kind(ctx.task, ctx.n_classes, ("logloss", "mlogloss", "rmse")),
            tree_method="hist", nthread=ctx.n_jobs, seed=lib_seed(ctx.seed), verbosity=0,
        )
        if params["objective"] == "multi:softprob":
            params["num_class"] = ctx.n_classes
        return params

    def _fit(self, features: Features, y: np.ndarray, config: Config,
             ctx: FitContext) -> tuple[Any, dict[str, Any], FitFacts]:
        import xgboost as xgb

        evals = [] if ctx.valid is None else [(_matrix(*ctx.valid), "valid")]
        trees_per_round = ctx.n_classes if ctx.n_classes > 2 else 1
        stop = _deadline_callback(ctx.deadline, trees_per_round)
        booster = xgb.train(
            self._params(config, ctx), _matrix(features, y),
            num_boost_round=n_rounds(self.fidelity, ctx.fidelity, self.name), evals=evals,
            early_stopping_rounds=EARLY_STOPPING_ROUNDS if evals else None,
            verbose_eval=False, callbacks=[stop],
        )
        rounds = int(booster.best_iteration + 1 if evals else booster.num_boosted_rounds())
        if rounds < booster.num_boosted_rounds():
            booster = booster[:rounds]  # keep only the rounds early stopping chose
        return (booster, {"n_estimators": rounds, "deadline_hit": stop.hit},
                FitFacts(units_trained=rounds, refit_units=rounds))

    def _predict_raw(self, model: Any, info: dict[str, Any], features: Features) -> np.ndarray:
        model.set_param({"nthread": predict_threads(info, len(features))})
        return np.asarray(model.inplace_predict(features.X))

    def _contributions(self, model: Any, info: dict[str, Any],
                       features: Features) -> np.ndarray:
        """XGBoost's own TreeSHAP (``pred_contribs``)."""
        model.set_param({"nthread": predict_threads(info, len(features))})
        raw = np.asarray(model.predict(_matrix(features), pred_contribs=True))
        if raw.ndim == 2:  # regression, binary: (rows, columns + 1)
            return raw[:, :, None]
        return raw.transpose(0, 2, 1)  # (rows, classes, columns + 1)

    def to_onnx(self, fitted: Fitted, n_features: int) -> Any:
        """onnxmltools' XGBoost converter."""
        import onnxmltools

        from accelml.tabular.export import OPSET, float_input

        return onnxmltools.convert_xgboost(fitted.model, initial_types=float_input(n_features),
                                           target_opset=OPSET)

    def _save_model(self, model: Any, directory: Path) -> list[Path]:
        path = directory / MODEL_FILE
        model.save_model(path)
        return [path]

    def _load_model(self, directory: Path) -> Any:
        import xgboost as xgb

        return xgb.Booster(model_file=check_model_file(directory / MODEL_FILE))
