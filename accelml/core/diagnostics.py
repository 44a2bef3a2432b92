"""What the served model's own numbers say about it, computed as a run ends: how much
better it scores on its training rows than out of fold (overfitting), and, for
classifiers, how well the out-of-fold probabilities match what was observed (calibration).
Saved in the run record (``diagnostics``) for the report."""

from __future__ import annotations

import time
from typing import Any, Protocol

import numpy as np

from accelml.core.data import DatasetView, Features
from accelml.core.metrics import get_metric
from accelml.core.task import Task, TaskKind

#: Training rows the served model predicts for its training score (a sample, so large
#: tables cost no more than small ones).
TRAIN_SAMPLE = 2000
#: Rows predicted at a time, so the seconds allowed are checked between chunks.
CHUNK = 250
CALIBRATION_BINS = 10


class Blended(Protocol):
    """The Predictor's blend over encoded features (see ``Predictor.blend``)."""

    def blend(self, features: Features) -> np.ndarray: ...


def fit_diagnostics(predictor: Blended, view: DatasetView, out_of_fold: np.ndarray | None,
                    seconds: float, seed: int = 0) -> dict[str, Any] | None:
    """The training and out-of-fold scores of the served model, their gap and (classifiers)
    the calibration curve; None for tasks these do not apply to (ranking, forecasts), or
    when the blend has no out-of-fold predictions. The training score uses as many of up
    to :data:`TRAIN_SAMPLE` sampled rows as ``seconds`` allow."""
    task = view.task
    if task.kind in (TaskKind.RANKING, TaskKind.FORECAST) or out_of_fold is None:
        return None
    metric = get_metric(task.metric)
    scored = _scored_rows(out_of_fold)
    if scored.sum() < 2:
        return None
    validation = metric.score(view.y[scored], out_of_fold[scored], task)
    rows, predicted = _training_predictions(predictor, view, seconds, seed)
    result: dict[str, Any] = {"metric": task.metric, "validation_score": float(validation),
                              "out_of_fold": "the blend's weighted out-of-fold predictions",
                              "train_rows": len(rows)}
    if len(rows) >= 2:
        train = metric.score(view.y[rows], predicted, task)
        better = train - validation if metric.greater_is_better else validation - train
        result.update(train_score=float(train), gap=float(better))
    if task.kind.is_classification:
        result["calibration"] = calibration(view.y[scored], out_of_fold[scored], task)
    return result


def _scored_rows(out_of_fold: np.ndarray) -> np.ndarray:
    flat = out_of_fold.reshape(len(out_of_fold), -1)
    return np.asarray(np.isfinite(flat).all(axis=1))


def _training_predictions(predictor: Blended, view: DatasetView, seconds: float,
                          seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The served model's predictions of sampled training rows, chunk by chunk until
    ``seconds`` are spent."""
    n = len(view.y)
    order = np.random.default_rng(seed).permutation(n)[:TRAIN_SAMPLE]
    stop = time.monotonic() + seconds
    done: list[np.ndarray] = []
    parts: list[np.ndarray] = []
    for start in range(0, len(order), CHUNK):
        if time.monotonic() > stop:
            break
        rows = np.sort(order[start:start + CHUNK])
        parts.append(predictor.blend(view.features.take(rows)))
        done.append(rows)
    if not parts:
        return np.empty(0, dtype=np.int64), np.empty(0)
    return np.concatenate(done), np.concatenate(parts)


def calibration(y: np.ndarray, proba: np.ndarray, task: Task,
                bins: int = CALIBRATION_BINS) -> dict[str, Any]:
    """A reliability curve over equal-count bins: the mean predicted probability and the
    observed frequency per bin, with the rows in each. Binary tasks: the positive class;
    multiclass: the top class's probability against how often the top class was right."""
    y = np.asarray(y).astype(np.int64)
    if task.kind is TaskKind.BINARY:
        confidence, hit, what = proba[:, 1], (y == 1), f"P({task.classes[1]})"
    else:
        top = proba.argmax(axis=1)
        confidence, hit, what = proba.max(axis=1), (top == y), "top class"
    order = np.argsort(confidence, kind="stable")
    groups = [g for g in np.array_split(order, min(bins, len(order))) if len(g)]
    predicted = [float(confidence[g].mean()) for g in groups]
    observed = [float(hit[g].mean()) for g in groups]
    weights = np.array([len(g) for g in groups], dtype=np.float64)
    error = float(np.sum(weights * np.abs(np.array(predicted) - np.array(observed)))
                  / weights.sum())
    return {"of": what, "predicted": predicted, "observed": observed,
            "counts": [len(g) for g in groups], "expected_calibration_error": error}
