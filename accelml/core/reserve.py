"""The time policy of a run, as pure functions of what is known so far: how much of the
budget the search keeps for the fits after it, what a refit is expected to cost, when a
trial is not worth starting, how many threads a trial gets and how long the final fit
trains. No executor, no clock: each is tested on plain trial records."""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Callable, Sequence

from accelml.config import ExecutionSettings
from accelml.core.budget import Budget
from accelml.core.data import DatasetView
from accelml.core.ensemble import POOL
from accelml.core.search import Proposal
from accelml.core.trial import TrialResult, TrialStatus

#: A trial is not started with less time than this (unless no model exists yet).
MIN_TRIAL_S = 1.0
#: An ensemble member is not refit with less time than this.
MIN_MEMBER_S = 0.25
#: Seconds kept for loading the refit model and writing the model directory (on an idle
#: machine; see :func:`slowness`).
SAVE_MARGIN_S = 1.0
#: A refit is expected to take this many times its trial's per-split cost (scaled to all rows).
#: A refit trains the rounds early stopping chose and predicts nothing, so it takes less than
#: its trial's split: measured at 0.5 to 1.0 times (60 s runs on adult, electricity and
#: california_housing, run.phases_s); a larger factor left up to a quarter of the budget idle.
REFIT_SAFETY = 1.0
#: How a refit's time falls with more threads than its trial had (see thread_factor).
THREAD_GAIN = 0.75
#: Seconds to load a refit member into the predictor (a scikit-learn forest's skops file
#: is the slowest: up to about 1 s).
MEMBER_LOAD_S = 0.5
#: Seconds a refit spends beyond its fit, saving the model: a search trial saves nothing, so
#: the worker's first save imports the writer (skops: 0.7 s on an idle machine; a linear
#: refit on credit_g took 3 s, not 0.2 s, with the cores busy).
REFIT_SAVE_S = 1.0
#: With ensembling on, the reserve also holds room for about this many more refits (for the
#: other members; see refit_reserve for their price).
ENSEMBLE_EXTRA_REFITS = 3.0
#: ... and this many seconds for choosing the blend.
ENSEMBLE_SELECT_S = 0.5
#: Share of the budget kept for the stacking level (its fits stop at the budget anyway).
STACKING_SHARE = 0.04
#: Seconds kept for loading and saving each fold model of a bagged member.
BAG_MODEL_S = 0.05
#: Once a model exists, a warm-starting learner's trial is not started with under this share
#: of the time it is expected to take: cut that short it gains little (a CIFAR-10 network
#: promoted from 2 to 6 epochs, about 58 s of work, got 14 to 17 s), and the final fit, which
#: continues the best trial's network, puts the time to better use. The search ends there.
STARVED_SHARE = 0.5


def rows_factor(view: DatasetView) -> float:
    """All rows over the rows a split trains on (what a refit on all rows costs more)."""
    train_rows = sum(len(train) for train, _ in view.splits) / len(view.splits)
    return len(view.y) / max(train_rows, 1.0)


def thread_factor(trial_threads: int, refit_threads: int) -> float:
    """How much of its trial's time a fit takes on ``refit_threads`` threads: all of it
    over again per thread fewer than its trial had; with more threads, the ratio to the
    power :data:`THREAD_GAIN` (0.59 for twice the threads: LightGBM refits on both of two
    free cores took 0.39 to 0.59 times their one-thread trial's split scaled to all rows,
    where the trial had shared the machine with another and trained past its best round)."""
    if refit_threads >= trial_threads:
        return float((trial_threads / max(refit_threads, 1)) ** THREAD_GAIN)
    return trial_threads / max(refit_threads, 1)


def refit_estimate(result: TrialResult, view: DatasetView, threads: int | None = None) -> float:
    """Seconds a refit of ``result`` on all rows is expected to take, on ``threads`` threads
    (None: as many as its trial had)."""
    per_split = REFIT_SAFETY * result.cost_s / len(view.splits) * rows_factor(view)
    if threads is None:
        return per_split
    return per_split * thread_factor(max(result.spec.n_jobs, 1), threads)


