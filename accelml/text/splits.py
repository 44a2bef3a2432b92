"""Validation splits for texts with near-duplicates: a group never straddles a split, and
only roots (each group's longest text) are validated (:mod:`accelml.text.duplicates`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

from accelml.config import ValidationSettings
from accelml.core.data import Split
from accelml.core.splits import default_splitter
from accelml.core.task import Task
from accelml.errors import DataError
from accelml.text.duplicates import DuplicateGroups


@dataclass(frozen=True)
class NearDuplicateSplits:
    """K-fold over near-duplicate groups below ``holdout_min_rows`` rows, one holdout of
    ``holdout_fraction`` of the groups above (stratified by class for classification);
    validation rows are the held-out groups' roots. Data without near-duplicates gets the
    run's usual splits."""

    duplicates: DuplicateGroups
    settings: ValidationSettings

    def split(self, y: np.ndarray, task: Task) -> tuple[Split, ...]:
        if self.duplicates.grouped_rows == 0:
            return default_splitter(self.settings).split(y, task)
        groups = self.duplicates.groups
        n_groups = self.duplicates.n_groups
        if n_groups < 2:
            raise DataError("all texts are copies or pieces of one text: there is nothing to "
                            "validate on; pass more distinct texts")
        holdout = len(y) >= self.settings.holdout_min_rows
        folds = (max(2, round(1 / self.settings.holdout_fraction)) if holdout
                 else self.settings.folds)
        folds = min(folds, n_groups)
        repeats = 1 if holdout else self.settings.repeats_for(len(y))
        splits: list[Split] = []
        for repeat in range(repeats):
            seed = self.settings.seed + 7919 * repeat
            if task.kind.is_classification:
                splitter: GroupKFold | StratifiedGroupKFold = StratifiedGroupKFold(
                    folds, shuffle=True, random_state=seed)
            else:
                splitter = GroupKFold(folds, shuffle=True, random_state=seed)
            pairs = splitter.split(np.arange(len(y)), y, groups)
            for train, valid in (pairs if not holdout else [next(iter(pairs))]):
                valid = valid[self.duplicates.roots[valid]]
                splits.append((np.sort(train), np.sort(valid)))
        return tuple(splits)
