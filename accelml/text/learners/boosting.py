"""LightGBM over text: sentence embeddings (when the run has them), the side columns and the
most frequent word n-grams. Trees find what linear models miss (interactions with the
table's columns, non-linear use of embeddings) and so add most to a blend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from accelml.core.data import DataShape, Features
from accelml.core.learner import Config, Fidelity, FitFacts, register
from accelml.core.task import Task
from accelml.tabular.learners._common import (
    FitContext,
    by_kind,
    check_model_file,
    lib_seed,
    n_rounds,
    predict_threads,
)
from accelml.tabular.learners.lightgbm_learner import _Stopper
from accelml.text.learners._base import TextLearner, transform

BOOSTER_FILE = "model.txt"


@register
class TextLightGBM(TextLearner):
    """Gradient-boosted trees over embeddings, side columns and capped word TF-IDF."""

    name = "text_lightgbm"
    relative_cost = 3.0
    fidelity = Fidelity("n_estimators", 50, 2000)
    load_modules = ("lightgbm",)

    def space(self, task: Task, shape: DataShape) -> dict[str, BaseDistribution]:
        space: dict[str, BaseDistribution] = {
            "word_ngrams": CategoricalDistribution([1, 2]),
            "char_ngrams": CategoricalDistribution(["none", "2-4"]),
            "min_df": CategoricalDistribution([2, 3, 5]),
            "max_features": CategoricalDistribution([2_000, 10_000, 30_000]),
            "sublinear_tf": CategoricalDistribution([True, False]),
            **self.own_space(task, shape),
        }
        if "embed" in shape.blocks:
            space["embed"] = CategoricalDistribution([True, False])
        return space

    def own_space(self, task: Task, shape: DataShape) -> dict[str, BaseDistribution]:
        return {"learning_rate": FloatDistribution(0.02, 0.3, log=True),
                "num_leaves": IntDistribution(4, 128, log=True),
                "min_data_in_leaf": IntDistribution(2, 100, log=True),
                "feature_fraction": FloatDistribution(0.1, 0.9),
                "lambda_l2": FloatDistribution(1e-8, 10.0, log=True)}

    def portfolio(self, task: Task, shape: DataShape) -> list[Config]:
        trees = {"learning_rate": 0.1, "num_leaves": 31, "min_data_in_leaf": 20,
                 "feature_fraction": 0.3, "lambda_l2": 1.0}
        words: Config = {"word_ngrams": 1, "char_ngrams": "none", "min_df": 3,
                         "max_features": 10_000, "sublinear_tf": True}
        if "embed" in shape.blocks:
            words["embed"] = True
        return [{**words, **trees}]

    def own_portfolio(self, task: Task) -> list[Config]:
        raise NotImplementedError  # portfolio is overridden

    def _fit(self, features: Features, y: np.ndarray, config: Config,
             ctx: FitContext) -> tuple[Any, dict[str, Any], FitFacts]:
        import lightgbm as lgb

        featurizer, own = self.split_config(config, ctx.task)
        X, arrays = self.featurize(features, featurizer)
        train = lgb.Dataset(X, y, params={"verbosity": -1})
        valid_sets = []
        if ctx.valid is not None:
            valid_sets = [lgb.Dataset(transform(arrays, ctx.valid[0]), ctx.valid[1],
                                      reference=train)]
        params = {**own, "objective": by_kind(ctx.task, ctx.n_classes,
                                              ("binary", "multiclass", "regression")),
                  "metric": by_kind(ctx.task, ctx.n_classes,
                                    ("binary_logloss", "multi_logloss", "rmse")),
                  "seed": lib_seed(ctx.seed), "deterministic": True, "num_threads": ctx.n_jobs,
                  "verbosity": -1}
        if ctx.n_classes > 2:
            params["num_class"] = ctx.n_classes
        stopper = _Stopper(ctx.deadline, bool(valid_sets))
        booster = lgb.train(params, train,
                            num_boost_round=n_rounds(self.fidelity, ctx.fidelity, self.name),
                            valid_sets=valid_sets, valid_names=["valid"] * len(valid_sets),
                            callbacks=[stopper], keep_training_booster=True)
        booster.free_dataset()
        rounds = int(booster.best_iteration or booster.current_iteration())
        return ({"booster": booster, "arrays": arrays},
                {"n_estimators": rounds, "deadline_hit": stopper.deadline_hit},
                FitFacts(units_trained=rounds, refit_units=rounds))

    def _predict_raw(self, model: Any, info: dict[str, Any], features: Features) -> np.ndarray:
        X = transform(model["arrays"], features)
        return np.asarray(model["booster"].predict(
            X, num_iteration=info["n_estimators"],
            num_threads=predict_threads(info, len(features))))

    def _save_model(self, model: Any, directory: Path) -> list[Path]:
        booster = directory / BOOSTER_FILE
        model["booster"].save_model(booster)
        return [booster, *super()._save_model(model["arrays"], directory)]

    def _load_model(self, directory: Path) -> Any:
        import lightgbm as lgb

        booster = lgb.Booster(model_file=check_model_file(directory / BOOSTER_FILE))
        return {"booster": booster, "arrays": super()._load_model(directory)}


