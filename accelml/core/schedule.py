"""How a run schedules its trials: by the clock (the default), or by counted work
(``RunConfig.deterministic``: the same seed, data and budget give the same trials, whatever
the machine's load). The search loop and the final fits ask their schedule; this is the one
place that says how the two differ."""

from __future__ import annotations

from typing import Protocol

from accelml.config import RunConfig
from accelml.core.budget import Budget
from accelml.core.data import DatasetView
from accelml.core.learner import capabilities, get_learner
from accelml.core.report import RunReport
from accelml.core.reserve import (
    MEMBER_LOAD_S,
    REFIT_SAVE_S,
    final_fidelity,
    refit_estimate,
    trains_longer,
    trial_threads,
    validated_units,
)
from accelml.core.trial import TrialResult
from accelml.core.work import WorkBudget, trial_work


class Schedule(Protocol):
    """What differs between scheduling by the clock and by counted work.

    Attributes:
        timed: learners get deadlines and may stop early on them (else the time limit is
            only the kill cap).
        batched: a batch of trials is submitted, waited for as a whole, and told to the
            searcher in trial order.
        adaptive: the policies that read the clock apply (ending a starved search, pruning
            a trial whose pace cannot reach its rung).
        by_trial: ties in the ranking go to the earlier trial instead of the cheaper one.
        fixed_layout: the final fits keep the search trials' threads whatever the load.
    """

    timed: bool
    batched: bool
    adaptive: bool
    by_trial: bool
    fixed_layout: bool

    def threads(self, config: RunConfig, busy_elsewhere: float) -> int:
        """Threads of each search trial."""
        ...

    def charge(self, result: TrialResult, view: DatasetView) -> float | None:
        """Count a finished trial; its cost as the searcher should weigh it (None: its
        seconds)."""
        ...

    def exhausted(self) -> bool:
        """Whether the schedule's own allowance is spent (the clock is checked apart)."""
        ...

    def trial_limit(self, config: RunConfig, budget: Budget, search_left: float) -> float:
        """The time limit of a search trial."""
        ...

    def refit_cost(self, candidate: TrialResult, view: DatasetView, threads: int,
                   slowness: float) -> float:
        """Seconds the final refit of ``candidate`` on ``threads`` threads is priced at (its
        first model write included), when deciding whether it fits the time left."""
        ...

    def member_cost(self, candidate: TrialResult, view: DatasetView, slowness: float,
                    threads: int | None = None) -> float:
        """Seconds an ensemble member's refit on ``threads`` threads (and loading it) is
        priced at."""
        ...

    def final_fidelity(self, candidate: TrialResult, limit: float, config: RunConfig,
                       view: DatasetView) -> int | None:
        """The fidelity the final fit of ``candidate`` trains."""
        ...

    def report(self, cut_by_clock: bool, clock_cuts: list[str] | None = None) -> RunReport:
        """What the run's record says about the schedule: ``cut_by_clock`` when the clock
        ended the search, ``clock_cuts`` the final fits it cut."""
        ...


class ClockSchedule:
    """Trials in parallel as slots free up, each with a deadline; the clock decides."""

    timed, batched, adaptive, by_trial, fixed_layout = True, False, True, False, False

    def threads(self, config: RunConfig, busy_elsewhere: float) -> int:
        return trial_threads(config.execution, busy_elsewhere)

    def charge(self, result: TrialResult, view: DatasetView) -> float | None:
        return None

    def exhausted(self) -> bool:
        return False

    def trial_limit(self, config: RunConfig, budget: Budget, search_left: float) -> float:
        return min(config.max_trial_fraction * budget.total_s, search_left)

    def refit_cost(self, candidate: TrialResult, view: DatasetView, threads: int,
                   slowness: float) -> float:
        return refit_estimate(candidate, view, threads) + REFIT_SAVE_S * slowness

    def member_cost(self, candidate: TrialResult, view: DatasetView, slowness: float,
                    threads: int | None = None) -> float:
        return refit_estimate(candidate, view, threads) + MEMBER_LOAD_S * slowness

    def final_fidelity(self, candidate: TrialResult, limit: float, config: RunConfig,
                       view: DatasetView) -> int | None:
        return final_fidelity(candidate, limit, config.final_train_fraction, view)

    def report(self, cut_by_clock: bool, clock_cuts: list[str] | None = None) -> RunReport:
        return {}


class CountedSchedule:
    """Deterministic runs (:mod:`accelml.core.work`): batches told in trial order, each trial
    charged the work it reports, learners at full fidelity with no deadline of their own;
    the search ends when the counted work reaches the allowance. The clock is only a cap."""

    timed, batched, adaptive, by_trial, fixed_layout = False, True, False, True, True

    def __init__(self, work: WorkBudget) -> None:
        self.work = work

    def threads(self, config: RunConfig, busy_elsewhere: float) -> int:
        return trial_threads(config.execution, 0.0)  # the same layout whatever the load

    def charge(self, result: TrialResult, view: DatasetView) -> float | None:
        learner = get_learner(result.spec.learner)
        n_rows = sum(len(train) for train, _ in view.splits) / len(view.splits)
        unit_cost = capabilities(learner).unit_cost
        if unit_cost is None:
            unit_cost = learner.relative_cost
        cost = trial_work(result, unit_cost, int(n_rows), view.features.X.shape[1],
                          len(view.splits))
        self.work.charge(cost)
        return cost

    def exhausted(self) -> bool:
        return self.work.exhausted()

    def trial_limit(self, config: RunConfig, budget: Budget, search_left: float) -> float:
        return search_left  # the clock is only a cap

    def refit_cost(self, candidate: TrialResult, view: DatasetView, threads: int,
                   slowness: float) -> float:
        return 0.0  # counted, not timed: every refit is attempted, the clock as its cap

    def member_cost(self, candidate: TrialResult, view: DatasetView, slowness: float,
                    threads: int | None = None) -> float:
        return MEMBER_LOAD_S * slowness  # its fit is counted, not timed; its loading is not

    def final_fidelity(self, candidate: TrialResult, limit: float, config: RunConfig,
                       view: DatasetView) -> int | None:
        validated = validated_units(candidate)
        if validated is None or not trains_longer(candidate, config.final_train_fraction):
            return validated
        return 2 * validated  # counted, not timed: as many units again as validated

    def report(self, cut_by_clock: bool, clock_cuts: list[str] | None = None) -> RunReport:
        cuts = clock_cuts or []
        return RunReport(counted_work_s=round(self.work.done, 3),
                         work_allowance_s=round(self.work.allowance, 3),
                         deterministic_cut_by_clock=cut_by_clock or bool(cuts),
                         deterministic_clock_cuts=cuts)


def make_schedule(config: RunConfig) -> Schedule:
    """The schedule a run's settings ask for."""
    if config.deterministic:
        return CountedSchedule(WorkBudget.for_budget(config.time_budget, config.total_cores()))
    return ClockSchedule()
