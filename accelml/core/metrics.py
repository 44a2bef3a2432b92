"""Metric registry: each metric knows its direction and whether it needs probabilities.

Predictions follow one convention everywhere: a classifier's prediction is a probability matrix
(rows x classes, columns in encoded class order); a regressor's is a vector of values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import rankdata
from sklearn import metrics as skm

from accelml.core.task import Task, TaskKind
from accelml.errors import ConfigError

ScoreFn = Callable[[np.ndarray, np.ndarray, Task], float]

CLASSIFICATION = frozenset({TaskKind.BINARY, TaskKind.MULTICLASS})
REGRESSION = frozenset({TaskKind.REGRESSION})
RANKING = frozenset({TaskKind.RANKING})
FORECAST = frozenset({TaskKind.FORECAST})
#: The cut-off of ranking metrics named without one ("ndcg" is "ndcg@10").
DEFAULT_K = 10


@dataclass(frozen=True)
class Metric:
    """A named score with its direction.

    ``fn(y_true, prediction, task)`` receives encoded targets and the prediction in the
    convention above; it gets class labels instead of probabilities when ``needs_proba`` is
    False.
    """

    name: str
    fn: ScoreFn
    greater_is_better: bool
    needs_proba: bool
    task_kinds: frozenset[TaskKind]

    def score(self, y_true: np.ndarray, prediction: np.ndarray, task: Task) -> float:
        """The metric's value in its natural direction."""
        if task.kind.is_classification and not self.needs_proba:
            prediction = predicted_labels(prediction, task)
        return float(self.fn(y_true, prediction, task))

    def loss(self, y_true: np.ndarray, prediction: np.ndarray, task: Task) -> float:
        """A value to minimise: the score, negated when greater is better."""
        return self.as_loss(self.score(y_true, prediction, task))

    def as_loss(self, score: float) -> float:
        """A score of this metric as a value to minimise."""
        return -score if self.greater_is_better else score

    def check_task(self, kind: TaskKind) -> None:
        """Raise ConfigError if this metric does not apply to ``kind``."""
        if kind not in self.task_kinds:
            usable = sorted(m.name for m in METRICS.values() if kind in m.task_kinds)
            raise ConfigError(
                f"metric {self.name!r} does not apply to a {kind.value} task; "
                f"use one of {', '.join(usable)}"
            )


def predicted_labels(proba: np.ndarray, task: Task) -> np.ndarray:
    """Encoded labels from a probability matrix (argmax; binary uses a 0.5 threshold)."""
    return np.asarray(np.argmax(proba, axis=1), dtype=np.int64)


def _positive(task: Task) -> int:
    return task.positive_index if task.positive_index is not None else 1


def _average(task: Task, multiclass: str) -> dict[str, Any]:
    if task.kind is TaskKind.BINARY:
        return {"average": "binary", "pos_label": _positive(task)}
    return {"average": multiclass, "labels": list(range(task.n_classes)), "zero_division": 0}


def _f1(average: str | None) -> ScoreFn:
    """F1: of the positive class for binary tasks and macro for more classes (``None``), or
    averaged over every class as ``average`` says ("macro", "weighted")."""

    def fn(y: np.ndarray, p: np.ndarray, t: Task) -> float:
        kwargs = _average(t, "macro") if average is None else {
            "average": average, "labels": list(range(t.n_classes)), "zero_division": 0}
        return float(skm.f1_score(y, p, **kwargs))

    return fn


def _precision(average: str) -> ScoreFn:
    def fn(y: np.ndarray, p: np.ndarray, t: Task) -> float:
        return float(skm.precision_score(y, p, **{"zero_division": 0, **_average(t, average)}))

    return fn


def _recall(average: str) -> ScoreFn:
    def fn(y: np.ndarray, p: np.ndarray, t: Task) -> float:
        return float(skm.recall_score(y, p, **{"zero_division": 0, **_average(t, average)}))

    return fn


