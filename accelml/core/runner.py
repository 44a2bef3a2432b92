"""The search loop: keep every worker busy with the searcher's proposals until the budget
(less a reserve for the fits after the search) is spent.

The budget is a promise: trial limits shrink as the end nears, and the fits after the search
get the reserve (:mod:`accelml.core.reserve` prices it; :mod:`accelml.core.refit` spends it).
How trials are scheduled, by the clock or by counted work, is the run's
:mod:`~accelml.core.schedule`.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from accelml.config import RunConfig
from accelml.core.budget import Budget
from accelml.core.cores import OtherLoad
from accelml.core.data import DatasetView
from accelml.core.ensemble import POOL, candidate_pool, likely_members
from accelml.core.evaluate import validation_targets
from accelml.core.executor import Executor
from accelml.core.interrupt import StopRequest
from accelml.core.learner import capabilities, get_learner
from accelml.core.refit import FinalFits, RunParts, SearchOutcome
from accelml.core.reserve import (
    ENSEMBLE_EXTRA_REFITS,
    MIN_TRIAL_S,
    active_workers,
    expected_cost,
    final_fit_threads,
    latest_result,
    refit_estimate,
    refit_reserve,
    slowness,
    starved,
)
from accelml.core.schedule import make_schedule
from accelml.core.search import Proposal, Searcher
from accelml.core.store import RunStore, StoredTrial
from accelml.core.trial import TrialKind, TrialResult, TrialSpec, TrialStatus

#: How often a run sharing its study reads the trials other runs finished: every 5 s at
#: most, and at least 20 times over a short run, so it still learns from the others' trials.
SHARED_POLL_S = 5.0
SHARED_POLLS_PER_RUN = 20

#: The blend the reserve prices (:func:`accelml.core.ensemble.likely_members`) is chosen
#: again at most this often, and only where three members priced at the best trial's refit
#: would take more than LIKELY_SHARE of the budget (elsewhere the price is too small to
#: matter, and choosing blends after every quick trial would cost the search time).
LIKELY_EVERY_S = 2.0
LIKELY_SHARE = 0.05

OnResult = Callable[[TrialResult], None]


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
                 busy_elsewhere: float = 0.0, time_one_row: bool = False,
                 servable: Callable[[TrialResult], bool] | None = None) -> None:
        self.view, self.config, self.budget = view, config, budget
        #: Search trials record their model's one-row prediction time (a latency goal).
        self.time_one_row = time_one_row
        #: How many times slower than on an idle machine this process's own work (loading,
        #: saving) runs, from the cores other work kept busy when the run started.
        self.slowness = slowness(busy_elsewhere)
        self.executor, self.searcher, self.workdir = executor, searcher, workdir
        self.store = store
        self.outcome = SearchOutcome()
        self.resumed_trials = 0
        self.shared_trials = 0
        self._lineage: dict[int, tuple[int, str]] = {}  # trial id -> (config key, source)
        self._last_poll = -math.inf  # the first look at a shared study is at once
        self._submitted = 0
        self._exhausted = False
        #: By the clock, or by counted work (deterministic runs).
        self.schedule = make_schedule(config)
        #: Threads of each search trial (see :func:`accelml.core.reserve.trial_threads`) and
        #: trials side by side (:func:`accelml.core.reserve.active_workers`), by the load of
        #: other work, followed during the search (:meth:`_follow_load`) unless the
        #: schedule fixes the layout or the trials run on a cluster.
        self.threads = self.schedule.threads(config, busy_elsewhere)
        follow = not self.schedule.fixed_layout and config.execution.backend == "local"
        self.workers = (active_workers(config.execution, busy_elsewhere) if follow
                        else config.worker_layout()[0])  # (a cluster's load is not ours)
        self._load = OtherLoad() if follow else None
        self._recent_load = [busy_elsewhere]
        #: Whether the run's latency goal could serve a trial in a blend (None: any): the
        #: blend the reserve prices holds only those.
        self.servable = servable or (lambda result: True)
        #: The blend the reserve prices: its candidates, when it was chosen, its members.
        self._likely: tuple[tuple[int, ...], float, list[TrialResult] | None] = (
            (), -math.inf, None)
        #: Each layout the search ran with: when it began, the load that decided it.
        self.layouts = [{"at_s": 0.0, "busy_elsewhere": round(busy_elsewhere, 2),
                         "workers": self.workers, "threads": self.threads}]
        self.cut_by_clock = False
        #: Why the search ended (see :meth:`run`); None while it runs.
        self.ended_by: str | None = None
        self.reserved_s = 0.0  # what the search keeps for the steps after it (last computed)
        #: The fits after the search, sharing this loop's data, clock, workers and results.
        self.fits = FinalFits(RunParts(view, config, budget, executor, workdir, self.outcome,
                                       self.schedule, self._record, self.threads,
                                       self.slowness))
        self._batch: list[TrialResult] = []  # deterministic runs: results told in id order

    def resume(self, stored: Sequence[StoredTrial]) -> None:
        """Take back the trials an earlier session of this run finished: the searcher
        learns them and they stand on the leaderboard and in the ensemble like new ones."""
        for trial in stored:
            cost = self.schedule.charge(trial.result, self.view)
            self.searcher.replay(trial.result, trial.key, trial.source, cost)
            self.outcome.results.append(trial.result)
        self.resumed_trials = len(stored)
        self._submitted = len(stored)  # --max-trials counts the run's trials, not a session's

    def run(self, on_result: OnResult, stop: StopRequest | None = None) -> SearchOutcome:
        """Search until the budget (less the refit reserve) is spent, or until ``stop`` is
        requested: the trials in flight are then ended and recorded as failed.

        ``ended_by`` then says why: "time" (the search's share of the budget is spent),
        "starved_trial" (the next trial could not get half its expected time; the rest goes
        to the final fit), "proposals_exhausted", "learners_settled" (no learner left to sample
        had gained beyond noise in its last trials: see :data:`accelml.core.search.
        SETTLE_TRIALS`), "max_trials", "work_budget" (deterministic
        runs) or "stopped"."""
        self._share()  # a run joining a shared study learns its trials before proposing
        while True:
            if stop is not None and stop.requested:
                self._batch += self.executor.cancel(f"stopped by {stop.reason} mid-trial")
                self._tell(on_result)
                self.ended_by = "stopped"
                break
            search_left = self.search_left()
            self._follow_load()
            if not self.schedule.batched or self.executor.running() == 0:
                self._fill_slots(search_left)
            if self.executor.running() == 0:
                self.cut_by_clock = self._cut_by_clock(search_left)
                self.ended_by = self.ended_by or self._limit_reached()
                break
            self._batch += list(self.executor.completed(timeout_s=0.2))
            if not self.schedule.batched or self.executor.running() == 0:
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
                            self.searcher.fidelity_share, by_trial=self.schedule.by_trial)

    def _tell(self, on_result: OnResult) -> None:
        """Hand the finished trials to the searcher (in trial order, charged their counted
        work, when deterministic) and to the caller."""
        batch, self._batch = self._batch, []
        if self.schedule.batched:
            batch.sort(key=lambda result: result.spec.trial_id)
        for result in batch:
            self.searcher.tell(result, self.schedule.charge(result, self.view))
            self.outcome.results.append(result)
            self.outcome.ended_s[result.spec.trial_id] = round(self.budget.elapsed(), 3)
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

    def _cut_by_clock(self, search_left: float) -> bool:
        """True when a search scheduled by counted work ended on the clock with work left."""
        if self.schedule.timed or self.schedule.exhausted() or self._exhausted:
            return False
        capped = self.config.max_trials is not None and self._submitted >= self.config.max_trials
        return not capped and search_left < MIN_TRIAL_S

    def _limit_reached(self) -> str:
        """Which limit stopped new trials, when no proposal rule did."""
        if self.config.max_trials is not None and self._submitted >= self.config.max_trials:
            return "max_trials"
        if self.schedule.exhausted():
            return "work_budget"
        return "time"

    def _reserve(self) -> float:
        """The time kept from the search for what follows it: refits, or bags to load."""
        bagged = self._bagging()
        size = self.config.ensemble.size
        extra = ENSEMBLE_EXTRA_REFITS if size > 1 and not bagged else 0.0
        models = size * len(self.view.splits) if bagged else 0
        threads = self._refit_threads()
        return self.fits.stacking_share() + refit_reserve(
            self.outcome.results, self.view, self.budget, self.searcher.loss, extra, models,
            self.slowness, threads=threads,
            members=self._likely_members(threads) if extra else None)

    def _refit_threads(self) -> int:
        """The threads the final fits would get now
        (:func:`accelml.core.reserve.final_fit_threads`, at the recent load)."""
        busy = sum(self._recent_load) / len(self._recent_load)
        return final_fit_threads(self.config.execution, self.threads, busy,
                                 self.schedule.fixed_layout)

    def _likely_members(self, threads: int) -> list[TrialResult] | None:
        """The other members of the blend the run would serve now, for the reserve to price
        each refit (:func:`accelml.core.ensemble.likely_members`); None (priced by count)
        under counted work, or where their refits are cheap. Chosen again when the
        candidates change, at most every :data:`LIKELY_EVERY_S`."""
        ranked = self.ranked()
        ranked = ranked[:1] + [r for r in ranked[1:] if self.servable(r)]
        if not self.schedule.timed or not ranked or (
                ENSEMBLE_EXTRA_REFITS * refit_estimate(ranked[0], self.view, threads)
                <= LIKELY_SHARE * self.budget.total_s):
            return None
        key = tuple(r.spec.trial_id for r in candidate_pool(ranked, ranked[0]))
        if key != self._likely[0] and time.monotonic() - self._likely[1] >= LIKELY_EVERY_S:
            members = likely_members(ranked, validation_targets(self.view), self.view.task,
                                     self.config.ensemble.size, self.config.seed)
            self._likely = (key, time.monotonic(), members)
        return self._likely[2]

    def _may_submit(self, search_left: float) -> bool:
        if self._exhausted:
            return False
        if self.config.max_trials is not None and self._submitted >= self.config.max_trials:
            return False
        if self.schedule.exhausted():
            return False
        has_model = any(r.status is TrialStatus.OK for r in self.outcome.results)
        return search_left >= MIN_TRIAL_S or (not has_model and search_left > 0)

    def _follow_load(self) -> None:
        """Lay the next trials out by the cores other work keeps busy now (the mean of the
        last two windows of :class:`~accelml.core.cores.OtherLoad`): fewer side by side when
        a second job starts, more again when it ends. Trials in flight run on."""
        sample = self._load.sample() if self._load is not None else None
        if sample is None:
            return
        self._recent_load = [*self._recent_load[-1:], sample]
        busy = sum(self._recent_load) / len(self._recent_load)
        workers = active_workers(self.config.execution, busy)
        threads = self.schedule.threads(self.config, busy)
        if (workers, threads) != (self.workers, self.threads):
            self.workers, self.threads = workers, threads
            self.layouts.append({"at_s": round(self.budget.elapsed(), 1),
                                 "busy_elsewhere": round(busy, 2), "workers": workers,
                                 "threads": threads})

    def _fill_slots(self, search_left: float) -> None:
        while (self.executor.free_slots() > 0 and self.executor.running() < self.workers
               and self._may_submit(search_left)):
            proposal = self.searcher.ask()
            if proposal is None:
                self._exhausted = True
                self.ended_by = ("learners_settled" if self.searcher.settled
                                 else "proposals_exhausted")
                return
            limit = self.schedule.trial_limit(self.config, self.budget, search_left)
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
                timed=self.schedule.timed, max_memory_mb=self.config.max_trial_memory_mb,
                reach_fidelity=self.must_reach(proposal), time_one_row=self.time_one_row))
            self._submitted += 1

    def must_reach(self, proposal: Proposal) -> bool:
        """Whether a trial may end early, as PRUNED, when its pace shows it cannot reach its
        rung: a fresh successive-halving trial of a learner that can tell
        (``stops_out_of_reach``), timed, once that learner has a model (its first trial always
        runs to the end, so a run never ends without one)."""
        learner = get_learner(proposal.learner)
        return (self.schedule.adaptive and proposal.fidelity is not None
                and proposal.source != "promotion"
                and capabilities(learner).stops_out_of_reach
                and any(r.status is TrialStatus.OK and r.spec.learner == proposal.learner
                        for r in self.outcome.results))

    def starved(self, proposal: Proposal, search_left: float) -> bool:
        """Whether a warm-starting learner's proposal is not worth starting with the time the
        search has left (:func:`accelml.core.reserve.starved`; never under counted work)."""
        if not self.schedule.adaptive or not capabilities(
                get_learner(proposal.learner)).warm_start:
            return False
        has_model = any(r.status is TrialStatus.OK for r in self.outcome.results)
        return starved(expected_cost(proposal, self.outcome.results), search_left, has_model)

    def _bagging(self) -> bool:
        """Whether trials keep bags: bagging is on and validation is k-fold."""
        return self.config.ensemble.bagging and len(self.view.splits) > 1

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
        result = None if trial_id is None else latest_result(self.outcome.results, trial_id)
        return None if result is None else result.artifact_dir

