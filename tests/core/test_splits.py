"""Validation split strategies: each keeps its promise about which rows validate."""

from __future__ import annotations

import numpy as np
import pytest

from accelml.config import RunConfig
from accelml.core.splits import (
    AutoSplits,
    GroupKFoldSplits,
    HoldoutSplit,
    KFoldSplits,
    RollingOriginSplits,
    default_splitter,
)
from accelml.core.task import Task, TaskKind
from accelml.errors import DataError

BINARY = Task(TaskKind.BINARY, "y", "roc_auc", (0, 1), 1)
REGRESSION = Task(TaskKind.REGRESSION, "y", "rmse")


def test_kfold_validates_every_row_once_per_repeat() -> None:
    y = np.array([0, 1] * 20)
    splits = KFoldSplits(folds=4, repeats=2, seed=0).split(y, BINARY)
    assert len(splits) == 8
    for repeat in (splits[:4], splits[4:]):
        validated = np.sort(np.concatenate([valid for _, valid in repeat]))
        assert np.array_equal(validated, np.arange(40))


def test_auto_switches_to_one_holdout_on_large_data() -> None:
    auto = AutoSplits(KFoldSplits(4), HoldoutSplit(0.25), holdout_min_rows=30)
    assert len(auto.split(np.array([0, 1] * 10), BINARY)) == 4
    ((train, valid),) = auto.split(np.array([0, 1] * 20), BINARY)
    assert len(valid) == 10 and len(train) == 30 and not set(train) & set(valid)


@pytest.mark.parametrize(("rows", "budget", "asked", "repeats"), [
    (1_000, 60.0, None, 3),  # a small table with a minute: three runs of k-fold
    (1_001, 60.0, None, 1),
    (1_000, 30.0, None, 1),  # too short a budget for a third as many trials
    (1_000, 60.0, 1, 1),  # as asked
    (5_000, 60.0, 2, 2),
])
def test_small_tables_repeat_kfold_unless_told_otherwise(
        rows: int, budget: float, asked: int | None, repeats: int) -> None:
    config = RunConfig(time_budget=budget, cv_folds=5, cv_repeats=asked)
    y = np.array([0, 1] * (rows // 2) + [0] * (rows % 2))
    splits = default_splitter(config.validation).split(y, BINARY)
    assert len(splits) == 5 * repeats
    validated = np.concatenate([valid for _, valid in splits])
    assert np.array_equal(np.bincount(validated), np.full(rows, repeats))


def test_rolling_origin_never_trains_on_the_future() -> None:
    y = np.arange(20, dtype=np.float64)
    splits = RollingOriginSplits(horizon=3, windows=3).split(y, REGRESSION)
    assert [(len(tr), va.tolist()) for tr, va in splits] == [
        (11, [11, 12, 13]), (14, [14, 15, 16]), (17, [17, 18, 19])]
    for train, valid in splits:
        assert train.max() < valid.min()
    with pytest.raises(DataError, match="too few for a validation horizon of 30"):
        RollingOriginSplits(horizon=30).split(y, REGRESSION)


def test_group_kfold_keeps_each_group_on_one_side() -> None:
    groups = np.repeat(np.arange(10), 4)  # e.g. ten users with four rows each
    y = np.arange(40, dtype=np.float64)
    for train, valid in GroupKFoldSplits(groups, folds=5).split(y, REGRESSION):
        assert not set(groups[train]) & set(groups[valid])
    with pytest.raises(DataError, match="at least 2 groups"):
        GroupKFoldSplits(np.zeros(40)).split(y, REGRESSION)


def test_a_class_with_one_row_cannot_be_validated() -> None:
    y = np.array([0] * 10 + [1])
    for strategy in (KFoldSplits(3), HoldoutSplit(0.2)):
        with pytest.raises(DataError, match="has only 1 row"):
            strategy.split(y, BINARY)