def refit_reserve(results: list[TrialResult], view: DatasetView, budget: Budget,
                  loss: Callable[[float], float], extra_fits: float = 0.0,
                  bag_models: int = 0, slowness: float = 1.0, *,
                  threads: int | None = None,
                  members: Sequence[TrialResult] | None = None) -> float:
    """Seconds to keep for refitting the best trial so far on all rows (and ``extra_fits``
    more fits for ensemble members), for loading and saving up to ``bag_models`` fold models
    of bagged members, plus saving; the fixed seconds (loading, saving) times ``slowness``
    (a machine busy with other work does them slower; the refits are priced from trials that
    ran on it), the refits on ``threads`` threads (:func:`refit_estimate`).

    ``members``, when given, are the other trials of the blend the run would serve now
    (:func:`accelml.core.ensemble.likely_members`): those without kept models are priced
    each at its own refit, in place of ``extra_fits``. Three members priced at the best
    trial's cost kept 30 s of a 60 s run for refits that took 7 s. Without them, a member is
    priced at the median refit of the best POOL trials (the blend's candidates), or at the
    best trial's when that is cheaper: pricing every member at a slow best trial's cost kept
    up to half the budget idle (letter at 300 s: 162 s kept, 43 s used)."""
    ok = sorted((r for r in results if r.status is TrialStatus.OK and r.score is not None),
                key=lambda r: loss(r.score or 0.0))
    if not ok:
        return min(0.5 * budget.total_s, 0.1 * budget.total_s + SAVE_MARGIN_S * slowness)
    best = refit_estimate(ok[0], view, threads)
    own = 0.0 if ok[0].bag_dir is not None else 1.0  # a kept bag serves without a refit
    load = MEMBER_LOAD_S * slowness
    if members is not None:
        to_refit = [m for m in members if m.bag_dir is None and m.artifact_dir is None]
        member_fits = sum(refit_estimate(m, view, threads) + load for m in to_refit)
    else:
        member = min(best, statistics.median(refit_estimate(r, view, threads)
                                             for r in ok[:POOL]))
        member_fits = extra_fits * (member + load)
    first_save = REFIT_SAVE_S * slowness if own or member_fits else 0.0
    fits = own * (best + load) + member_fits + first_save
    select = ENSEMBLE_SELECT_S if extra_fits or bag_models > len(view.splits) else 0.0
    fixed = (select + BAG_MODEL_S * bag_models + SAVE_MARGIN_S) * slowness
    return min(0.5 * budget.total_s, fits + fixed + 0.02 * budget.total_s)


def slowness(busy_elsewhere: float) -> float:
    """How many times slower than on an idle machine the driver's own work (loading,
    saving) runs, from the cores other work keeps busy."""
    return max(1.0, (busy_elsewhere + 1.0) / (os.cpu_count() or 1))


def active_workers(settings: ExecutionSettings, busy_elsewhere: float) -> int:
    """Search trials to run side by side: the config's workers, but, unless the run named
    its workers (``n_workers``), no more than the cores other work leaves free (at least
    one), so the run never keeps more busy threads than free cores (a second job on one of
    two cores: one trial at a time, on the free one)."""
    workers, _ = settings.worker_layout()
    if settings.n_workers is not None:
        return workers
    free = (os.cpu_count() or 1) - round(busy_elsewhere)
    return max(1, min(workers, free))


