"""How much of a difference in validation score is noise, and the simpler config preferred
within it.

On a few hundred rows a cross-validated mean is decided by a handful of rows: a logistic
regression with almost no regularization can validate best by a hair because it is very sure
of the rows it gets right, and then be as sure, and wrong, on a row unlike them. The
difference between two trials is judged on the same rows (their out-of-fold predictions,
paired), with its standard error from a bootstrap over those rows; a config of the best
trial's learner that validates within that error and is simpler (the learner's
:meth:`~accelml.core.learner.LearnerBase.simplicity`) is served in its place."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from accelml.core.ensemble import covered_rows
from accelml.core.learner import capabilities, get_learner
from accelml.core.task import Task, TaskKind
from accelml.core.trial import TrialResult

#: Bootstrap resamples of the validated rows for the standard error of a difference: for
#: metrics that are means over rows (resampled at once), and for the others (each resample
#: computed twice, about a millisecond each).
BOOTSTRAPS = 50
SLOW_BOOTSTRAPS = 20
#: Simpler trials of the best trial's learner compared with it, at most (the best ranked of
#: them; the simplest of these first).
CHALLENGERS = 6
#: Seconds the comparisons may take in all (a metric that is not a mean over rows, such as
#: ROC AUC, is computed twice per resample).
COMPARE_S = 0.2
#: A difference within this many standard errors is noise.
NOISE_ERRORS = 1.0
#: Rows a gain is judged on, at most (a bootstrap of a larger table costs memory and time;
#: the standard error found on these rows is scaled to all of them).
GAIN_ROWS = 20_000


def _row_losses(metric: str, y: np.ndarray, prediction: np.ndarray
                ) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]] | None:
    """Per-row losses and how their means make the metric's loss (so resamples are means
    over rows, computed at once), for the metrics that are means over rows; else None."""
    if metric == "log_loss":
        proba = np.clip(prediction, 1e-15, 1.0)
        proba = proba / proba.sum(axis=1, keepdims=True)
        return -np.log(proba[np.arange(len(y)), y.astype(int)]), lambda mean: mean
    if metric in ("mse", "rmse", "mae"):
        error = np.asarray(prediction, dtype=np.float64).reshape(len(y)) - y
        if metric == "mae":
            return np.abs(error), lambda mean: mean
        return error**2, (np.sqrt if metric == "rmse" else (lambda mean: mean))
    return None


def paired_gap(loss: Callable[[np.ndarray, np.ndarray], float], y: np.ndarray,
               best: np.ndarray, other: np.ndarray, seed: int = 0,
               metric: str | None = None) -> tuple[float, float]:
    """How much worse ``other``'s predictions are than ``best``'s on the rows of ``y`` (the
    metric as a loss), and the bootstrap standard error of that difference. ``metric``
    names the metric, for the fast path of those that are means over rows."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(y), (BOOTSTRAPS, len(y)))
    fast = [_row_losses(metric, y, p) for p in (best, other)] if metric else [None]
    if fast[0] is not None and fast[-1] is not None:
        (best_rows, finish), (other_rows, _) = fast  # type: ignore[misc]
        gap = finish(other_rows.mean()) - finish(best_rows.mean())
        resampled = finish(other_rows[draws].mean(axis=1)) - finish(best_rows[draws].mean(axis=1))
        return float(gap), float(np.std(resampled))
    gap = loss(y, other) - loss(y, best)
    resampled = [loss(y[rows], other[rows]) - loss(y[rows], best[rows])
                 for rows in draws[:SLOW_BOOTSTRAPS]]
    return float(gap), float(np.std(resampled))


