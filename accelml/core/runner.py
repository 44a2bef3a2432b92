"""The run loop: keep every worker busy with the searcher's proposals until the budget (less
a reserve for the final refit) is spent, then refit the best configuration on all rows.

The budget is a promise: trial limits shrink as the end nears, and the refit gets the reserve.
A run that finished a trial always ends with a model (the fallback rule, see
:meth:`SearchLoop.refit_best` and :meth:`SearchLoop.serve_constant`).
"""

from __future__ import annotations

import math
import os
import shutil
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from accelml.config import RunConfig
from accelml.core.budget import Budget, busy_cores
from accelml.core.data import DatasetView
from accelml.core.ensemble import POOL
from accelml.core.executor import Executor
from accelml.core.interrupt import StopRequest
from accelml.core.learner import capabilities, get_learner
from accelml.core.search import Proposal, Searcher
from accelml.core.store import RunStore, StoredTrial
from accelml.core.trial import TrialKind, TrialResult, TrialSpec, TrialStatus
from accelml.core.work import WorkBudget, trial_work
from accelml.errors import SearchError

#: A trial is not started with less time than this (unless no model exists yet).
MIN_TRIAL_S = 1.0
#: An ensemble member is not refit with less time than this.
MIN_MEMBER_S = 0.25
#: Seconds kept for loading the refit model and writing the model directory (on an idle
#: machine; see SearchLoop.slowness).
SAVE_MARGIN_S = 1.0
#: The final fit tries the best trials in this order, at most this many of them.
REFIT_CANDIDATES = 3
#: Refits are numbered from here so their ids never clash with search trials.
REFIT_ID_BASE = 1_000_000
#: A refit is expected to take this many times its trial's per-split cost (scaled to all rows).
#: A refit trains the rounds early stopping chose and predicts nothing, so it takes less than
#: its trial's split: measured at 0.5 to 1.0 times (60 s runs on adult, electricity and
#: california_housing, run.phases_s); a larger factor left up to a quarter of the budget idle.
REFIT_SAFETY = 1.0
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
#: How often a run sharing its study reads the trials other runs finished: every 5 s at
#: most, and at least 20 times over a short run, so it still learns from the others' trials.
SHARED_POLL_S = 5.0
SHARED_POLLS_PER_RUN = 20
#: Once a model exists, a warm-starting learner's trial is not started with under this share
#: of the time it is expected to take: cut that short it gains little (a CIFAR-10 network
#: promoted from 2 to 6 epochs, about 58 s of work, got 14 to 17 s), and the final fit, which
#: continues the best trial's network, puts the time to better use. The search ends there.
STARVED_SHARE = 0.5

OnResult = Callable[[TrialResult], None]


@dataclass
class SearchOutcome:
    """Every trial of the search and the refit that produced the final model."""

    results: list[TrialResult] = field(default_factory=list)
    refit: TrialResult | None = None
    chosen: TrialResult | None = None
    refit_attempts: list[TrialResult] = field(default_factory=list)
    member_refits: list[TrialResult] = field(default_factory=list)
    weights: dict[int, float] = field(default_factory=dict)  # trial id -> weight in the blend
    folds: dict[int, int] = field(default_factory=dict)  # trial id -> fold models it serves
    #: What was served in place of the best trial's refit and why (None: nothing was).
    fallback: dict[str, Any] | None = None


class RefitFailed(SearchError):
    """Trials finished, but no refit succeeded and no trial kept its models."""


def _rows_factor(view: DatasetView) -> float:
    train_rows = sum(len(train) for train, _ in view.splits) / len(view.splits)
    return len(view.y) / max(train_rows, 1.0)


def refit_estimate(result: TrialResult, view: DatasetView) -> float:
    """Seconds a refit of ``result`` on all rows is expected to take."""
    return REFIT_SAFETY * result.cost_s / len(view.splits) * _rows_factor(view)


