"""Digits (8x8 grey, scikit-learn) as uint8 image features: the image tests' tiny dataset."""

from __future__ import annotations

from functools import cache

import numpy as np
from sklearn.datasets import load_digits

from accelml.core.data import Features
from accelml.core.task import Task, TaskKind

SHAPE = (8, 8, 1)
MULTICLASS = Task(TaskKind.MULTICLASS, "digit", "log_loss", tuple(range(10)))
BINARY = Task(TaskKind.BINARY, "odd", "roc_auc", (0, 1), 1)


@cache
def digits() -> tuple[np.ndarray, np.ndarray]:
    """All 1797 digits as uint8 pixels 0..255 (N, 64), and their labels."""
    X, y = load_digits(return_X_y=True)
    return np.rint(X * 255 / 16).astype(np.uint8), y.astype(np.int64)


def features(rows: slice | np.ndarray) -> Features:
    """Image features of the chosen rows."""
    return Features(digits()[0][rows], item_shape=SHAPE)


def labels(rows: slice | np.ndarray) -> np.ndarray:
    return digits()[1][rows]
