"""CatBoost: symmetric trees with ordered target statistics for categories.

Often the best on data with many categorical columns. CatBoost rejects float category values,
so codes become integers with missing as ``-1``; the model is saved in CatBoost's .cbm format.
"""

from __future__ import annotations

import tempfile
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

MODEL_FILE = "model.cbm"
MISSING_CODE = -1


class _DeadlineCallback:
    """CatBoost's after_iteration hook: returning False ends training."""

    def __init__(self, deadline: Deadline) -> None:
        self.deadline, self.hit = deadline, False

    def after_iteration(self, info: Any) -> bool:
        self.hit = self.deadline.expired()
        return not self.hit


def _pool(features: Features, y: np.ndarray | None = None) -> Any:
    """A Pool whose categorical columns hold integer codes (what CatBoost accepts)."""
    import catboost
    import pandas as pd

    frame = pd.DataFrame(features.X, columns=[f"f{i}" for i in range(features.X.shape[1])])
    for i in features.categorical:
        codes = np.nan_to_num(features.X[:, i], nan=MISSING_CODE).astype(np.int64)
        frame[f"f{i}"] = codes
    return catboost.Pool(frame, label=y, cat_features=list(features.categorical))


@register
class CatBoost(TabularLearner):
    """Oblivious-tree gradient boosting with built-in categorical encoding."""

    name = "catboost"
    relative_cost = 3.0
    fidelity = Fidelity("n_estimators", 50, 2000)
    load_modules = ("catboost",)

    def space(self, task: Task, shape: DataShape) -> Mapping[str, BaseDistribution]:
        """Depth, shrinkage and the two regularizers that matter most."""
        return {
            "learning_rate": FloatDistribution(0.005, 0.3, log=True),
            "depth": IntDistribution(3, 8),
            "l2_leaf_reg": FloatDistribution(0.1, 30.0, log=True),
            "random_strength": FloatDistribution(0.01, 10.0, log=True),
        }

    def simplicity(self, config: Config) -> float | None:
        """Shallower trees are simpler."""
        return -float(config.get("depth", 6))

    def portfolio(self, task: Task, shape: DataShape) -> list[Config]:
        """CatBoost's defaults (fixed learning rate), then deeper-slower and shallower-faster."""
        return [
            {"learning_rate": 0.05, "depth": 6, "l2_leaf_reg": 3.0, "random_strength": 1.0},
            {"learning_rate": 0.03, "depth": 8, "l2_leaf_reg": 5.0, "random_strength": 1.0},
            {"learning_rate": 0.1, "depth": 4, "l2_leaf_reg": 1.0, "random_strength": 1.0},
        ]

    def _params(self, config: Config, ctx: FitContext) -> dict[str, Any]:
        params = merge_config(self.defaults(ctx.task), config, self.name)
        loss = by_kind(ctx.task, ctx.n_classes, ("Logloss", "MultiClass", "RMSE"))
        params.update(
            loss_function=loss, eval_metric=loss,
            iterations=n_rounds(self.fidelity, ctx.fidelity, self.name),
            random_seed=lib_seed(ctx.seed), thread_count=ctx.n_jobs,
            allow_writing_files=False, verbose=False,
        )
        if ctx.valid is not None:
            params.update(od_type="Iter", od_wait=EARLY_STOPPING_ROUNDS, use_best_model=True)
        return params

    def _fit(self, features: Features, y: np.ndarray, config: Config,
             ctx: FitContext) -> tuple[Any, dict[str, Any], FitFacts]:
        import catboost

        model = catboost.CatBoost(self._params(config, ctx))
        stop = _DeadlineCallback(ctx.deadline)
        eval_set = None if ctx.valid is None else _pool(*ctx.valid)
        model.fit(_pool(features, y), eval_set=eval_set, callbacks=[stop])
        rounds = int(model.tree_count_)
        return (model, {"n_estimators": rounds, "deadline_hit": stop.hit},
                FitFacts(units_trained=rounds, refit_units=rounds))

    def _predict_raw(self, model: Any, info: dict[str, Any], features: Features) -> np.ndarray:
        kind = "RawFormulaVal" if info["kind"] == "regression" else "Probability"
        return np.asarray(model.predict(_pool(features), prediction_type=kind,
                                        thread_count=predict_threads(info, len(features))))

    def _contributions(self, model: Any, info: dict[str, Any],
                       features: Features) -> np.ndarray:
        """CatBoost's own SHAP values (``ShapValues``)."""
        raw = np.asarray(model.get_feature_importance(
            _pool(features), type="ShapValues",
            thread_count=predict_threads(info, len(features))))
        if raw.ndim == 2:  # regression, binary: (rows, columns + 1)
            return raw[:, :, None]
        return raw.transpose(0, 2, 1)  # (rows, classes, columns + 1)

    def to_onnx(self, fitted: Fitted, n_features: int) -> Any:
        """CatBoost's own exporter (numeric features only: it refuses categorical ones),
        probabilities as a plain tensor (no ZipMap)."""
        import onnx

        from accelml.tabular.export import drop_zipmap

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.onnx"
            fitted.model.save_model(str(path), format="onnx")
            graph = onnx.load(str(path))
        return drop_zipmap(graph)

    def _save_model(self, model: Any, directory: Path) -> list[Path]:
        path = directory / MODEL_FILE
        model.save_model(str(path), format="cbm")
        return [path]

    def _load_model(self, directory: Path) -> Any:
        import catboost

        model = catboost.CatBoost()
        model.load_model(str(check_model_file(directory / MODEL_FILE)), format="cbm")
        return model
