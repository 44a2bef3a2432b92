"""Naive-Bayes-flavoured text classifiers: complement naive Bayes over TF-IDF, and NB-SVM
(Wang & Manning, 2012): a logistic regression over binarized n-grams scaled by their
log-count ratio between classes, strong on short sentiment texts."""

from __future__ import annotations

from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution
from scipy import sparse

from accelml.core.data import DataShape, Features
from accelml.core.learner import Config, FitFacts, register
from accelml.core.task import Task, TaskKind
from accelml.tabular.learners._common import FitContext, lib_seed
from accelml.text.learners._base import TextLearner, ovr_proba, softmax, transform

CLASSIFY = frozenset({TaskKind.BINARY, TaskKind.MULTICLASS})


@register
class TextNaiveBayes(TextLearner):
    """Complement naive Bayes over TF-IDF; its raw scores are sharpened or softened by a
    temperature fitted on the training rows' log loss (naive Bayes is overconfident)."""

    name = "text_nb"
    task_kinds = CLASSIFY
    reads_embeddings = False
    relative_cost = 0.6
    fidelity = None

    def own_space(self, task: Task, shape: DataShape) -> dict[str, BaseDistribution]:
        return {"alpha": FloatDistribution(0.01, 3.0, log=True),
                "norm": CategoricalDistribution([False, True])}

    def own_portfolio(self, task: Task) -> list[Config]:
        return [{"alpha": 0.3, "norm": False}, {"alpha": 1.0, "norm": False}]

    def _fit(self, features: Features, y: np.ndarray, config: Config,
             ctx: FitContext) -> tuple[Any, dict[str, Any], FitFacts]:
        from sklearn.naive_bayes import ComplementNB

        featurizer, own = self.split_config(config, ctx.task)
        X, arrays = self.featurize(features, featurizer)
        X = _non_negative(X)
        model = ComplementNB(alpha=own["alpha"], norm=own["norm"]).fit(X, y)
        weights = model.feature_log_prob_.astype(np.float64)
        arrays.update(coef=weights, intercept=np.zeros(len(weights)),
                      temperature=np.array([_temperature(np.asarray(X @ weights.T), y)]))
        return arrays, {"n_columns": int(X.shape[1])}, FitFacts()

    def _predict_raw(self, model: Any, info: dict[str, Any], features: Features) -> np.ndarray:
        X = _non_negative(transform(model, features))
        return softmax(np.asarray(X @ model["coef"].T) / model["temperature"][0])


def _non_negative(X: sparse.csr_matrix) -> sparse.csr_matrix:
    """The design matrix without negative entries (standardised side columns clipped)."""
    X = X.tocsr(copy=True)
    np.maximum(X.data, 0, out=X.data)
    return X


def _temperature(scores: np.ndarray, y: np.ndarray) -> float:
    """The divisor of the scores that minimises the log loss on these rows."""
    best, best_loss = 1.0, np.inf
    for temperature in np.geomspace(0.01, 100, 41):
        p = softmax(scores / temperature)
        loss = -np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-15, 1)))
        if loss < best_loss:
            best, best_loss = float(temperature), loss
    return best


@register
class NBSVM(TextLearner):
    """NB-SVM: per class, binarized word (and character) n-grams scaled by the log-count
    ratio r = log((p / |p|) / (q / |q|)), then a logistic regression; one-vs-rest for more
    than two classes."""

    name = "nbsvm"
    task_kinds = CLASSIFY
    reads_embeddings = False
    relative_cost = 1.1
    fidelity = None

    def own_space(self, task: Task, shape: DataShape) -> dict[str, BaseDistribution]:
        return {"C": FloatDistribution(0.01, 30.0, log=True),
                "smoothing": FloatDistribution(0.1, 3.0, log=True)}

    def own_portfolio(self, task: Task) -> list[Config]:
        return [{"C": 1.0, "smoothing": 1.0}, {"C": 4.0, "smoothing": 1.0}]

    def portfolio(self, task: Task, shape: DataShape) -> list[Config]:
        configs = super().portfolio(task, shape)
        return [{**c, "char_ngrams": "none", "word_ngrams": 3, "min_df": 1} if i == 0 else c
                for i, c in enumerate(configs)]

    def _fit(self, features: Features, y: np.ndarray, config: Config,
             ctx: FitContext) -> tuple[Any, dict[str, Any], FitFacts]:
        from sklearn.linear_model import LogisticRegression

        featurizer, own = self.split_config(config, ctx.task)
        X, arrays = self.featurize(features, featurizer)
        binary = _binarized(X)
        classes = [1] if ctx.n_classes == 2 else list(range(ctx.n_classes))
        ratios, coefs, intercepts = [], [], []
        for label in classes:
            positive = y == label
            p = np.asarray(binary[positive].sum(axis=0)).ravel() + own["smoothing"]
            q = np.asarray(binary[~positive].sum(axis=0)).ravel() + own["smoothing"]
            ratio = np.log((p / p.sum()) / (q / q.sum()))
            model = LogisticRegression(C=own["C"], max_iter=1000, solver="liblinear",
                                       random_state=lib_seed(ctx.seed))
            model.fit(binary.multiply(ratio[None, :]).tocsr(), positive.astype(int))
            ratios.append(ratio)
            coefs.append(model.coef_[0])
            intercepts.append(model.intercept_[0])
        arrays.update(ratio=np.array(ratios, dtype=np.float32),
                      coef=np.array(coefs, dtype=np.float32),
                      intercept=np.array(intercepts, dtype=np.float64))
        return arrays, {"n_columns": int(X.shape[1])}, FitFacts()

    def _predict_raw(self, model: Any, info: dict[str, Any], features: Features) -> np.ndarray:
        binary = _binarized(transform(model, features))
        scaled = model["ratio"] * model["coef"]  # (X * r) @ w == X @ (r * w)
        return ovr_proba(np.asarray(binary @ scaled.T) + model["intercept"])


def _binarized(X: sparse.csr_matrix) -> sparse.csr_matrix:
    """1 where an n-gram occurs (its TF-IDF weight is positive), else 0."""
    X = X.tocsr(copy=True)
    X.data = (X.data > 0).astype(np.float32)
    X.eliminate_zeros()
    return X

