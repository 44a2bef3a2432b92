"""Greedy ensemble selection with replacement (Caruana et al., 2004) over out-of-fold
predictions: add, one round at a time, the model whose addition improves the blend most.

Selecting with replacement gives integer counts, i.e. weights, and keeps strong models from
being diluted by weak ones; the blend is kept only when it beats the best single model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from accelml.core.metrics import get_metric
from accelml.core.task import Task
from accelml.core.trial import TrialResult

ROUNDS = 40


def blend_loss(prediction: np.ndarray, y: np.ndarray, task: Task) -> float:
    """The task metric as a loss (negated when greater is better)."""
    metric = get_metric(task.metric)
    score = metric.score(y, prediction, task)
    return -score if metric.greater_is_better else score


def greedy_weights(predictions: Sequence[np.ndarray], y: np.ndarray, task: Task,
                   rounds: int = ROUNDS, first: int | None = None) -> np.ndarray:
    """Weights (summing to 1) of the best blend found; one-hot when no blend beats the best
    single model. ``predictions`` hold each model's predictions for the rows of ``y``;
    ``first`` starts the blend with that model (it is then in every blend)."""
    if not predictions:
        raise ValueError("greedy_weights needs at least one model's predictions")
    counts = np.zeros(len(predictions))
    total = np.zeros_like(predictions[0], dtype=np.float64)
    best_loss, best_counts = np.inf, counts.copy()
    if first is not None:
        counts[first], total = 1, total + predictions[first]
        best_loss, best_counts = blend_loss(total, y, task), counts.copy()
    for size in range(int(counts.sum()) + 1, rounds + 1):
        losses = [blend_loss((total + p) / size, y, task) for p in predictions]
        pick = int(np.argmin(losses))
        counts[pick] += 1
        total += predictions[pick]
        if losses[pick] < best_loss - 1e-12:
            best_loss, best_counts = losses[pick], counts.copy()
    weights: np.ndarray = best_counts / best_counts.sum()
    return weights


def distinct_candidates(ranked: Sequence[TrialResult], chosen: TrialResult,
                        size: int) -> list[TrialResult]:
    """The chosen trial then, best first, up to ``size`` trials in all with out-of-fold
    predictions and a kept model, one per config (its run highest up the rungs: ``ranked``
    puts it first)."""
    picked = [chosen]
    seen = {_identity(chosen)}
    for result in ranked:
        if len(picked) >= size:
            break
        identity = _identity(result)
        if identity in seen or result.oof_path is None or result.artifact_dir is None:
            continue
        seen.add(identity)
        picked.append(result)
    return picked


def _identity(result: TrialResult) -> str:
    return result.spec.learner + json.dumps(result.spec.config, sort_keys=True, default=str)


def select_ensemble(ranked: Sequence[TrialResult], chosen: TrialResult, y: np.ndarray,
                    task: Task, size: int) -> list[tuple[TrialResult, float]]:
    """Trials and weights of the blend to serve. ``chosen`` is in every blend (its final fit
    serves in its place, so its out-of-fold predictions understate it); it is served alone
    when no blend validates better. Rows some candidate has no
    out-of-fold prediction for are left out of the comparison."""
    candidates = distinct_candidates(ranked, chosen, size)
    if len(candidates) < 2 or chosen.oof_path is None:
        return [(chosen, 1.0)]
    predictions = [np.load(c.oof_path) for c in candidates]  # type: ignore[arg-type]
    covered = np.ones(len(y), dtype=bool)
    for p in predictions:
        covered &= ~np.isnan(p if p.ndim == 1 else p[:, 0])
    if covered.sum() < 2:
        return [(chosen, 1.0)]
    weights = greedy_weights([p[covered] for p in predictions], y[covered], task, first=0)
    kept = [(c, float(w)) for c, w in zip(candidates, weights, strict=True) if w > 0]
    return kept if len(kept) > 1 else [(chosen, 1.0)]
