"""Fixtures shared by the core tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from accelml.core.data import DatasetView, Features
from accelml.core.task import Task, TaskKind


@pytest.fixture(scope="module")
def view_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny binary dataset view on disk (60 rows, two splits), as executors read it."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(np.int64)
    task = Task(TaskKind.BINARY, "y", "roc_auc", (0, 1), 1)
    rows = np.arange(60)
    splits = ((rows[:40], rows[40:]), (rows[20:], rows[:20]))
    directory = tmp_path_factory.mktemp("view")
    DatasetView(Features(X), y, task, splits).save(directory)
    return directory
