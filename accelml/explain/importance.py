"""Permutation importance of a model's input columns on held-out rows: how much the
task's metric drops when one column's values are shuffled. It asks only the served model
for predictions, so it covers any blend or stacked model; scikit-learn does the shuffling
and repeats."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from accelml.core.metrics import get_metric
from accelml.core.predictor import Predictor
from accelml.explain.estimator import as_estimator
from accelml.explain.inputs import input_columns, labelled_rows


def permutation_importance(predictor: Predictor, data: pd.DataFrame, *, max_rows: int = 1000,
                           n_repeats: int = 5, seed: int = 0) -> pd.DataFrame:
    """One row per input column: ``feature``, ``importance`` (the mean drop of the task's
    metric when the column is shuffled; larger is more important, near 0 or below: the
    model does not rely on it) and ``std`` over the repeats, most important first.

    Args:
        data: labelled rows the model was not trained on (the target column included).
        max_rows: rows used (a random sample of more).

    Raises:
        ConfigError: the model's inputs are not table columns.
        SchemaError / TargetError: a training column or the target is missing.
    """
    from sklearn.inspection import permutation_importance as sklearn_importance

    frame, y = labelled_rows(predictor, data, max_rows, seed)
    columns = [spec["name"] for spec in input_columns(predictor)]
    metric = get_metric(predictor.task.metric)
    sign = 1.0 if metric.greater_is_better else -1.0

    def score(_: Any, X: pd.DataFrame, truth: np.ndarray) -> float:
        raw = predictor.blend(predictor._features(X))
        return sign * metric.score(truth, raw, predictor.task)

    found = sklearn_importance(as_estimator(predictor), frame[columns], y, scoring=score,
                               n_repeats=n_repeats, random_state=seed)
    table = pd.DataFrame({"feature": columns, "importance": found.importances_mean,
                          "std": found.importances_std})
    return table.sort_values("importance", ascending=False, kind="stable").reset_index(
        drop=True)
