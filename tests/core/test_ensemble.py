"""Greedy ensemble selection: weights from out-of-fold predictions, and which trials take part."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from accelml.core.ensemble import (
    candidate_pool,
    greedy_weights,
    likely_members,
    select_ensemble,
)
from accelml.core.task import Task, TaskKind
from accelml.core.trial import TrialResult, TrialSpec, TrialStatus

TASK = Task(TaskKind.MULTICLASS, "y", "log_loss", ("a", "b", "c"), None)
Y = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2])


def _proba(wrong_rows: set[int], confidence: float = 0.8) -> np.ndarray:
    """Confident and right except on ``wrong_rows``, where it is confidently wrong."""
    proba = np.full((len(Y), 3), (1 - confidence) / 2)
    for row, label in enumerate(Y):
        proba[row, (label + 1) % 3 if row in wrong_rows else label] = confidence
    return proba


def test_models_that_err_on_different_rows_are_blended() -> None:
    left, right = _proba({0, 1, 2}), _proba({6, 7, 8})
    useless = np.full((len(Y), 3), 1 / 3)
    weights = greedy_weights([left, right, useless], Y, TASK)
    assert weights[0] > 0 and weights[1] > 0 and weights[2] == 0
    assert weights.sum() == pytest.approx(1.0)


def test_no_blend_beats_a_model_alone_gives_one_hot_weights() -> None:
    best, worse = _proba(set()), _proba({0, 1})
    assert greedy_weights([worse, best], Y, TASK).tolist() == [0.0, 1.0]


def test_first_is_in_every_blend() -> None:
    best, worse = _proba(set()), _proba({0, 1, 2, 3})
    weights = greedy_weights([worse, best], Y, TASK, first=0)
    assert weights[0] > 0 and weights[1] > 0
    with pytest.raises(ValueError, match="at least one"):
        greedy_weights([], Y, TASK)


def _trial(tmp_path: Path, trial_id: int, proba: np.ndarray | None, config: dict,
           kept: bool = True, learner: str = "net") -> TrialResult:
    spec = TrialSpec(trial_id, learner, config, 3, 10.0, 0, 1)
    oof = None
    if proba is not None:
        oof = tmp_path / f"{trial_id}.npy"
        np.save(oof, proba)
    return TrialResult(spec, TrialStatus.OK, score=0.5, oof_path=oof,
                       artifact_dir=tmp_path if kept else None)


def test_the_pool_is_distinct_configs_best_of_each_learner_first(tmp_path: Path) -> None:
    chosen = _trial(tmp_path, 0, _proba({0, 1, 2}), {"w": 1})
    rerun = _trial(tmp_path, 1, _proba(set()), {"w": 1})  # the chosen config at a lower rung
    no_oof = _trial(tmp_path, 2, None, {"w": 2})
    other = _trial(tmp_path, 3, _proba({6, 7, 8}), {"w": 3}, kept=False)  # refit if picked
    family = _trial(tmp_path, 4, _proba({9}), {"w": 4}, learner="other")
    ranked = [chosen, rerun, no_oof, other, family]
    assert [t.spec.trial_id for t in candidate_pool(ranked, chosen)] == [0, 4, 3]
    assert [t.spec.trial_id for t in candidate_pool(ranked, chosen, size=2)] == [0, 4]
    blend = select_ensemble(ranked, chosen, Y, TASK, 8)
    assert [t.spec.trial_id for t, _ in blend][0] == 0 and len(blend) >= 2
    assert len(select_ensemble(ranked, chosen, Y, TASK, 2)) == 2
    assert sum(weight for _, weight in blend) == pytest.approx(1.0)


def test_the_chosen_model_alone_when_blending_does_not_help(tmp_path: Path) -> None:
    chosen = _trial(tmp_path, 0, _proba(set()), {"w": 1})
    worse = _trial(tmp_path, 1, _proba({0, 1, 2, 3, 4}), {"w": 2})
    assert select_ensemble([chosen, worse], chosen, Y, TASK, 8) == [(chosen, 1.0)]
    assert select_ensemble([chosen, worse], chosen, Y, TASK, 1) == [(chosen, 1.0)]


def test_the_likely_members_are_the_blend_without_its_best(tmp_path: Path) -> None:
    best = _trial(tmp_path, 0, _proba({0, 1, 2}), {"w": 1})
    helps = _trial(tmp_path, 1, _proba({6, 7, 8}), {"w": 2}, kept=False)
    useless = _trial(tmp_path, 2, _proba(set(range(12))), {"w": 3})
    ranked = [best, helps, useless]
    assert likely_members(ranked, Y, TASK, 8) == [helps]
    assert likely_members(ranked, Y, TASK, 1) == []  # no blending: nothing to refit
    assert likely_members([best], Y, TASK, 8) == []
    ranking = Task(TaskKind.RANKING, "y", "ndcg@10", None, None)
    assert likely_members(ranked, Y, ranking, 8) is None  # priced by count instead
