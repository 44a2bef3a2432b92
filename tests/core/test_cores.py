"""The search's layout follows the load of other work: fewer trials side by side while a
second job runs, more once it ends; the load is the machine's less this process tree's."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from accelml.config import RunConfig
from accelml.core import cores, reserve
from accelml.core.budget import Budget
from accelml.core.data import Features
from accelml.core.engine import build_view
from accelml.core.runner import SearchLoop
from accelml.core.task import Task, TaskKind

BINARY = Task(TaskKind.BINARY, "y", "roc_auc", (0, 1), 1)


def test_workers_and_threads_keep_to_the_free_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reserve.os, "cpu_count", lambda: 2)
    two = RunConfig(time_budget=10, n_jobs=2).execution  # two workers, a thread each
    assert reserve.active_workers(two, 0.1) == 2
    assert reserve.active_workers(two, 1.0) == 1 and reserve.trial_threads(two, 1.0) == 1
    assert reserve.active_workers(two, 5.0) == 1
    monkeypatch.setattr(reserve.os, "cpu_count", lambda: 16)
    big = RunConfig(time_budget=10, n_jobs=16).execution  # two workers of 8 threads
    assert (reserve.active_workers(big, 8.0), reserve.trial_threads(big, 8.0)) == (2, 4)
    assert (reserve.active_workers(big, 15.0), reserve.trial_threads(big, 15.0)) == (1, 1)
    named = RunConfig(time_budget=10, n_jobs=16, n_workers=2).execution  # the run's choice
    assert (reserve.active_workers(named, 15.0), reserve.trial_threads(named, 15.0)) == (2, 1)


def test_other_load_is_the_machine_less_this_process_tree(
        monkeypatch: pytest.MonkeyPatch) -> None:
    readings = iter([(0.0, 1000, 500), (4.0, 1800, 900)])  # 800 ticks in all, 400 ours
    monkeypatch.setattr(cores.OtherLoad, "_read", lambda self: next(readings))
    monkeypatch.setattr(cores.time, "monotonic", lambda: 4.0)
    load = cores.OtherLoad()
    load._hz = 100
    assert load.sample() == pytest.approx(1.0)  # 400 ticks of others in 4 s: one core


def test_other_load_reads_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    if not Path("/proc/stat").exists():
        pytest.skip("no /proc on this system")
    monkeypatch.setattr(cores, "EVERY_S", 0.5)
    load = cores.OtherLoad()
    assert cores._tree_ticks(os.getpid()) > 0
    while (sample := load.sample()) is None:  # until the first window closes
        time.sleep(0.05)
    assert 0.0 <= sample <= (os.cpu_count() or 1) + 0.5


class _Load:
    def __init__(self, values: list[float]) -> None:
        self.values = values

    def sample(self) -> float | None:
        return self.values.pop(0) if self.values else None


def test_the_search_follows_a_second_job_that_starts_and_ends(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(reserve.os, "cpu_count", lambda: 2)
    config = RunConfig(time_budget=10, n_jobs=2)
    X = np.random.default_rng(0).normal(size=(60, 2))
    view = build_view(Features(X), (X[:, 0] > 0).astype(np.int64), BINARY, config)
    loop = SearchLoop(view, config, Budget(10), None, None,  # type: ignore[arg-type]
                      tmp_path, busy_elsewhere=0.0)
    assert (loop.workers, loop.threads) == (2, 1)
    loop._load = _Load([1.0, 1.0, 0.0, 0.0])  # type: ignore[assignment]
    loop._follow_load()
    assert loop.workers == 2  # one busy window beside an idle one: the mean rounds down
    loop._follow_load()
    assert loop.workers == 1
    loop._follow_load()
    loop._follow_load()
    assert loop.workers == 2
    assert [layout["workers"] for layout in loop.layouts] == [2, 1, 2]
    deterministic = config.with_changes(deterministic=True)
    fixed = SearchLoop(view, deterministic, Budget(10), None, None,  # type: ignore[arg-type]
                       tmp_path, busy_elsewhere=1.0)
    assert fixed.workers == 2 and fixed._load is None
