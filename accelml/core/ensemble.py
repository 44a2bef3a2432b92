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
from accelml.core.ranking import TopN, score_lists
from accelml.core.task import Task, TaskKind
from accelml.core.trial import TrialResult

ROUNDS = 25
#: The search stops after this many rounds without a better blend.
PATIENCE = 6
#: Trials a blend is chosen from.
POOL = 16


def blend_loss(prediction: np.ndarray, y: np.ndarray, task: Task) -> float:
    """The task metric as a loss (negated when greater is better)."""
    return get_metric(task.metric).loss(y, prediction, task)


def greedy_weights(predictions: Sequence[np.ndarray], y: np.ndarray, task: Task,
                   rounds: int = ROUNDS, first: int | None = None,
                   costs: Sequence[float] | None = None,
                   capacity: float = np.inf) -> np.ndarray:
    """Weights (summing to 1) of the best blend found; one-hot when no blend beats the best
    single model. ``predictions`` hold each model's predictions for the rows of ``y``;
    ``first`` starts the blend with that model (it is then in every blend). With ``costs``
    (e.g. each model's prediction time), a model joins only while the blend's distinct
    members cost at most ``capacity`` in all; all weights are 0 when none fits."""
    if not predictions:
        raise ValueError("greedy_weights needs at least one model's predictions")
    price = np.zeros(len(predictions)) if costs is None else np.asarray(costs, dtype=float)
    counts = np.zeros(len(predictions))
    total = np.zeros_like(predictions[0], dtype=np.float64)
    best_loss, best_counts, best_size = np.inf, counts.copy(), 0
    if first is not None:
        counts[first], total = 1, total + predictions[first]
        best_loss, best_counts, best_size = blend_loss(total, y, task), counts.copy(), 1
    for size in range(int(counts.sum()) + 1, rounds + 1):
        spent = price[counts > 0].sum()
        fits = (counts > 0) | (spent + price <= capacity)
        if not fits.any():
            break
        losses = [blend_loss((total + p) / size, y, task) if ok else np.inf
                  for p, ok in zip(predictions, fits, strict=True)]
        pick = int(np.argmin(losses))
        counts[pick] += 1
        total += predictions[pick]
        if losses[pick] < best_loss - 1e-12:
            best_loss, best_counts, best_size = losses[pick], counts.copy(), size
        elif size - best_size >= PATIENCE:
            break
    weights: np.ndarray = best_counts / max(best_counts.sum(), 1.0)
    return weights


def covered_rows(predictions: Sequence[np.ndarray]) -> np.ndarray:
    """The rows every model has an out-of-fold prediction for (a holdout run validates only
    some rows; the rest are NaN)."""
    covered = np.ones(len(predictions[0]), dtype=bool)
    for p in predictions:
        covered &= ~np.isnan(p if p.ndim == 1 else p[:, 0])
    return covered


def candidate_pool(ranked: Sequence[TrialResult], chosen: TrialResult,
                   size: int = POOL) -> list[TrialResult]:
    """The trials a blend is chosen from: the chosen one, the best of every other learner
    (different model families err differently), then the best of the rest, up to ``size``;
    only trials with out-of-fold predictions, one per config (its run highest up the rungs:
    ``ranked`` puts it first)."""
    with_oof = [r for r in ranked if r.oof_path is not None]
    best_per_learner: dict[str, TrialResult] = {}
    for result in with_oof:
        best_per_learner.setdefault(result.spec.learner, result)
    picked: list[TrialResult] = []
    seen: set[str] = set()
    for result in [chosen, *best_per_learner.values(), *with_oof]:
        identity = _identity(result)
        if len(picked) >= size:
            break
        if identity not in seen:
            seen.add(identity)
            picked.append(result)
    return picked


def _identity(result: TrialResult) -> str:
    return result.spec.learner + json.dumps(result.spec.config, sort_keys=True, default=str)


def _blend(candidates: list[TrialResult], y: np.ndarray,
           task: Task) -> list[tuple[TrialResult, float]]:
    if task.kind is TaskKind.RANKING:
        return _blend_rankings(candidates, y, task)
    predictions = [np.load(c.oof_path) for c in candidates]  # type: ignore[arg-type]
    covered = covered_rows(predictions)
    if covered.sum() < 2:
        return [(candidates[0], 1.0)]
    weights = greedy_weights([p[covered] for p in predictions], y[covered], task, first=0)
    return [(c, float(w)) for c, w in zip(candidates, weights, strict=True) if w > 0]


