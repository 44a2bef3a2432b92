"""Linear models over TF-IDF n-grams (and the side columns): logistic regression (ridge for
values), a linear SVM with sigmoid calibration, and SGD. The classics of text
classification: fast, strong on sentiment and topics, and exportable as n-gram graphs."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution

from accelml.core.data import DataShape, Features
from accelml.core.learner import Config, FitFacts, register
from accelml.core.task import Task, TaskKind
from accelml.tabular.learners._common import FitContext, lib_seed
from accelml.text.learners._base import TextLearner, ovr_proba, sigmoid, softmax, transform

CLASSIFY = frozenset({TaskKind.BINARY, TaskKind.MULTICLASS})
MAX_ITER = 1000


def _scores(model: dict[str, np.ndarray], features: Features) -> np.ndarray:
    X = transform(model, features)
    return np.asarray(X @ model["coef"].T) + model["intercept"]


@register
class TextLogistic(TextLearner):
    """Logistic regression (ridge for regression) over word and character TF-IDF."""

    name = "text_logreg"
    relative_cost = 1.0
    fidelity = None

    def own_space(self, task: Task, shape: DataShape) -> dict[str, BaseDistribution]:
        if task.kind.is_classification:
            return {"C": FloatDistribution(0.05, 100.0, log=True)}
        return {"alpha": FloatDistribution(1e-2, 1e3, log=True)}

    def own_portfolio(self, task: Task) -> list[Config]:
        if task.kind.is_classification:
            return [{"C": 4.0}, {"C": 1.0}, {"C": 16.0}]
        return [{"alpha": 1.0}, {"alpha": 10.0}]

    def _fit(self, features: Features, y: np.ndarray, config: Config,
             ctx: FitContext) -> tuple[Any, dict[str, Any], FitFacts]:
        from sklearn.linear_model import LogisticRegression, Ridge

        featurizer, own = self.split_config(config, ctx.task)
        X, arrays = self.featurize(features, featurizer)
        if ctx.task.kind.is_classification:
            model = LogisticRegression(C=own["C"], max_iter=MAX_ITER, solver="liblinear"
                                       if ctx.n_classes == 2 else "lbfgs",
                                       random_state=lib_seed(ctx.seed)).fit(X, y)
            coef, intercept = model.coef_, np.atleast_1d(model.intercept_)
        else:
            model = Ridge(alpha=own["alpha"], solver="sparse_cg").fit(X, y)
            coef, intercept = model.coef_.reshape(1, -1), np.atleast_1d(model.intercept_)
        arrays.update(coef=coef.astype(np.float32), intercept=intercept.astype(np.float64))
        return arrays, {"n_columns": int(X.shape[1])}, FitFacts()

    def _predict_raw(self, model: Any, info: dict[str, Any], features: Features) -> np.ndarray:
        scores = _scores(model, features)
        if info["kind"] == TaskKind.REGRESSION.value:
            return scores[:, 0]
        return sigmoid(scores[:, 0]) if scores.shape[1] == 1 else softmax(scores)


@register
class TextLinearSVM(TextLearner):
    """A linear SVM (squared hinge) whose margins are mapped to probabilities by a sigmoid
    fitted on 3-fold out-of-fold margins (Platt scaling)."""

    name = "text_svm"
    task_kinds = CLASSIFY
    relative_cost = 1.3
    fidelity = None

    def own_space(self, task: Task, shape: DataShape) -> dict[str, BaseDistribution]:
        return {"C": FloatDistribution(0.01, 10.0, log=True)}

    def own_portfolio(self, task: Task) -> list[Config]:
        return [{"C": 0.3}, {"C": 1.0}, {"C": 0.1}]

    def _fit(self, features: Features, y: np.ndarray, config: Config,
             ctx: FitContext) -> tuple[Any, dict[str, Any], FitFacts]:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import LinearSVC

        featurizer, own = self.split_config(config, ctx.task)
        X, arrays = self.featurize(features, featurizer)
        svm = LinearSVC(C=own["C"], max_iter=MAX_ITER, random_state=lib_seed(ctx.seed))
        folds = int(min(3, np.bincount(y).min()))
        if folds >= 2:
            calibrated = CalibratedClassifierCV(svm, method="sigmoid", cv=folds,
                                                ensemble=False).fit(X, y)
            inner = calibrated.calibrated_classifiers_[0]
            fitted, calibrators = inner.estimator, inner.calibrators
            slope = np.array([c.a_ for c in calibrators], dtype=np.float64)
            offset = np.array([c.b_ for c in calibrators], dtype=np.float64)
        else:  # too few rows of a class to calibrate on held-out margins
            fitted = svm.fit(X, y)
            width = 1 if ctx.n_classes == 2 else ctx.n_classes
            slope, offset = -np.ones(width), np.zeros(width)
        arrays.update(coef=fitted.coef_.astype(np.float32),
                      intercept=np.atleast_1d(fitted.intercept_).astype(np.float64),
                      slope=slope, offset=offset)
        return arrays, {"n_columns": int(X.shape[1])}, FitFacts()

    def _predict_raw(self, model: Any, info: dict[str, Any], features: Features) -> np.ndarray:
        margins = _scores(model, features)
        # scikit-learn's sigmoid calibration: p = 1 / (1 + exp(a * margin + b))
        calibrated = -(margins * model["slope"] + model["offset"])
        return ovr_proba(calibrated)


@register
class TextSGD(TextLearner):
    """Stochastic gradient descent over TF-IDF: log loss or modified Huber, L2 or elastic
    net; a few passes over the data, the cheapest learner on large corpora."""

    name = "text_sgd"
    relative_cost = 0.8
    fidelity = None

    def own_space(self, task: Task, shape: DataShape) -> dict[str, BaseDistribution]:
        space: dict[str, BaseDistribution] = {
            "alpha": FloatDistribution(1e-7, 1e-3, log=True),
            "penalty": CategoricalDistribution(["l2", "elasticnet"]),
        }
        if task.kind.is_classification:
            space["loss"] = CategoricalDistribution(["log_loss", "modified_huber"])
        return space

    def own_portfolio(self, task: Task) -> list[Config]:
        if task.kind.is_classification:
            return [{"alpha": 2e-5, "penalty": "l2", "loss": "modified_huber"},
                    {"alpha": 1e-5, "penalty": "l2", "loss": "log_loss"}]
        return [{"alpha": 1e-5, "penalty": "l2"}]

    def _fit(self, features: Features, y: np.ndarray, config: Config,
             ctx: FitContext) -> tuple[Any, dict[str, Any], FitFacts]:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import SGDClassifier, SGDRegressor

        featurizer, own = self.split_config(config, ctx.task)
        X, arrays = self.featurize(features, featurizer)
        common = {"alpha": own["alpha"], "penalty": own["penalty"], "max_iter": 30,
                  "tol": 1e-4, "random_state": lib_seed(ctx.seed)}
        with warnings.catch_warnings():  # a few passes are the point, not convergence
            warnings.simplefilter("ignore", ConvergenceWarning)
            if ctx.task.kind.is_classification:
                model: Any = SGDClassifier(loss=own["loss"], **common).fit(X, y)
            else:
                model = SGDRegressor(**common).fit(X, y)
        arrays.update(coef=np.atleast_2d(model.coef_).astype(np.float32),
                      intercept=np.atleast_1d(model.intercept_).astype(np.float64),
                      huber=np.array([own.get("loss") == "modified_huber"]))
        return arrays, {"n_columns": int(X.shape[1])}, FitFacts()

    def _predict_raw(self, model: Any, info: dict[str, Any], features: Features) -> np.ndarray:
        scores = _scores(model, features)
        if info["kind"] == TaskKind.REGRESSION.value:
            return scores[:, 0]
        if not bool(model["huber"][0]):
            return ovr_proba(scores)
        p = (np.clip(scores, -1, 1) + 1) / 2  # scikit-learn's modified Huber probabilities
        if p.shape[1] == 1:
            return p[:, 0]
        total = p.sum(axis=1, keepdims=True)
        flat = total[:, 0] == 0
        p[flat] = 1.0 / p.shape[1]
        return p / np.where(total == 0, 1.0, total)
