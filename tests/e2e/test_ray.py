"""`--backend ray` end to end on a real two-node Ray cluster: a short search scores like the
local backend on the same seed, and a Ray worker killed mid-trial fails that trial only."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import accelml
from tests.conftest import cancer_frame, split

pytest.importorskip("ray")

LEARNERS = ("lightgbm", "linear")
#: A trial cap ends both searches well before their budget on an idle machine; the budget
#: still bounds them on a busy one (Ray's start-up alone takes seconds there).
MAX_TRIALS = 6
#: Seconds for each search: on a machine running a second test suite beside this one, Ray
#: took 8 s to start the first trials and the blend's member refits, stacking and loading
#: 5 s, more than 14 s leaves after the search; the 10 % bound below holds to this budget.
BUDGET = 20


@pytest.mark.slow
def test_a_search_on_ray_scores_like_the_local_backend(ray_nodes: Any) -> None:
    train, test = split(cancer_frame())
    local = accelml.fit(train, "diagnosis", BUDGET, quiet=True, learners=LEARNERS, seed=0,
                        max_trials=MAX_TRIALS)
    on_ray = accelml.fit(train, "diagnosis", BUDGET, quiet=True, learners=LEARNERS, seed=0,
                         max_trials=MAX_TRIALS, backend="ray",
                         ray_address=str(ray_nodes.address))
    assert on_ray.info["backend"] == "ray" and local.info["backend"] == "local"
    assert on_ray.info["workers"] == 2 and on_ray.info["threads_per_trial"] == 1
    # how many trials fit in the budget depends on the machine's load (Ray's start-up takes
    # seconds on a busy one); that they all succeed and score like local ones does not
    assert on_ray.info["trials"] >= 2 and on_ray.info["failed_trials"] == 0
    assert on_ray.info["search_and_refit_s"] <= BUDGET * 1.1
    local_auc = local.evaluate(test)["roc_auc"]
    ray_auc = on_ray.evaluate(test)["roc_auc"]
    assert ray_auc > 0.95 and abs(ray_auc - local_auc) < 0.02


def test_a_ray_worker_killed_mid_trial_fails_that_trial_only(ray_nodes: Any,
                                                            tmp_path: Path) -> None:
    from accelml.config import RunConfig
    from accelml.core.budget import Budget
    from accelml.core.engine import fit_predictor
    from tests.core.test_fault_tolerance import (
        MODULES,
        PORTFOLIOS,
        _Identity,
        _kill_when_written,
        _view,
    )

    pid_file = tmp_path / "pid"
    config = RunConfig(time_budget=12, learners=("sleeping", "prior"), quiet=True,
                       max_trials=PORTFOLIOS, backend="ray", ray_address=str(ray_nodes.address))
    killed: list[int] = []
    killer = threading.Thread(target=_kill_when_written, args=(pid_file, killed))
    killer.start()
    predictor = fit_predictor(_view(config), _Identity(), config, Budget(12), MODULES,
                              fixed={"sleeping": {"pid_file": str(pid_file), "sleep_s": 60}})
    killer.join()
    assert killed
    board = predictor.leaderboard()
    first = board[board["learner"] == "sleeping"].sort_values("trial").iloc[0]
    assert first["status"] == "failed" and first["error"].startswith("Ray worker died")
    assert predictor.info["final_learner"] == "prior"


def test_a_bad_backend_or_address_is_a_clear_cli_error(cancer_files: tuple[Path, Path],
                                                       tmp_path: Path) -> None:
    train, _ = cancer_files
    base = [sys.executable, "-m", "accelml.cli", "fit", str(train), "--target", "diagnosis",
            "--out", str(tmp_path / "model"), "--time-budget", "5", "--quiet"]
    wrong = subprocess.run([*base, "--backend", "spark"], capture_output=True, text=True)
    assert wrong.returncode == 2 and "unknown backend 'spark'; use one of local, ray" in (
        wrong.stderr)
    alone = subprocess.run([*base, "--ray-address", "auto"], capture_output=True, text=True)
    assert alone.returncode == 2 and "add --backend ray" in alone.stderr
    unreachable = subprocess.run([*base, "--backend", "ray", "--ray-address", "127.0.0.1:1"],
                                 capture_output=True, text=True)
    assert unreachable.returncode == 2
    assert "cannot reach a Ray cluster at --ray-address '127.0.0.1:1'" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr
    assert not (tmp_path / "model").exists()


def test_the_memory_cap_holds_in_ray_workers(ray_nodes: Any) -> None:
    from accelml.config import RunConfig
    from accelml.core.budget import Budget
    from accelml.core.engine import fit_predictor
    from tests.core.test_fault_tolerance import MODULES, PORTFOLIOS, _Identity, _view

    config = RunConfig(time_budget=6, learners=("hungry", "prior"), quiet=True,
                       max_trial_memory_mb=64, max_trials=PORTFOLIOS, backend="ray",
                       ray_address=str(ray_nodes.address))
    predictor = fit_predictor(_view(config), _Identity(), config, Budget(6), MODULES,
                              fixed={"hungry": {"megabytes": 512}})
    board = predictor.leaderboard()
    hungry = board[board["learner"] == "hungry"]
    assert len(hungry) >= 1 and set(hungry["status"]) == {"out_of_memory"}
    assert predictor.info["final_learner"] == "prior"
