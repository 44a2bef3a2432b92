"""Seed copies: a refit of a learner whose answers move with its seed trains several models
from different seeds and serves their average, where the time allows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import accelml.api  # noqa: F401  (registers the tabular preprocessor)
from accelml.config import RunConfig
from accelml.core.budget import Budget
from accelml.core.data import DatasetView, Features
from accelml.core.engine import build_view, fit_predictor
from accelml.core.evaluate import COPIES_DIR, run_trial
from accelml.core.learner import discover, get_learner
from accelml.core.reserve import (
    COPIES_SHARE,
    most_copies,
    priced_refit,
    refit_copies,
    refit_estimate,
)
from accelml.core.schedule import ClockSchedule, CountedSchedule
from accelml.core.task import Task, TaskKind
from accelml.core.trial import TrialKind, TrialResult, TrialSpec, TrialStatus
from accelml.core.work import WorkBudget

MODULES = ("accelml.testing.fake_learners",)
REGRESSION = Task(TaskKind.REGRESSION, "y", "rmse")
discover(MODULES)


class _Identity:
    kind = "tabular"  # the engine searches the learners of this modality (the fake ones)
    schema = None

    def to_dict(self) -> dict[str, object]:
        return {}


def _view(rows: int = 100) -> DatasetView:
    index = np.arange(rows)
    y = np.linspace(0.0, 10.0, rows)
    return DatasetView(Features(np.zeros((rows, 1))), y, REGRESSION,
                       ((index[:80], index[80:]),))


def _refit(tmp_path: Path, copies: int, limit_s: float, config: dict[str, float]
           ) -> TrialResult:
    spec = TrialSpec(7, "seeded", config, None, limit_s, 4, 1, kind=TrialKind.REFIT,
                     output_dir=tmp_path / "final", copies=copies)
    return run_trial(spec, _view())


def test_a_refit_trains_its_copies_from_the_next_seeds_and_keeps_them_as_a_bag(
        tmp_path: Path) -> None:
    result = _refit(tmp_path, 3, 30.0, {"step": 1.0})
    assert result.status is TrialStatus.OK, result.error
    assert result.bag_dir == tmp_path / "final" / COPIES_DIR
    assert result.artifact_dir == result.bag_dir / "0"  # the first copy, for what reads one
    learner, mean = get_learner("seeded"), 5.0
    seeds = [learner.load(result.bag_dir / str(i), REGRESSION).model[0] - mean
             for i in range(3)]
    assert seeds == pytest.approx([4.0, 5.0, 6.0])
    assert result.info["seed_copies"] == 3


def test_one_copy_is_saved_where_a_refit_always_saved_it(tmp_path: Path) -> None:
    result = _refit(tmp_path, 1, 30.0, {"step": 1.0})
    assert result.bag_dir is None and result.artifact_dir == tmp_path / "final"
    assert not (tmp_path / "final" / COPIES_DIR).exists()


def test_no_copy_starts_without_room_for_it(tmp_path: Path) -> None:
    # the first copy takes 0.3 s of a 0.5 s limit: the second would need 0.45 s
    result = _refit(tmp_path, 3, 0.5, {"step": 1.0, "sleep_s": 0.3})
    assert result.status is TrialStatus.OK, result.error
    assert result.bag_dir is None and result.info["seed_copies"] == 1


def _trial(learner: str, cost_s: float) -> TrialResult:
    return TrialResult(TrialSpec(0, learner, {}, None, 10, 0, 1), TrialStatus.OK, score=0.9,
                       cost_s=cost_s)


def test_copies_are_priced_and_dropped_where_each_would_cost_too_much() -> None:
    view, budget_s = _view(), 100.0
    cheap = _trial("seeded", 1.0)  # 1.25 s on all rows: under 5 s of a 100 s budget
    dear = _trial("seeded", 8.0)   # 10 s
    assert refit_estimate(dear, view) > COPIES_SHARE * budget_s
    assert refit_copies(cheap, view, budget_s) == 3 == most_copies("seeded")
    assert refit_copies(dear, view, budget_s) == 1
    assert priced_refit(cheap, view, budget_s) == pytest.approx(3 * refit_estimate(cheap, view))
    assert refit_copies(_trial("prior", 1.0), view, budget_s) == 1  # declares none
    assert refit_copies(_trial("not_registered", 1.0), view, budget_s) == 1
    assert ClockSchedule().copies(dear, view, budget_s, 1) == 1
    assert CountedSchedule(WorkBudget(1.0)).copies(dear, view, budget_s, 1) == 3  # no clock


def test_a_run_serves_the_average_of_the_copies_and_says_so() -> None:
    config = RunConfig(time_budget=20, quiet=True, n_jobs=1, n_workers=1, ensemble_size=1,
                       learners=("seeded",), max_trials=1, seed=2)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = np.linspace(0.0, 6.0, 60)
    view = build_view(Features(X), y, REGRESSION, config)
    predictor = fit_predictor(view, _Identity(), config, Budget(20), MODULES)
    values = sorted(member.fitted.model[0] - y.mean() for member in predictor.members)
    assert values == pytest.approx([2.0, 3.0, 4.0])  # seeds 2, 3 and 4, step 1
    assert [member.weight for member in predictor.members] == pytest.approx([1 / 3] * 3)
    assert predictor.info["ensemble"] == [
        {"trial": 0, "weight": 1.0, "folds": 1, "seed_copies": 3}]