def _blend_rankings(candidates: list[TrialResult], truth: np.ndarray,
                    task: Task) -> list[tuple[TrialResult, float]]:
    """Greedy selection over top-N lists aligned on the union of their candidates;
    ``truth`` holds the relevant validation pairs as (user, item) rows."""
    tops = [TopN.load(c.oof_path) for c in candidates]  # type: ignore[arg-type]
    relevance, matrices = score_lists(tops, truth[:, 0], truth[:, 1])
    weights = greedy_weights(matrices, relevance, task, first=0)
    return [(c, float(w)) for c, w in zip(candidates, weights, strict=True) if w > 0]


def select_ensemble(ranked: Sequence[TrialResult], chosen: TrialResult, y: np.ndarray,
                    task: Task, size: int) -> list[tuple[TrialResult, float]]:
    """Trials and weights of the blend to serve (for a ranking task ``y`` holds the
    relevant validation pairs as (user, item) rows), at most ``size`` distinct models, the
    chosen one first and the rest by weight. ``chosen`` is in every blend (its final fit
    serves in its place, so its out-of-fold predictions understate it); it is served alone
    when no blend validates better. Rows some candidate has no out-of-fold prediction for are
    left out of the comparison."""
    if size < 2 or chosen.oof_path is None:
        return [(chosen, 1.0)]
    candidates = candidate_pool(ranked, chosen)
    blend = _blend(candidates, y, task) if len(candidates) > 1 else [(chosen, 1.0)]
    if len(blend) > size:  # keep the heaviest and choose their weights again
        heaviest = sorted(blend[1:], key=lambda item: -item[1])[:size - 1]
        blend = _blend([chosen, *(c for c, _ in heaviest)], y, task)
    if len(blend) < 2:
        return [(chosen, 1.0)]
    return [blend[0], *sorted(blend[1:], key=lambda item: -item[1])]


#: Rows :func:`likely_members` chooses a blend on, at most (a forecast, not the choice).
LIKELY_ROWS = 2000


def likely_members(ranked: Sequence[TrialResult], y: np.ndarray, task: Task, size: int,
                   seed: int = 0) -> list[TrialResult] | None:
    """The trials other than the best that :func:`select_ensemble` would blend with it now,
    chosen on at most :data:`LIKELY_ROWS` of the validated rows (the search's time reserve
    prices their refits); None where that cannot be told (a ranking task, or too few rows)."""
    if task.kind is TaskKind.RANKING or not ranked or ranked[0].oof_path is None:
        return None
    if size < 2:
        return []
    candidates = candidate_pool(ranked, ranked[0])
    if len(candidates) < 2:
        return []
    predictions = [np.load(c.oof_path) for c in candidates]  # type: ignore[arg-type]
    rows = np.flatnonzero(covered_rows(predictions))
    if len(rows) < 2:
        return None
    if len(rows) > LIKELY_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(rows, LIKELY_ROWS, replace=False))
    weights = greedy_weights([p[rows] for p in predictions], y[rows], task, first=0)
    others = sorted((i for i in range(1, len(candidates)) if weights[i] > 0),
                    key=lambda i: -weights[i])
    return [candidates[i] for i in others[:size - 1]]


def select_within(blend: Sequence[tuple[TrialResult, float]], y: np.ndarray, task: Task,
                  costs: Sequence[float], capacity: float) -> list[tuple[TrialResult, float]]:
    """The blend chosen again among ``blend``'s trials so that its members' ``costs`` sum
    to at most ``capacity``: the first (chosen) trial starts it when it fits alone, else the
    best that fits. Empty when no trial fits alone, or when a trial has no out-of-fold
    predictions to choose by (then the caller keeps what fits by cost alone)."""
    candidates = [result for result, _ in blend]
    if any(c.oof_path is None for c in candidates) or task.kind is TaskKind.RANKING:
        return []
    predictions = [np.load(c.oof_path) for c in candidates]  # type: ignore[arg-type]
    covered = covered_rows(predictions)
    if covered.sum() < 2:
        return []
    first = 0 if costs[0] <= capacity else None
    weights = greedy_weights([p[covered] for p in predictions], y[covered], task, first=first,
                             costs=costs, capacity=capacity)
    return [(c, float(w)) for c, w in zip(candidates, weights, strict=True) if w > 0]