def refit_reserve(results: list[TrialResult], view: DatasetView, budget: Budget,
                  loss: Callable[[float], float], extra_fits: float = 0.0,
                  bag_models: int = 0, slowness: float = 1.0) -> float:
    """Seconds to keep for refitting the best trial so far on all rows (and ``extra_fits``
    more fits for ensemble members), for loading and saving up to ``bag_models`` fold models
    of bagged members, plus saving; the fixed seconds (loading, saving) times ``slowness``
    (a machine busy with other work does them slower; the refits are priced from trials that
    ran on it).

    A member is priced at the median refit of the best POOL trials (the blend's candidates),
    or at the best trial's when that is cheaper: pricing every member at a slow best trial's
    cost kept up to half the budget idle (letter at 300 s: 162 s kept, 43 s used)."""
    ok = sorted((r for r in results if r.status is TrialStatus.OK and r.score is not None),
                key=lambda r: loss(r.score or 0.0))
    if not ok:
        return min(0.5 * budget.total_s, 0.1 * budget.total_s + SAVE_MARGIN_S * slowness)
    best = refit_estimate(ok[0], view)
    own = 0.0 if ok[0].bag_dir is not None else 1.0  # a kept bag serves without a refit
    member = min(best, statistics.median(refit_estimate(r, view) for r in ok[:POOL]))
    load = MEMBER_LOAD_S * slowness
    first_save = REFIT_SAVE_S * slowness if own or extra_fits else 0.0
    fits = own * (best + load) + extra_fits * (member + load) + first_save
    select = ENSEMBLE_SELECT_S if extra_fits or bag_models > len(view.splits) else 0.0
    fixed = (select + BAG_MODEL_S * bag_models + SAVE_MARGIN_S) * slowness
    return min(0.5 * budget.total_s, fits + fixed + 0.02 * budget.total_s)