def binary_roc_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of ``score`` for the rows where ``positive`` is true: the Mann-Whitney
    statistic on average ranks, which equals the area under the ROC curve with ties counted
    half. scikit-learn's ``roc_auc_score`` gives the same value but validates its inputs at
    about 7 ms a call, which the blend's greedy selection paid 558 times in a 14 s run (4 s
    of it); this takes a few microseconds. Inputs it does not cover (one class only, values
    that are not finite) go to scikit-learn, for its error."""
    positive = np.asarray(positive, dtype=bool)
    score = np.asarray(score, dtype=np.float64)
    n_positive = int(positive.sum())
    n_negative = len(positive) - n_positive
    if n_positive == 0 or n_negative == 0 or not np.isfinite(score).all():
        return float(skm.roc_auc_score(positive, score))
    ranks = rankdata(score)  # average ranks: ties share theirs
    rank_sum = float(ranks[positive].sum())
    return (rank_sum - n_positive * (n_positive + 1) / 2.0) / (n_positive * n_negative)


def _roc_auc(y: np.ndarray, p: np.ndarray, t: Task) -> float:
    if t.kind is TaskKind.BINARY:
        return binary_roc_auc(y == _positive(t), p[:, _positive(t)])
    present = np.unique(y)
    if len(present) < t.n_classes:
        proba = p[:, present] / np.clip(p[:, present].sum(axis=1, keepdims=True), 1e-15, None)
        return float(skm.roc_auc_score(y, proba, multi_class="ovr", labels=present))
    return float(skm.roc_auc_score(y, p, multi_class="ovr", labels=list(range(t.n_classes))))


def _log_loss(y: np.ndarray, p: np.ndarray, t: Task) -> float:
    proba = np.clip(p, 1e-15, 1.0)
    proba = proba / proba.sum(axis=1, keepdims=True)
    return float(skm.log_loss(y, proba, labels=list(range(t.n_classes))))


def _rmse(y: np.ndarray, p: np.ndarray, t: Task) -> float:
    return float(np.sqrt(skm.mean_squared_error(y, p)))


def _plain(fn: Callable[..., Any]) -> ScoreFn:
    return lambda y, p, t: float(fn(y, p))


def _forecast(name: str, regression: ScoreFn | None = None) -> ScoreFn:
    """A forecast metric over a truth array (:mod:`accelml.core.forecasting`); for a
    regression task (a metric both kinds share) ``regression`` instead."""
    from accelml.core.forecasting import FORECAST_METRICS

    fn = FORECAST_METRICS[name]

    def score(y: np.ndarray, p: np.ndarray, t: Task) -> float:
        if t.kind is TaskKind.FORECAST:
            return fn(y, p)
        assert regression is not None
        return regression(y, p, t)

    return score


def _ranking_metric(name: str, k: int) -> Metric:
    """A full-ranking metric at ``k``: ``y`` is a truth matrix and the prediction a score
    matrix over the same candidates (:mod:`accelml.core.ranking`)."""
    from accelml.core.ranking import RANKING_METRICS

    fn = RANKING_METRICS[name]
    return Metric(f"{name}@{k}", lambda y, p, t: fn(y, p, k), True, False, RANKING)


_C, _R = CLASSIFICATION, REGRESSION
METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric("accuracy", _plain(skm.accuracy_score), True, False, _C),
        Metric("balanced_accuracy", _plain(skm.balanced_accuracy_score), True, False, _C),
        Metric("f1", _f1(None), True, False, _C),
        Metric("f1_macro", _f1("macro"), True, False, _C),
        Metric("f1_weighted", _f1("weighted"), True, False, _C),
        Metric("precision", _precision("macro"), True, False, _C),
        Metric("recall", _recall("macro"), True, False, _C),
        Metric("roc_auc", _roc_auc, True, True, _C),
        Metric("log_loss", _log_loss, False, True, _C),
        Metric("mse", _plain(skm.mean_squared_error), False, False, _R),
        Metric("rmse", _forecast("rmse", _rmse), False, False, _R | FORECAST),
        Metric("mae", _forecast("mae", _plain(skm.mean_absolute_error)), False, False,
               _R | FORECAST),
        Metric("r2", _plain(skm.r2_score), True, False, _R),
        *(_ranking_metric(name, DEFAULT_K)
          for name in ("ndcg", "recall", "precision", "map", "hit_rate")),
        *(Metric(name, _forecast(name), False, False, FORECAST)
          for name in ("mase", "smape", "mape")),
    ]
}


def get_metric(name: str) -> Metric:
    """Look a metric up by name; an unknown name is a ConfigError listing the close ones."""
    base, _, cut = name.partition("@")
    if name not in METRICS and cut.isdigit() and int(cut) > 0 and f"{base}@10" in METRICS:
        return _ranking_metric(base, int(cut))
    try:
        return METRICS[name]
    except KeyError:
        from accelml.core.validation import close_matches

        raise ConfigError(
            f"unknown metric {name!r}{close_matches(name, METRICS)}; known metrics: "
            f"{', '.join(sorted(METRICS))}"
        ) from None


def metrics_for(kind: TaskKind) -> list[Metric]:
    """Every registered metric that applies to ``kind``, in registry order."""
    return [m for m in METRICS.values() if kind in m.task_kinds
            and not (m.name == "f1_macro" and kind is TaskKind.MULTICLASS)]  # "f1" there


def report(y_true: np.ndarray, prediction: np.ndarray, task: Task) -> dict[str, float]:
    """All applicable metrics at once (for ``evaluate``); a metric that cannot be computed on
    these rows (e.g. ROC AUC with one class present) is left out."""
    out: dict[str, float] = {}
    for metric in metrics_for(task.kind):
        try:
            out[metric.name] = metric.score(y_true, prediction, task)
        except ValueError:
            continue
    return out
