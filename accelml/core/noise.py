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

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from accelml.core.ensemble import covered_rows
from accelml.core.learner import capabilities, get_learner
from accelml.core.task import Task, TaskKind
from accelml.core.trial import TrialResult

#: Bootstrap resamples of the validated rows for the standard error of a difference.
BOOTSTRAPS = 50
#: Trials of the best trial's learner compared with it, best first.
CHALLENGERS = 8
#: A difference within this many standard errors is noise.
NOISE_ERRORS = 1.0


def paired_gap(loss: Callable[[np.ndarray, np.ndarray], float], y: np.ndarray,
               best: np.ndarray, other: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """How much worse ``other``'s predictions are than ``best``'s on the rows of ``y`` (the
    metric as a loss), and the bootstrap standard error of that difference."""
    gap = loss(y, other) - loss(y, best)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(BOOTSTRAPS):
        rows = rng.integers(0, len(y), len(y))
        draws.append(loss(y[rows], other[rows]) - loss(y[rows], best[rows]))
    return float(gap), float(np.std(draws))


def prefer_simpler(ranked: Sequence[TrialResult], y: np.ndarray,
                   loss: Callable[[np.ndarray, np.ndarray], float], task: Task,
                   seed: int = 0) -> tuple[list[TrialResult], dict[str, Any] | None]:
    """``ranked`` with, first, the simplest config of the best trial's learner whose
    out-of-fold loss is within noise of the best's (itself when none is, or the learner has
    no order of simplicity); and the record of the swap (None when there was none), whose
    ``passed_over`` lists the less simple trials of that learner ranked above the one served
    (left out of the blend too, or the blend would take them back in)."""
    if not ranked or ranked[0].oof_path is None or task.kind is TaskKind.RANKING:
        return list(ranked), None
    best = ranked[0]
    learner = capabilities(get_learner(best.spec.learner))
    own_simplicity = learner.simplicity(best.spec.config)
    if own_simplicity is None:
        return list(ranked), None
    rivals = [r for r in ranked[1:] if r.spec.learner == best.spec.learner
              and r.oof_path is not None][:CHALLENGERS]
    simpler = [(s, r) for r in rivals
               if (s := learner.simplicity(r.spec.config)) is not None and s > own_simplicity]
    if not simpler:
        return list(ranked), None
    best_oof = np.load(best.oof_path)  # type: ignore[arg-type]
    chosen, record = best, None
    for simplicity, rival in sorted(simpler, key=lambda item: -item[0]):
        rival_oof = np.load(rival.oof_path)  # type: ignore[arg-type]
        rows = covered_rows([best_oof, rival_oof])
        if rows.sum() < 2:
            continue
        try:
            gap, error = paired_gap(loss, y[rows], best_oof[rows], rival_oof[rows], seed)
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
