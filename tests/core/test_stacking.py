"""The stacking level: what it learns, when it is served, and its saved form."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from accelml.core.ensemble import blend_loss
from accelml.core.stacking import FOLDS, Stacker, fit_stacker
from accelml.core.task import Task, TaskKind


def _task(kind: TaskKind, n_classes: int = 0, metric: str = "log_loss") -> Task:
    return Task(kind, "y", metric, tuple(range(n_classes)))


def _soft(y: np.ndarray, n_classes: int, right: float, rng: np.random.Generator) -> np.ndarray:
    """Probabilities that rank the true class first for most rows, but are far too unsure."""
    logits = rng.normal(size=(len(y), n_classes))
    logits[np.arange(len(y)), y] += 2.0
    sharp = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return right * sharp + (1 - right) / n_classes  # squeezed towards uniform


def test_an_underconfident_member_is_sharpened_and_served() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    member = _soft(y, 3, 0.3, rng)
    task = _task(TaskKind.MULTICLASS, 3)
    choice = fit_stacker([7], [member], y, task)
    assert choice is not None and choice.wins
    assert choice.stacked_loss < choice.blend_loss
    assert choice.stacker.groups == (7,)
    stacked = choice.stacker.combine([member])
    assert np.allclose(stacked.sum(axis=1), 1.0)
    assert blend_loss(stacked, y, task) < blend_loss(member, y, task)


def test_a_regressor_off_in_scale_is_rescaled() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=400) * 10
    halved = 0.5 * y + rng.normal(size=400)
    other = 0.5 * y + rng.normal(size=400) + 3.0
    task = _task(TaskKind.REGRESSION, metric="rmse")
    choice = fit_stacker([1, 2], [halved, other], y, task)
    assert choice is not None and choice.wins
    assert choice.stacker.kind == "linear"
    assert (choice.stacker.coef >= 0).all()  # non-negative weights
    assert blend_loss(choice.stacker.combine([halved, other]), y, task) < 1.5


def test_a_well_calibrated_blend_keeps_its_average() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 300)
    calibrated = np.where(y == 1, 0.8, 0.2)
    noisy = rng.random(300)
    flip = rng.random(300) < 0.2
    calibrated = np.where(flip, 1 - calibrated, calibrated)
    members = [np.column_stack([1 - calibrated, calibrated]),
               np.column_stack([1 - noisy, noisy])]
    choice = fit_stacker([0, 1], members, y, _task(TaskKind.BINARY, 2, "roc_auc"))
    assert choice is not None
    assert not choice.wins  # ranking is all AUC sees: a linear layer cannot beat member 0


def test_rows_without_predictions_are_left_out_and_too_few_rows_give_none() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    member = _soft(y, 2, 0.5, rng)
    member[:150] = np.nan  # a holdout run: only the last 50 rows were validated
    task = _task(TaskKind.BINARY, 2)
    assert fit_stacker([0], [member], y, task) is not None
    member[150:190] = np.nan
    assert len(y) - 190 < 10 * FOLDS
    assert fit_stacker([0], [member], y, task) is None


def test_a_class_the_rows_never_show_stays_unlikely() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 300)  # class 2 of 3 never appears
    member = np.column_stack([_soft(y, 2, 0.5, rng) * 0.98, np.full(300, 0.02)])
    choice = fit_stacker([0], [member], y, _task(TaskKind.MULTICLASS, 3))
    assert choice is not None
    assert choice.stacker.combine([member])[:, 2].max() < 1e-6


def test_the_stacker_round_trips_through_its_json() -> None:
    stacker = Stacker("logistic", (3, 5), np.arange(8.0).reshape(4, 2) / 10, np.array([0.1, -0.2]))
    again = Stacker.from_dict(stacker.to_dict())
    inputs = [np.full((2, 2), 0.5), np.array([[0.9, 0.1], [0.2, 0.8]])]
    assert again.groups == (3, 5)
    assert np.allclose(again.combine(inputs), stacker.combine(inputs))


@pytest.mark.parametrize("kind", [TaskKind.BINARY, TaskKind.REGRESSION])
def test_a_single_class_fold_or_constant_target_does_not_crash(kind: TaskKind) -> None:
    y = np.zeros(100) if kind is TaskKind.REGRESSION else np.r_[np.zeros(99), 1].astype(int)
    member = np.zeros(100) if kind is TaskKind.REGRESSION else np.full((100, 2), 0.5)
    task = _task(kind, 0 if kind is TaskKind.REGRESSION else 2,
                 "rmse" if kind is TaskKind.REGRESSION else "log_loss")
    choice = fit_stacker([0], [member], y, task)
    assert choice is None or not np.isnan(choice.stacked_loss)


def test_a_stacker_that_cannot_finish_in_time_says_so() -> None:
    from accelml.core.budget import Deadline
    from accelml.core.stacking import OutOfTime

    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, 600)
    member = _soft(y, 3, 0.3, rng)
    with pytest.raises(OutOfTime):
        fit_stacker([0], [member], y, _task(TaskKind.MULTICLASS, 3),
                    deadline=Deadline.in_seconds(-1.0))


def test_the_stacking_step_runs_on_the_threads_it_is_given(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from threadpoolctl import threadpool_info

    from accelml.config import EnsembleSettings
    from accelml.core import engine
    from accelml.core.budget import Deadline
    from accelml.core.data import DatasetView, Features
    from accelml.core.trial import TrialResult, TrialSpec, TrialStatus

    rng = np.random.default_rng(6)
    y = rng.integers(0, 3, 600)
    oof = tmp_path / "oof.npy"
    np.save(oof, _soft(y, 3, 0.3, rng))
    result = TrialResult(TrialSpec(4, "net", {}, None, 10.0, 0, 1), TrialStatus.OK,
                         score=0.5, oof_path=oof)
    view = DatasetView(Features(np.zeros((600, 1))), y, _task(TaskKind.MULTICLASS, 3), ())
    seen: list[int] = []

    def counting(*args: object, **kwargs: object) -> object:
        seen.extend(pool["num_threads"] for pool in threadpool_info())
        return fit_stacker(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "fit_stacker", counting)
    settings = EnsembleSettings(size=1, bagging=False, stacking=True)
    record, _ = engine._stack([(result, 1.0)], view, settings, 0, Deadline.never(), threads=1)
    assert record is not None and "seconds" in record
    assert seen and set(seen) == {1}  # every BLAS / OpenMP pool held to one thread