def trial_threads(settings: ExecutionSettings, busy_elsewhere: float) -> int:
    """Threads of each search trial: the config's layout, but no more than the cores other
    work leaves free shares out among the active workers (at least one). A thread on a busy
    core stalls the others of its fit: LightGBM at 2 threads beside other work took 12 s for
    a trial that takes 0.5 s at 1 (OpenMP and BLAS threads wait for each other spinning)."""
    _, threads = settings.worker_layout()
    free = (os.cpu_count() or 1) - round(busy_elsewhere)
    return max(1, min(threads, free // active_workers(settings, busy_elsewhere)))


def final_fit_threads(settings: ExecutionSettings, search_threads: int, busy_now: float,
                      fixed_layout: bool) -> int:
    """Threads for the final fits: the search trials' under a fixed layout (a memory cap,
    where thread stacks count against it, or a deterministic run); else the run's cores
    less those other work keeps busy now (a thread on a busy core stalls the others of its
    fit: LightGBM at 2 threads beside one busy core took 30 times longer than at 1)."""
    cores = settings.total_cores()
    if settings.max_trial_memory_mb is not None or fixed_layout:
        return search_threads
    if cores > 1:
        free = (os.cpu_count() or 1) - round(busy_now)
        return max(1, min(cores, free))
    return cores


def latest_result(results: Sequence[TrialResult], trial_id: int) -> TrialResult | None:
    """The latest result of trial ``trial_id``, if it finished."""
    return next((r for r in reversed(results) if r.spec.trial_id == trial_id), None)


def expected_cost(proposal: Proposal, results: Sequence[TrialResult]) -> float | None:
    """Seconds a proposal is expected to take: a promotion, its parent's cost for each unit
    of fidelity it has yet to train; a new config, the median cost of its learner's fresh
    trials at the same fidelity. None when nothing says."""
    if proposal.resume_from is not None:
        parent = latest_result(results, proposal.resume_from)
        if parent is None or parent.status is not TrialStatus.OK:
            return None
        done = parent.spec.fidelity
        if not done or proposal.fidelity is None:
            return None
        return parent.cost_s * max(0, proposal.fidelity - done) / done
    costs = [r.cost_s for r in results if r.status is TrialStatus.OK
             and r.spec.learner == proposal.learner
             and r.spec.fidelity == proposal.fidelity and r.spec.init_from is None]
    return statistics.median(costs) if costs else None


def starved(expected: float | None, search_left: float, has_model: bool) -> bool:
    """Whether a warm-starting learner's trial expected to take ``expected`` seconds is not
    worth starting with ``search_left`` seconds left (once a model exists): under
    STARVED_SHARE of it would be left."""
    return has_model and expected is not None and search_left < STARVED_SHARE * expected


def final_fidelity(candidate: TrialResult, limit: float, final_train_fraction: float,
                   view: DatasetView) -> int | None:
    """The fidelity of a timed final fit: the units early stopping chose; or, when the run
    keeps a share of the budget for final training, about as many units (epochs) as fit in
    ``limit`` seconds, never fewer than the trial was validated with. The estimate from the
    trial's cost includes its validation and start-up, so it is doubled: the learner's
    deadline (its schedule is re-planned to finish there) ends the fit on time either way."""
    validated = validated_units(candidate)
    if validated is None or not trains_longer(candidate, final_train_fraction):
        return validated
    warm = int(candidate.facts.warm_start_units)  # the trial continued these
    unit_s = candidate.cost_s / max(1, validated - warm) * rows_factor(view)
    return max(validated, validated + int(2.0 * limit / max(unit_s, 1e-6)))


def trains_longer(candidate: TrialResult, final_train_fraction: float) -> bool:
    """Whether the final fit trains more units than the trial validated: when the run keeps
    a share of the budget for final training, and early stopping chose no count."""
    return (final_train_fraction > 0 and not candidate.facts.refit_units
            and bool(validated_units(candidate)))


def validated_units(candidate: TrialResult) -> int | None:
    """The units a refit trains to match its trial: those early stopping chose, else the
    trial's fidelity, else the units it reports training at the learner's default."""
    facts = candidate.facts
    if facts.refit_units:
        return max(1, math.ceil(facts.refit_units))
    if candidate.spec.fidelity is not None:
        return candidate.spec.fidelity
    if facts.units_trained:  # ran the learner's default fidelity
        return max(1, math.ceil(facts.units_trained))
    return None