def prefer_simpler(ranked: Sequence[TrialResult], y: np.ndarray,
                   loss: Callable[[np.ndarray, np.ndarray], float], task: Task,
                   seed: int = 0, limit_s: float | None = COMPARE_S
                   ) -> tuple[list[TrialResult], dict[str, Any] | None]:
    """``ranked`` with, first, the simplest config of the best trial's learner whose
    out-of-fold loss is within noise of the best's (itself when none is, or the learner has
    no order of simplicity); and the record of the swap (None when there was none), whose
    ``passed_over`` lists the less simple trials of that learner ranked above the one served
    (left out of the blend too, or the blend would take them back in). The comparisons stop
    after ``limit_s`` seconds (None: never, for runs whose models may not depend on the
    clock)."""
    if not ranked or ranked[0].oof_path is None or task.kind is TaskKind.RANKING:
        return list(ranked), None
    best = ranked[0]
    learner = capabilities(get_learner(best.spec.learner))
    own_simplicity = learner.simplicity(best.spec.config)
    if own_simplicity is None:
        return list(ranked), None
    rivals = [r for r in ranked[1:] if r.spec.learner == best.spec.learner
              and r.oof_path is not None]
    simpler = [(s, r) for r in rivals
               if (s := learner.simplicity(r.spec.config)) is not None and s > own_simplicity]
    if not simpler:
        return list(ranked), None
    best_oof = np.load(best.oof_path)  # type: ignore[arg-type]
    chosen, record = best, None
    started = time.monotonic()
    for simplicity, rival in sorted(simpler[:CHALLENGERS], key=lambda item: -item[0]):
        if limit_s is not None and time.monotonic() - started > limit_s:
            break
        rival_oof = np.load(rival.oof_path)  # type: ignore[arg-type]
        rows = covered_rows([best_oof, rival_oof])
        if rows.sum() < 2:
            continue
        try:
            gap, error = paired_gap(loss, y[rows], best_oof[rows], rival_oof[rows], seed,
                                    task.metric)
        except ValueError:  # a resample the metric cannot score (e.g. one class for AUC)
            continue
        if gap <= NOISE_ERRORS * error:
            chosen = rival
            above = ranked[:list(ranked).index(rival)]
            passed = [r.spec.trial_id for r in above if r.spec.learner == best.spec.learner
                      and (learner.simplicity(r.spec.config) or -np.inf) < simplicity]
            record = {"best_trial": best.spec.trial_id, "served_trial": rival.spec.trial_id,
                      "loss_gap": round(gap, 6), "standard_error": round(error, 6),
                      "rows": int(rows.sum()), "passed_over": passed}
            break
    if chosen is best:
        return list(ranked), None
    return [chosen, *(r for r in ranked if r is not chosen)], record


def gain_judge(y: np.ndarray, loss: Callable[[np.ndarray, np.ndarray], float], task: Task,
               seed: int = 0) -> Callable[[TrialResult, TrialResult], bool]:
    """Whether a trial's lower loss than an earlier one's is more than noise: their
    out-of-fold predictions compared on the same rows (:func:`paired_gap`, on at most
    :data:`GAIN_ROWS` of them), the gain over :data:`NOISE_ERRORS` standard errors. Any
    lower loss counts where the two cannot be compared so (no out-of-fold predictions, or
    a resample the metric cannot score). Not for ranking or forecast tasks, whose ``y`` is
    not one target per out-of-fold row."""
    def beyond_noise(earlier: TrialResult, later: TrialResult) -> bool:
        if earlier.oof_path is None or later.oof_path is None:
            return True
        try:
            first, second = np.load(earlier.oof_path), np.load(later.oof_path)
        except (OSError, ValueError):
            return True
        if len(first) != len(y) or len(second) != len(y):
            return True
        rows = np.flatnonzero(covered_rows([first, second]))
        if len(rows) < 2:
            return True
        scale = 1.0
        if len(rows) > GAIN_ROWS:
            scale = float(np.sqrt(GAIN_ROWS / len(rows)))
            rows = np.sort(np.random.default_rng(seed).choice(rows, GAIN_ROWS, replace=False))
        try:
            gap, error = paired_gap(loss, y[rows], second[rows], first[rows], seed,
                                    task.metric)
        except ValueError:
            return True
        return gap > NOISE_ERRORS * error * scale
    return beyond_noise
