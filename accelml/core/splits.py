"""Validation split strategies: how a run's rows are divided into train/validation splits.

A modality picks the strategy its data needs (:meth:`accelml.core.modality.Modality.
splitter`): k-fold (stratified for classes, repeatable with other folds), one holdout, the
automatic choice between them by row count, or a time-ordered rolling origin. Each returns
fixed index pairs that every trial of the run shares.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from accelml.config import ValidationSettings
from accelml.core.data import Split
from accelml.core.task import Task
from accelml.errors import DataError


class SplitStrategy(Protocol):
    """Makes the run's fixed validation splits from its encoded targets."""

    def split(self, y: np.ndarray, task: Task) -> tuple[Split, ...]:
        """(train rows, validation rows) pairs, each sorted."""
        ...


def _check_classes(y: np.ndarray, task: Task) -> int:
    """The row count of the rarest class; a class with a single row is an error."""
    counts = np.bincount(y, minlength=task.n_classes)
    rarest = int(counts.min())
    if rarest < 2:
        label = task.classes[int(np.argmin(counts))]
        raise DataError(
            f"class {label!r} of target {task.target!r} has only {rarest} row; every class "
            "needs at least 2 rows to be validated: add rows of it or drop that class"
        )
    return rarest


@dataclass(frozen=True)
class KFoldSplits:
    """K-fold cross-validation, ``repeats`` times with other folds each time; stratified for
    classification, with fewer folds (and a warning) when the rarest class is rarer."""

    folds: int = 5
    repeats: int = 1
    seed: int = 0

    def split(self, y: np.ndarray, task: Task) -> tuple[Split, ...]:
        rows = np.arange(len(y))
        classify = task.kind.is_classification
        folds = self.folds
        if classify:
            rarest = _check_classes(y, task)
            if rarest < folds:
                warnings.warn(
                    f"the rarest class has {rarest} rows, fewer than {folds} folds: validating "
                    f"with {rarest} folds instead", UserWarning, stacklevel=2)
                folds = rarest
        folds = min(folds, len(y))
        splits: list[Split] = []
        kind = StratifiedKFold if classify else KFold
        for repeat in range(self.repeats):  # repeat 0 is the plain k-fold split of this seed
            splitter = kind(folds, shuffle=True, random_state=self.seed + 7919 * repeat)
            splits.extend((tr, va) for tr, va in splitter.split(rows, y))
        return tuple(splits)


@dataclass(frozen=True)
class HoldoutSplit:
    """One shuffled holdout split (stratified for classification)."""

    fraction: float = 0.2
    seed: int = 0

    def split(self, y: np.ndarray, task: Task) -> tuple[Split, ...]:
        classify = task.kind.is_classification
        if classify:
            _check_classes(y, task)
        train, valid = train_test_split(np.arange(len(y)), test_size=self.fraction,
                                        random_state=self.seed,
                                        stratify=y if classify else None)
        return ((np.sort(train), np.sort(valid)),)


@dataclass(frozen=True)
class AutoSplits:
    """K-fold below ``holdout_min_rows`` rows, one holdout split from there on: on large data
    one split is steady enough and k times cheaper."""

    kfold: KFoldSplits
    holdout: HoldoutSplit
    holdout_min_rows: int = 20_000
    #: k-fold's repeats by the row count (:meth:`ValidationSettings.repeats_for`); None
    #: keeps ``kfold``'s own.
    repeats_for: Callable[[int], int] | None = None

    def split(self, y: np.ndarray, task: Task) -> tuple[Split, ...]:
        if len(y) >= self.holdout_min_rows:
            return self.holdout.split(y, task)
        kfold = self.kfold
        if self.repeats_for is not None:
            kfold = replace(kfold, repeats=self.repeats_for(len(y)))
        return kfold.split(y, task)


@dataclass(frozen=True)
class RollingOriginSplits:
    """Time-ordered validation: rows are in time order, and each split trains on everything
    before an origin and validates on the ``horizon`` rows after it; the last origin leaves
    the final ``horizon`` rows for validation, earlier ones step back by ``horizon``. No row
    of the future is ever trained on (forecasting)."""

    horizon: int
    windows: int = 3

    def split(self, y: np.ndarray, task: Task) -> tuple[Split, ...]:
        n = len(y)
        if self.horizon < 1 or self.windows < 1:
            raise DataError(f"a rolling origin needs horizon >= 1 and windows >= 1, got "
                            f"horizon={self.horizon}, windows={self.windows}")
        splits: list[Split] = []
        for window in range(self.windows, 0, -1):
            origin = n - window * self.horizon
            if origin < 1:
                continue
            splits.append((np.arange(origin), np.arange(origin, origin + self.horizon)))
        if not splits:
            raise DataError(f"{n} rows are too few for a validation horizon of "
                            f"{self.horizon}: pass more history or a shorter horizon")
        return tuple(splits)


@dataclass(frozen=True)
class GroupKFoldSplits:
    """K-fold over groups (e.g. users): all rows of a group are on the same side of each
    split, so validation measures how a model does on groups it never saw."""

    groups: np.ndarray
    folds: int = 5
    seed: int = 0

    def split(self, y: np.ndarray, task: Task) -> tuple[Split, ...]:
        from sklearn.model_selection import GroupKFold

        distinct = len(np.unique(self.groups))
        if distinct < 2:
            raise DataError("validating by group needs at least 2 groups")
        folds = min(self.folds, distinct)
        splitter = GroupKFold(folds, shuffle=True, random_state=self.seed)
        return tuple((np.sort(tr), np.sort(va))
                     for tr, va in splitter.split(np.arange(len(y)), y, self.groups))


def default_splitter(settings: ValidationSettings) -> AutoSplits:
    """The run's validation unless its modality picks another: k-fold (repeated when asked,
    or on small tables) under ``holdout_min_rows`` rows, one holdout split above."""
    return AutoSplits(KFoldSplits(settings.folds, 1, settings.seed),
                      HoldoutSplit(settings.holdout_fraction, settings.seed),
                      settings.holdout_min_rows, settings.repeats_for)