def trial_threads(config: RunConfig, busy_elsewhere: float) -> int:
    """Threads of each search trial: the config's layout, but no more than the cores other
    work leaves free shares out among the workers (at least one). A thread on a busy core
    stalls the others of its fit: LightGBM at 2 threads beside other work took 12 s for a
    trial that takes 0.5 s at 1 (OpenMP and BLAS threads wait for each other spinning)."""
    workers, threads = config.worker_layout()
    free = (os.cpu_count() or 1) - round(busy_elsewhere)
    return max(1, min(threads, free // workers))


def best_results(results: list[TrialResult], loss: Callable[[float], float],
                 fidelity_share: Callable[[TrialResult], float] | None = None,
                 by_trial: bool = False) -> list[TrialResult]:
    """OK trials, best first; with ``fidelity_share``, those that ran furthest up the rungs of
    successive halving come first, each rung ordered by loss. Ties go to the cheaper trial,
    or with ``by_trial`` (deterministic runs, where timings differ) to the earlier one."""
    ok = [r for r in results if r.status is TrialStatus.OK and r.score is not None]
    share = fidelity_share or (lambda _: 1.0)

    def key(r: TrialResult) -> tuple[float, float, float]:
        tie = float(r.spec.trial_id) if by_trial else r.cost_s
        return -share(r), loss(r.score or 0.0), tie

    return sorted(ok, key=key)


class SearchLoop:
    """Drives a Searcher and an Executor under a Budget."""

    def __init__(self, view: DatasetView, config: RunConfig, budget: Budget, executor: Executor,
                 searcher: Searcher, workdir: Path, store: RunStore | None = None, *,
                 busy_elsewhere: float = 0.0) -> None:
        self.view, self.config, self.budget = view, config, budget
        #: How many times slower than on an idle machine this process's own work (loading,
        #: saving) runs, from the cores other work kept busy when the run started.
        self.slowness = max(1.0, (busy_elsewhere + 1.0) / (os.cpu_count() or 1))
        self.executor, self.searcher, self.workdir = executor, searcher, workdir
        self.store = store
        self.outcome = SearchOutcome()
        self.resumed_trials = 0
        self.shared_trials = 0
        self._lineage: dict[int, tuple[int, str]] = {}  # trial id -> (config key, source)
        self._last_poll = -math.inf  # the first look at a shared study is at once
        self._submitted = 0
        self._exhausted = False
        self.work = (WorkBudget.for_budget(config.time_budget, config.total_cores())
                     if config.deterministic else None)
        #: Threads of each search trial (see :func:`trial_threads`).
        self.threads = trial_threads(config, busy_elsewhere if self.work is None else 0.0)
        self.cut_by_clock = False
        #: Why the search ended (see :meth:`run`); None while it runs.
        self.ended_by: str | None = None
        self.reserved_s = 0.0  # what the search keeps for the steps after it (last computed)
        self._final_threads: int | None = None  # the final fits' threads, once measured
        self._batch: list[TrialResult] = []  # deterministic runs: results told in id order

    def resume(self, stored: Sequence[StoredTrial]) -> None:
        """Take back the trials an earlier session of this run finished: the searcher
        learns them and they stand on the leaderboard and in the ensemble like new ones."""
        for trial in stored:
            cost = None
            if self.work is not None:
                cost = self._counted(trial.result)
                self.work.charge(cost)
            self.searcher.replay(trial.result, trial.key, trial.source, cost)
            self.outcome.results.append(trial.result)
        self.resumed_trials = len(stored)
        self._submitted = len(stored)  # --max-trials counts the run's trials, not a session's

    def run(self, on_result: OnResult, stop: StopRequest | None = None) -> SearchOutcome:
        """Search until the budget (less the refit reserve) is spent, or until ``stop`` is
        requested: the trials in flight are then ended and recorded as failed.

        ``ended_by`` then says why: "time" (the search's share of the budget is spent),
        "starved_trial" (the next trial could not get half its expected time; the rest goes
        to the final fit), "proposals_exhausted", "max_trials", "work_budget" (deterministic
        runs) or "stopped"."""
        self._share()  # a run joining a shared study learns its trials before proposing
        while True:
            if stop is not None and stop.requested:
                self._batch += self.executor.cancel(f"stopped by {stop.reason} mid-trial")
                self._tell(on_result)
                self.ended_by = "stopped"
                break
            search_left = self.search_left()
            if self.work is None or self.executor.running() == 0:  # deterministic: batches
                self._fill_slots(search_left)
            if self.executor.running() == 0:
                self.cut_by_clock = self._cut_by_clock(search_left)
                self.ended_by = self.ended_by or self._limit_reached()
                break
            self._batch += list(self.executor.completed(timeout_s=0.2))
            if self.work is None or self.executor.running() == 0:
                self._tell(on_result)
            self._share()
        return self.outcome

    def search_left(self) -> float:
        """Seconds the search may still use: the budget left less what the steps after it
        keep (``reserved_s``, updated here)."""
        final_share = self.config.final_train_fraction * self.budget.total_s
        self.reserved_s = max(final_share, self._reserve())
        return self.budget.remaining() - self.reserved_s

    def _share(self) -> None:
        """Keep the run store's clock, and learn from other runs sharing the study."""
        if self.store is None:
            return
        self.store.heartbeat(self.budget.elapsed())
        interval = min(SHARED_POLL_S, self.budget.total_s / SHARED_POLLS_PER_RUN)
        if time.monotonic() - self._last_poll < interval:
            return
        self._last_poll = time.monotonic()
        for trial in self.store.new_foreign_trials():
            self.searcher.observe(trial.result)
            self.shared_trials += 1

    def ranked(self) -> list[TrialResult]:
        """The OK trials so far, best first (see :func:`best_results`)."""
        return best_results(self.outcome.results, self.searcher.loss,
                            self.searcher.fidelity_share, by_trial=self.work is not None)

    def _tell(self, on_result: OnResult) -> None:
        """Hand the finished trials to the searcher (in trial order, charged their counted
        work, when deterministic) and to the caller."""
        batch, self._batch = self._batch, []
        if self.work is not None:
            batch.sort(key=lambda result: result.spec.trial_id)
        for result in batch:
            cost = None
            if self.work is not None:
                cost = self._counted(result)
                self.work.charge(cost)
            self.searcher.tell(result, cost)
            self.outcome.results.append(result)
            self._record(result)
            on_result(result)

    def _record(self, result: TrialResult) -> None:
        """Write a finished trial to the run store, so no finished work is lost."""
        if self.store is None:
            return
        key, source = self._lineage.pop(result.spec.trial_id, (result.spec.trial_id, "sampler"))
        loss = self.searcher.loss(result.score) if result.score is not None else None
        self.store.record(result, loss, key, source)
        self.store.heartbeat(self.budget.elapsed(), every_s=0.0)

    def _counted(self, result: TrialResult) -> float:
        learner = get_learner(result.spec.learner)
        n_rows = sum(len(train) for train, _ in self.view.splits) / len(self.view.splits)
        unit_cost = capabilities(learner).unit_cost
        if unit_cost is None:
            unit_cost = learner.relative_cost
        return trial_work(result, unit_cost, int(n_rows),
                          self.view.features.X.shape[1], len(self.view.splits))

    def _cut_by_clock(self, search_left: float) -> bool:
        """True when a deterministic search ended on the clock with counted work left."""
        if self.work is None or self.work.exhausted() or self._exhausted:
            return False
        capped = self.config.max_trials is not None and self._submitted >= self.config.max_trials
        return not capped and search_left < MIN_TRIAL_S

    def _limit_reached(self) -> str:
        """Which limit stopped new trials, when no proposal rule did."""
        if self.config.max_trials is not None and self._submitted >= self.config.max_trials:
            return "max_trials"
        if self.work is not None and self.work.exhausted():
            return "work_budget"
        return "time"

    def _reserve(self) -> float:
        """The time kept from the search for what follows it: refits, or bags to load."""
        bagged = self._bagging()
        extra = ENSEMBLE_EXTRA_REFITS if self.config.ensemble_size > 1 and not bagged else 0.0
        models = self.config.ensemble_size * len(self.view.splits) if bagged else 0
        return self._stacking_share() + refit_reserve(
            self.outcome.results, self.view, self.budget, self.searcher.loss, extra, models,
            self.slowness)

    def save_margin(self) -> float:
        """Seconds kept at the end for loading the models and writing the model directory."""
        return SAVE_MARGIN_S * self.slowness

    def _stacking_share(self) -> float:
        """Seconds neither the search nor the member refits may take: the stacking level's."""
        return STACKING_SHARE * self.budget.total_s if self.config.stacking else 0.0

    def _may_submit(self, search_left: float) -> bool:
        if self._exhausted:
            return False
        if self.config.max_trials is not None and self._submitted >= self.config.max_trials:
            return False
        if self.work is not None and self.work.exhausted():
            return False
        has_model = any(r.status is TrialStatus.OK for r in self.outcome.results)
        return search_left >= MIN_TRIAL_S or (not has_model and search_left > 0)

    def _fill_slots(self, search_left: float) -> None:
        while self.executor.free_slots() > 0 and self._may_submit(search_left):
            proposal = self.searcher.ask()
            if proposal is None:
                self._exhausted, self.ended_by = True, "proposals_exhausted"
                return
            limit = search_left  # deterministic: the clock is only a cap
            if self.work is None:
                limit = min(self.config.max_trial_fraction * self.budget.total_s, search_left)
            if self.starved(proposal, search_left):  # (not the per-trial cap: time is left)
                self._exhausted, self.ended_by = True, "starved_trial"  # to the final fit
                return
            output_dir = self.workdir / "trials" / str(proposal.trial_id)
            if output_dir.exists():  # left by a trial that a killed session never finished
                shutil.rmtree(output_dir)
            self._lineage[proposal.trial_id] = (proposal.key, proposal.source)
            self.executor.submit(TrialSpec(
                trial_id=proposal.trial_id, learner=proposal.learner, config=proposal.config,
                fidelity=proposal.fidelity, time_limit_s=limit, seed=self.config.seed,
                n_jobs=self.threads, kind=TrialKind.SEARCH,
                output_dir=output_dir, init_from=self._kept_model(proposal.resume_from),
                keep_folds_at_loss=self._bag_threshold(proposal.learner),
                timed=self.work is None, max_memory_mb=self.config.max_trial_memory_mb,
                reach_fidelity=self.must_reach(proposal)))
            self._submitted += 1

    def must_reach(self, proposal: Proposal) -> bool:
        """Whether a trial may end early, as PRUNED, when its pace shows it cannot reach its
        rung: a fresh successive-halving trial of a learner that can tell
        (``stops_out_of_reach``), timed, once that learner has a model (its first trial always
        runs to the end, so a run never ends without one)."""
        learner = get_learner(proposal.learner)
        return (self.work is None and proposal.fidelity is not None
                and proposal.source != "promotion"
                and capabilities(learner).stops_out_of_reach
                and any(r.status is TrialStatus.OK and r.spec.learner == proposal.learner
                        for r in self.outcome.results))

    def starved(self, proposal: Proposal, search_left: float) -> bool:
        """Whether the time the search has left is under STARVED_SHARE of what a warm-starting
        learner's proposal is expected to take, once a model exists (never in deterministic
        runs)."""
        if self.work is not None or not capabilities(get_learner(proposal.learner)).warm_start:
            return False
        if not any(r.status is TrialStatus.OK for r in self.outcome.results):
            return False
        expected = self.expected_cost(proposal)
        return expected is not None and search_left < STARVED_SHARE * expected

    def expected_cost(self, proposal: Proposal) -> float | None:
        """Seconds a proposal is expected to take: a promotion, its parent's cost for each
        unit of fidelity it has yet to train; a new config, the median cost of its learner's
        fresh trials at the same fidelity. None when nothing says."""
        if proposal.resume_from is not None:
            parent = self._result_of(proposal.resume_from)
            if parent is None or parent.status is not TrialStatus.OK:
                return None
            done = parent.spec.fidelity
            if not done or proposal.fidelity is None:
                return None
            return parent.cost_s * max(0, proposal.fidelity - done) / done
        costs = [r.cost_s for r in self.outcome.results if r.status is TrialStatus.OK
                 and r.spec.learner == proposal.learner
                 and r.spec.fidelity == proposal.fidelity and r.spec.init_from is None]
        return statistics.median(costs) if costs else None

    def _bagging(self) -> bool:
        """Whether trials keep bags: bagging is on and validation is k-fold."""
        return self.config.bagging and len(self.view.splits) > 1

    def _bag_threshold(self, learner: str) -> float | None:
        """The loss at which a k-fold trial keeps its fold models: among the best POOL so
        far, or the best of its own learner (the blend draws from both)."""
        if not self._bagging():
            return None
        loss = self.searcher.loss
        ok = [r for r in self.outcome.results
              if r.status is TrialStatus.OK and r.score is not None]
        losses = sorted(loss(r.score or 0.0) for r in ok)
        if len(losses) < POOL:
            return math.inf
        own = [loss(r.score or 0.0) for r in ok if r.spec.learner == learner]
        return max(losses[POOL - 1], min(own, default=math.inf))

    def _kept_model(self, trial_id: int | None) -> Path | None:
        """The model a finished trial kept (a promotion continues from it), if any."""
        result = None if trial_id is None else self._result_of(trial_id)
        return None if result is None else result.artifact_dir

    def _result_of(self, trial_id: int) -> TrialResult | None:
        """The latest result of trial ``trial_id``, if it finished."""
        return next((r for r in reversed(self.outcome.results)
                     if r.spec.trial_id == trial_id), None)

    def refit_best(self, on_stage: Callable[[str], None]) -> SearchOutcome:
        """Refit the best trial on all rows. A best trial that kept its fold models (a bag) is
        served as it is. When the best's refit fails or cannot fit in the time left, the next
        best (of REFIT_CANDIDATES) is refit, or a candidate's kept models (fold models, or a
        holdout trial's model) are served as the search validated them; failing all that, the
        kept models of any good trial, or the cheapest candidate's refit with whatever time is
        left. What was served instead of the best's refit, and why, goes to
        ``outcome.fallback``.

        Raises SearchError when no trial finished, RefitFailed when nothing could be served
        (see :meth:`serve_constant` for what the run serves then)."""
        ranked = self.ranked()
        if not ranked:
            raise SearchError(_no_model_message(self.outcome.results, self.budget))
        if ranked[0].bag_dir is not None:  # its fold models serve as they are
            self.outcome.refit, self.outcome.chosen = ranked[0], ranked[0]
            return self.outcome
        threads = self._refit_threads()
        reasons: list[str] = []
        for candidate in ranked[:REFIT_CANDIDATES]:
            served = self._refit_or_keep(candidate, threads, reasons, on_stage)
            if served is not None:
                return self._served(served, candidate, ranked[0], reasons)
        kept = next((r for r in ranked if _kept(r)), None)
        if kept is not None:
            return self._served(kept, kept, ranked[0], reasons)
        if not self.outcome.refit_attempts:  # none fitted: the cheapest gets what is left
            cheapest = min(ranked[:REFIT_CANDIDATES],
                           key=lambda candidate: self._refit_cost(candidate, threads))
            result = self._attempt(cheapest, self._refit_limit(), threads, on_stage)
            if result.status is TrialStatus.OK:
                return self._served(result, cheapest, ranked[0], reasons)
            reasons.append(_refit_failure(cheapest, result))
        raise RefitFailed(_refit_failed_message(reasons, self.outcome.refit_attempts))

    def _refit_limit(self) -> float:
        return self.budget.remaining() - self.save_margin()

    def _refit_or_keep(self, candidate: TrialResult, threads: int, reasons: list[str],
                       on_stage: Callable[[str], None]) -> TrialResult | None:
        """The candidate's refit when it fits in the time left and succeeds, else its kept
        models (the candidate itself) when it has some, else None; ``reasons`` gets why."""
        limit = self._refit_limit()
        estimate = self._refit_cost(candidate, threads)
        if limit >= MIN_TRIAL_S and estimate <= limit:
            result = self._attempt(candidate, limit, threads, on_stage)
            if result.status is TrialStatus.OK:
                return result
            reasons.append(_refit_failure(candidate, result))
        else:
            reasons.append(f"the refit of trial {candidate.spec.trial_id} "
                           f"({candidate.spec.learner}), about {estimate:.1f}s, did not fit in "
                           f"the {max(limit, 0.0):.1f}s left")
        return candidate if _kept(candidate) else None

    def _refit_cost(self, candidate: TrialResult, threads: int) -> float:
        """Seconds the candidate's refit on ``threads`` threads is expected to take, its
        first model write included (0 in deterministic runs: the clock is only a cap)."""
        if self.work is not None:
            return 0.0
        fewer = max(1.0, candidate.spec.n_jobs / threads)  # its trial had more threads
        return refit_estimate(candidate, self.view) * fewer + REFIT_SAVE_S * self.slowness

    def _attempt(self, candidate: TrialResult, limit: float, threads: int,
                 on_stage: Callable[[str], None]) -> TrialResult:
        on_stage(f"refitting {candidate.spec.learner} on all rows")
        result = self._refit(candidate, max(limit, MIN_TRIAL_S), threads)
        self.outcome.refit_attempts.append(result)
        return result

    def _served(self, model: TrialResult, candidate: TrialResult, best: TrialResult,
                reasons: list[str]) -> SearchOutcome:
        """Serve ``model`` (a refit, or a trial's kept models) for ``candidate``; say why
        when it is not the best trial's refit."""
        self.outcome.refit, self.outcome.chosen = model, candidate
        if model is candidate or candidate is not best:
            self.outcome.fallback = {
                "served": "kept_models" if model is candidate else "next_best_refit",
                "trial": candidate.spec.trial_id, "learner": candidate.spec.learner,
                "why": "; ".join(reasons)}
        return self.outcome

    def _refit_threads(self) -> int:
        """Threads for the final fits: under a memory cap, the search trials' (thread stacks
        count against it, and the cap held with that many), and in deterministic runs (the
        same whatever the load); else the run's cores less those other work keeps busy now
        (a thread on a busy core stalls the others of its fit: LightGBM at 2 threads beside
        one busy core took 30 times longer than at 1)."""
        if self._final_threads is None:
            cores = self.config.total_cores()
            if self.config.max_trial_memory_mb is not None or self.work is not None:
                cores = self.threads  # (deterministic: the same threads whatever the load)
            elif cores > 1:
                free = (os.cpu_count() or 1) - round(busy_cores())
                cores = max(1, min(cores, free))
            self._final_threads = cores
        return self._final_threads

    def serve_constant(self, why: str) -> SearchOutcome:
        """Serve the constant model (class prior, or mean), fitted in this process in a
        moment: validated on the run's splits like a trial, on the leaderboard as the
        fallback, with ``why`` (the run's own reason it has no other model)."""
        from accelml.core.constant import CONSTANT
        from accelml.core.evaluate import run_trial

        trial_id = 1 + max((r.spec.trial_id for r in self.outcome.results), default=-1)
        folder = self.workdir / "final" / CONSTANT
        spec = TrialSpec(trial_id=trial_id, learner=CONSTANT, config={}, fidelity=None,
                         time_limit_s=self.budget.total_s, seed=self.config.seed, n_jobs=1,
                         output_dir=folder / "validated", timed=False)
        validated = run_trial(spec, self.view)
        fitted = run_trial(replace(spec, kind=TrialKind.REFIT, output_dir=folder / "model"),
                           self.view)
        if fitted.status is not TrialStatus.OK or validated.status is not TrialStatus.OK:
            raise SearchError(f"{why}; the constant model failed too ({fitted.error or ''}"
                              f"{validated.error or ''})")
        chosen = replace(validated, error=why, info={**validated.info, "fallback": True})
        self.outcome.results.append(chosen)
        self.outcome.refit, self.outcome.chosen = fitted, chosen
        self.outcome.fallback = {"served": CONSTANT, "trial": trial_id, "learner": CONSTANT,
                                 "why": why}
        return self.outcome

    def refit_member(self, candidate: TrialResult,
                     on_stage: Callable[[str], None]) -> TrialResult | None:
        """Refit an ensemble member on all rows if the time left allows it; None when it
        does not, or when the refit fails (the blend is then chosen without it)."""
        limit = self.budget.remaining() - self.save_margin() - self._stacking_share()
        estimate = (0.0 if self.work is not None
                    else refit_estimate(candidate, self.view) + MEMBER_LOAD_S * self.slowness)
        if limit < max(MIN_MEMBER_S, estimate):  # deterministic: every member, clock as cap
            return None
        on_stage(f"refitting ensemble member {candidate.spec.learner}")
        result = self._refit(candidate, limit, self._refit_threads())
        self.outcome.member_refits.append(result)
        return result if result.status is TrialStatus.OK else None

    def _final_fidelity(self, candidate: TrialResult, limit: float) -> int | None:
        """The fidelity of the final fit: the rounds (or epochs) early stopping chose; or, when
        the run keeps a share of the budget for final training, about as many units (epochs) as
        fit in the time left, never fewer than it was validated with. The estimate from the trial's
        cost includes its validation and start-up, so it is doubled: the learner's deadline
        (its schedule is re-planned to finish there) ends the fit on time either way."""
        facts = candidate.facts
        if facts.refit_units:
            return max(1, math.ceil(facts.refit_units))
        validated = candidate.spec.fidelity
        if validated is None and facts.units_trained:  # ran the learner's default fidelity
            validated = max(1, math.ceil(facts.units_trained))
        if self.config.final_train_fraction <= 0 or not validated:
            return validated
        if self.work is not None:  # counted, not timed: as many units again as validated
            return 2 * validated
        warm = int(facts.warm_start_units)  # the trial continued these
        unit_s = candidate.cost_s / max(1, validated - warm) * _rows_factor(self.view)
        return max(validated, validated + int(2.0 * limit / max(unit_s, 1e-6)))

    def _refit(self, candidate: TrialResult, limit: float, threads: int) -> TrialResult:
        fidelity = self._final_fidelity(candidate, limit)
        spec = TrialSpec(
            trial_id=REFIT_ID_BASE + candidate.spec.trial_id, learner=candidate.spec.learner,
            config=candidate.spec.config, fidelity=fidelity, time_limit_s=limit,
            seed=self.config.seed, n_jobs=threads, kind=TrialKind.REFIT,
            output_dir=self.workdir / "final" / str(candidate.spec.trial_id),
            init_from=candidate.artifact_dir, timed=self.work is None,
            max_memory_mb=self.config.max_trial_memory_mb)
        while self.executor.free_slots() <= 0:  # wait out stragglers
            for result in self.executor.completed(timeout_s=0.2):
                self.outcome.results.append(result)
                self._record(result)
        self.executor.submit(spec)
        while True:
            for result in self.executor.completed(timeout_s=0.2):
                if result.spec.trial_id == spec.trial_id:
                    return result
                self.outcome.results.append(result)
                self._record(result)


def _kept(result: TrialResult) -> bool:
    """Whether a trial kept models that can be served without a refit."""
    return result.bag_dir is not None or result.artifact_dir is not None


def _refit_failure(candidate: TrialResult, result: TrialResult) -> str:
    """Why a refit failed, in words, with the memory cap named when one was set."""
    why = result.error or result.status.value
    cap = result.spec.max_memory_mb
    if cap is not None and result.status is TrialStatus.FAILED and "process died" in why:
        why += f" (under the {cap:g} MB --max-trial-memory cap)"
    return f"the refit of trial {candidate.spec.trial_id} ({candidate.spec.learner}) " + (
        "timed out: " if result.status is TrialStatus.TIMEOUT else "failed: ") + why


def _refit_failed_message(reasons: list[str], attempts: list[TrialResult]) -> str:
    """No final model could be made: the reasons, and the fix for the cause that ended it."""
    statuses = {r.status for r in attempts}
    if TrialStatus.OUT_OF_MEMORY in statuses or any(
            "--max-trial-memory" in reason for reason in reasons):
        fix = "raise --max-trial-memory (or leave it out)"
    elif TrialStatus.FAILED in statuses:
        fix = "exclude the failing learner with --exclude"
    else:
        fix = "raise --time-budget"
    return f"no final model: {'; '.join(reasons)}; {fix}"


def no_trial_in_time(results: list[TrialResult]) -> bool:
    """Whether a run without any usable trial ran out of time (none ended, or one was cut by
    its time limit or pruned): the constant model then stands in. When every trial failed
    for another reason (an error, the memory cap), that reason is the run's error."""
    time_bound = {TrialStatus.TIMEOUT, TrialStatus.PRUNED}
    return not results or any(r.status in time_bound for r in results)


def _no_model_message(results: list[TrialResult], budget: Budget) -> str:
    if not results:
        return (f"no trial finished within the {budget.total_s:g}s budget; "
                "raise --time-budget")
    reasons = sorted({f"{r.spec.learner}: {r.error}" for r in results})[:5]
    counts = Counter(r.status.value for r in results)
    tally = ", ".join(f"{n} {status}" for status, n in counts.most_common())
    fixes = [fix for status, fix in _FIXES.items() if status in counts]
    return (f"all {len(results)} trials failed ({tally}: {'; '.join(reasons)}); "
            f"{'; '.join(dict.fromkeys(fixes))}")


#: The fix for each way a trial ends without a model.
_FIXES = {TrialStatus.OUT_OF_MEMORY.value: "raise --max-trial-memory (or leave it out)",
          TrialStatus.FAILED.value: "fix the data, or exclude the failing learners with "
                                    "--exclude",
          TrialStatus.TIMEOUT.value: "raise --time-budget",
          TrialStatus.PRUNED.value: "raise --time-budget"}
