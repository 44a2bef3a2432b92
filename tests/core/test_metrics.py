"""Metric registry: direction, probabilities, positive class, every named metric."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from accelml.core.metrics import METRICS, binary_roc_auc, get_metric, metrics_for, report
from accelml.core.task import Task, TaskKind

BINARY = Task(TaskKind.BINARY, "y", "roc_auc", ("no", "yes"), 1)
MULTI = Task(TaskKind.MULTICLASS, "y", "log_loss", ("a", "b", "c"), None)
REG = Task(TaskKind.REGRESSION, "y", "rmse")


def test_registry_covers_the_metrics_users_ask_for() -> None:
    expected = {"accuracy", "balanced_accuracy", "f1", "f1_macro", "f1_weighted", "precision",
                "recall", "roc_auc", "log_loss", "mse", "rmse", "mae", "r2"}
    assert expected <= set(METRICS)
    assert get_metric("log_loss").needs_proba and not get_metric("log_loss").greater_is_better
    assert get_metric("accuracy").greater_is_better and not get_metric("accuracy").needs_proba


def test_binary_metrics_score_the_positive_class() -> None:
    y = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.45, 0.55]])
    assert get_metric("roc_auc").score(y, proba, BINARY) == 1.0
    assert get_metric("accuracy").score(y, proba, BINARY) == 1.0
    flipped = Task(TaskKind.BINARY, "y", "roc_auc", ("no", "yes"), 0)
    assert get_metric("roc_auc").score(y, proba, flipped) == 1.0  # AUC of "no" on its proba
    assert get_metric("recall").score(np.array([1, 1, 0]), np.array(
        [[0.2, 0.8], [0.7, 0.3], [0.9, 0.1]]), BINARY) == 0.5


def test_multiclass_and_regression_values() -> None:
    y = np.array([0, 1, 2])
    proba = np.eye(3) * 0.8 + 0.2 / 3
    assert get_metric("accuracy").score(y, proba, MULTI) == 1.0
    assert get_metric("log_loss").score(y, proba, MULTI) == pytest.approx(-np.log(0.8 + 0.2 / 3))
    assert get_metric("rmse").score(np.array([1.0, 3.0]), np.array([2.0, 2.0]), REG) == 1.0
    assert get_metric("mae").loss(np.array([1.0, 3.0]), np.array([2.0, 2.0]), REG) == 1.0
    assert get_metric("r2").loss(np.array([1.0, 3.0]), np.array([1.0, 3.0]), REG) == -1.0


def test_report_lists_every_applicable_metric() -> None:
    y = np.array([0, 1, 2, 1])
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.3, 0.4, 0.3]])
    scores = report(y, proba, MULTI)
    assert {m.name for m in metrics_for(TaskKind.MULTICLASS)} == set(scores)
    assert "rmse" in report(np.array([1.0, 2.0]), np.array([1.5, 2.5]), REG)


@pytest.mark.parametrize("decimals", [None, 1, 0])  # no ties, some, mostly ties
def test_the_fast_binary_auc_equals_scikit_learns(decimals: int | None) -> None:
    rng = np.random.default_rng(7)
    for rows in (3, 40, 500):
        positive = np.arange(rows) % 3 == 0
        score = rng.normal(size=rows) + positive
        if decimals is not None:
            score = np.round(score, decimals)
        assert binary_roc_auc(positive, score) == pytest.approx(
            roc_auc_score(positive, score), abs=1e-12)


def test_the_fast_binary_auc_leaves_what_it_does_not_cover_to_scikit_learn() -> None:
    with pytest.raises(ValueError, match="NaN"):
        binary_roc_auc(np.array([True, False]), np.array([0.2, np.nan]))
