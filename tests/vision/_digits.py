"""Digits (8x8 grey, scikit-learn) as uint8 image features: the image tests' tiny dataset,
the same the conformance suite checks image learners on."""

from __future__ import annotations

import numpy as np

from accelml.core.task import Task, TaskKind
from accelml.testing.conformance import DIGIT_SHAPE as SHAPE
from accelml.testing.conformance import digit_features as features
from accelml.testing.conformance import digits

__all__ = ["BINARY", "MULTICLASS", "SHAPE", "digits", "features", "labels"]

MULTICLASS = Task(TaskKind.MULTICLASS, "digit", "log_loss", tuple(range(10)))
BINARY = Task(TaskKind.BINARY, "odd", "roc_auc", (0, 1), 1)


def labels(rows: slice | np.ndarray) -> np.ndarray:
    """Labels of the chosen digits."""
    return digits()[1][rows]
