"""Faults during a real search: a worker killed with SIGKILL mid-trial and a trial past its
memory cap are trial records with reasons; the run completes with the model that worked."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from accelml.config import RunConfig
from accelml.core.budget import Budget
from accelml.core.data import DatasetView, Features
from accelml.core.engine import build_view, fit_predictor
from accelml.core.task import Task, TaskKind
from accelml.errors import ConfigError

MODULES = ("accelml.testing.fake_learners",)
#: The runs of two fake learners stop after their portfolio configs (one each, run first):
#: the faulty learner's trial and the prior's that the run then serves.
PORTFOLIOS = 2
BINARY = Task(TaskKind.BINARY, "y", "roc_auc", ("a", "b"), 1)


class _Identity:
    kind = "tabular"  # the engine searches the learners of this modality (the fake ones)
    schema = None

    def to_dict(self) -> dict[str, object]:
        return {}


def _view(config: RunConfig) -> DatasetView:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 2))
    return build_view(Features(X), (X[:, 0] > 0).astype(np.int64), BINARY, config)


def _kill_when_written(pid_file: Path, killed: list[int]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if pid_file.is_file() and pid_file.read_text():
            pid = int(pid_file.read_text())
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            return
        time.sleep(0.05)


def test_a_worker_killed_mid_trial_is_a_failed_trial_not_a_failed_run(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    config = RunConfig(time_budget=10, learners=("sleeping", "prior"), quiet=True, n_jobs=2,
                       n_workers=2, max_trials=PORTFOLIOS)
    killed: list[int] = []
    killer = threading.Thread(target=_kill_when_written, args=(pid_file, killed))
    killer.start()
    predictor = fit_predictor(_view(config), _Identity(), config, Budget(10), MODULES,
                              fixed={"sleeping": {"pid_file": str(pid_file), "sleep_s": 60}})
    killer.join()
    assert killed, "the sleeping learner never started"
    board = predictor.leaderboard()
    first = board[board["learner"] == "sleeping"].sort_values("trial").iloc[0]
    assert first["status"] == "failed"
    assert "worker process died (killed by SIGKILL" in first["error"]
    assert predictor.info["final_learner"] == "prior"


def test_a_trial_past_its_memory_cap_is_out_of_memory() -> None:
    config = RunConfig(time_budget=8, learners=("hungry", "prior"), quiet=True, n_jobs=2,
                       max_trial_memory_mb=64, max_trials=PORTFOLIOS)
    predictor = fit_predictor(_view(config), _Identity(), config, Budget(8), MODULES,
                              fixed={"hungry": {"megabytes": 512}})
    board = predictor.leaderboard()
    hungry = board[board["learner"] == "hungry"]
    assert len(hungry) >= 1 and set(hungry["status"]) == {"out_of_memory"}
    assert "needed more than the 64 MB --max-trial-memory allows" in hungry["error"].iloc[0]
    assert predictor.info["final_learner"] == "prior"


def test_without_a_cap_the_same_trial_succeeds() -> None:
    config = RunConfig(time_budget=6, learners=("hungry",), quiet=True, n_jobs=2, max_trials=1)
    predictor = fit_predictor(_view(config), _Identity(), config, Budget(6), MODULES,
                              fixed={"hungry": {"megabytes": 64}})
    assert set(predictor.leaderboard()["status"]) == {"ok"}


def test_a_memory_cap_below_16_mb_is_refused() -> None:
    with pytest.raises(ConfigError, match="max_trial_memory_mb must be at least 16"):
        RunConfig(max_trial_memory_mb=8)
