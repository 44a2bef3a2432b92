"""The run's time policy as pure functions, and the two schedules, without an executor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from accelml.config import RunConfig
from accelml.core.budget import Budget
from accelml.core.data import DatasetView, Features
from accelml.core.learner import FitFacts
from accelml.core.reserve import (
    MEMBER_LOAD_S,
    REFIT_SAVE_S,
    final_fidelity,
    refit_estimate,
    refit_reserve,
    starved,
    thread_factor,
    validated_units,
)
from accelml.core.schedule import ClockSchedule, CountedSchedule, make_schedule
from accelml.core.task import Task, TaskKind
from accelml.core.trial import TrialResult, TrialSpec, TrialStatus
from accelml.core.work import WorkBudget

BINARY = Task(TaskKind.BINARY, "y", "roc_auc", (0, 1), 1)


def _view() -> DatasetView:
    rows = np.arange(100)
    return DatasetView(Features(np.zeros((100, 2))), rows % 2, BINARY,
                       ((rows[:80], rows[80:]),))  # one holdout: all rows are 1.25 x its train


def _trial(fidelity: int | None, cost_s: float, facts: FitFacts | None = None) -> TrialResult:
    return TrialResult(TrialSpec(0, "cnn", {}, fidelity, 10, 0, 1), TrialStatus.OK, score=0.9,
                       cost_s=cost_s, facts=facts or FitFacts())


def test_a_warm_starting_trial_is_starved_under_half_its_expected_time() -> None:
    assert starved(10.0, 4.9, has_model=True) and not starved(10.0, 5.0, has_model=True)
    assert not starved(10.0, 0.1, has_model=False)  # without a model any trial is worth it
    assert not starved(None, 0.1, has_model=True)  # nothing says what it costs


def test_the_final_fit_trains_as_many_units_as_fit_in_its_time() -> None:
    trial = _trial(fidelity=4, cost_s=8.0)  # 2 s an epoch on 80 rows: 2.5 s on all 100
    assert final_fidelity(trial, 10.0, final_train_fraction=0.0, view=_view()) == 4
    assert final_fidelity(trial, 10.0, final_train_fraction=0.35, view=_view()) == 4 + 8
    stopped = _trial(None, 8.0, FitFacts(units_trained=300, refit_units=212.4))
    assert validated_units(stopped) == 213  # the rounds early stopping chose
    assert final_fidelity(stopped, 100.0, 0.35, _view()) == 213


def test_the_two_schedules_differ_where_the_clock_is_read() -> None:
    config = RunConfig(time_budget=100, max_trial_fraction=0.4)
    clock, counted = ClockSchedule(), CountedSchedule(WorkBudget(1.0))
    assert isinstance(make_schedule(config), ClockSchedule)
    assert isinstance(make_schedule(config.with_changes(deterministic=True)), CountedSchedule)
    assert clock.trial_limit(config, Budget(100), 70.0) == 40.0
    assert counted.trial_limit(config, Budget(100), 70.0) == 70.0  # the clock is only a cap
    trial = _trial(fidelity=4, cost_s=8.0)
    assert clock.refit_cost(trial, _view(), 1, slowness=1.0) == pytest.approx(11.0)
    assert counted.refit_cost(trial, _view(), 1, slowness=1.0) == 0.0
    tuned = config.with_changes(final_train_fraction=0.35)
    assert counted.final_fidelity(trial, 10.0, tuned, _view()) == 8  # counted: twice
    assert clock.timed and not counted.timed and counted.batched and not clock.batched
    assert counted.report(cut_by_clock=False)["work_allowance_s"] == 1.0
    assert clock.report(cut_by_clock=False) == {}


def test_a_refit_on_more_threads_is_priced_cheaper_and_on_fewer_dearer() -> None:
    assert thread_factor(1, 1) == 1.0 and thread_factor(2, 1) == 2.0
    assert thread_factor(1, 2) == pytest.approx(2 ** -0.75)  # less than twice as fast
    trial = _trial(None, 8.0)  # one thread, 8 s on 80 rows: 10 s on all 100
    assert refit_estimate(trial, _view()) == pytest.approx(10.0)
    assert refit_estimate(trial, _view(), threads=2) == pytest.approx(10.0 * 2 ** -0.75)


def test_the_reserve_prices_each_likely_member_at_its_own_refit(tmp_path: Path) -> None:
    def member(trial_id: int, cost_s: float, kept: bool = False) -> TrialResult:
        return TrialResult(TrialSpec(trial_id, "gbm", {}, None, 10, 0, 1), TrialStatus.OK,
                           score=0.8, cost_s=cost_s, artifact_dir=tmp_path if kept else None)

    best = _trial(None, 8.0)
    cheap, kept = member(1, 0.8), member(2, 40.0, kept=True)
    loss = lambda score: -score  # noqa: E731
    budget = Budget(1000)
    alone = refit_reserve([best, cheap, kept], _view(), budget, loss, extra_fits=3,
                          members=[])
    priced = refit_reserve([best, cheap, kept], _view(), budget, loss, extra_fits=3,
                           members=[cheap, kept])  # a kept model serves without a refit
    assert priced - alone == pytest.approx(1.0 + MEMBER_LOAD_S)
    by_count = refit_reserve([best, cheap, kept], _view(), budget, loss, extra_fits=3)
    assert by_count - alone == pytest.approx(3 * (10.0 + MEMBER_LOAD_S))  # the best's cost
    assert alone > 10.0 + REFIT_SAVE_S
