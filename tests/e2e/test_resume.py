"""Resumable runs: `accelml fit` killed with SIGKILL half way, then `--resume`, keeps every
trial it finished and spends only the rest of the budget; bad resumes are clear errors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest

import accelml
from accelml.errors import ConfigError
from tests.conftest import cancer_frame

BUDGET = 40.0
#: Finished trials to wait for before the kill ...
TRIALS_BEFORE_KILL = 3
#: ... and the run's trial cap: the resumed session ends on it, not on the clock, so it
#: searches on however busy the machine is.
MAX_TRIALS = 8


def _fit_command(train: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "accelml.cli", "fit", str(train), "--target", "diagnosis",
            "--out", str(out), "--time-budget", str(BUDGET), "--learners", "lightgbm,linear",
            "--max-trials", str(MAX_TRIALS), "--quiet", *extra]


def _stored_ids(out: Path) -> set[int]:
    """Ids of the trials in the run's store, read without touching the run."""
    path = out / "run" / "run.json"
    if not path.is_file():
        return set()
    meta = json.loads(path.read_text())
    try:
        study = optuna.load_study(study_name=meta["study_name"], storage=meta["storage"])
    except KeyError:  # the study is being created
        return set()
    return {int(t.user_attrs["accelml"]["trial_id"]) for t in study.trials}


def _stored_trials(out: Path) -> int:
    """How many trials the run's store holds (0 before it exists)."""
    return len(_stored_ids(out))


def _kill_after_trials(process: subprocess.Popen[str], out: Path, trials: int) -> int:
    """SIGKILL the driver once ``trials`` are stored; return how many were stored."""
    deadline = time.monotonic() + 60
    while _stored_trials(out) < trials:
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "the run stored too few trials"
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    return _stored_trials(out)


@pytest.mark.slow
def test_a_killed_run_resumes_with_every_finished_trial(cancer_files: tuple[Path, Path],
                                                        tmp_path: Path) -> None:
    train, test = cancer_files
    out = tmp_path / "model"
    process = subprocess.Popen(_fit_command(train, out), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    kept = _kill_after_trials(process, out, TRIALS_BEFORE_KILL)
    kept_ids = _stored_ids(out)  # trials finish out of order: not always 0 .. kept - 1
    assert not (out / "manifest.json").exists()
    spent = json.loads((out / "run" / "run.json").read_text())["spent_s"]
    assert 0 < spent < BUDGET

    fresh = subprocess.run(_fit_command(train, out), capture_output=True, text=True)
    assert fresh.returncode != 0 and "holds an unfinished run" in fresh.stderr
    assert (out / "run" / "run.json").is_file()  # the refused run touched nothing

    resumed = subprocess.run([sys.executable, "-m", "accelml.cli", "fit", "--resume",
                              str(out), "--quiet"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"kept {kept} finished trials" in resumed.stderr
    info = accelml.load(out).info
    assert info["resumed"] == 1 and info["resumed_trials"] == kept
    assert kept < info["trials"] <= MAX_TRIALS  # it searched on, counting the kept trials
    assert info["search_ended_by"] == "max_trials"
    assert info["spent_before_resume_s"] == pytest.approx(spent, abs=0.01)
    # the budget is the run's, not each session's: both sessions together stay within it
    assert info["search_and_refit_s"] <= BUDGET * 1.1
    board = accelml.load(out).leaderboard()
    assert kept_ids <= set(board["trial"])  # the earlier trials stand on it
    rows = pd.read_parquet(test).drop(columns=["diagnosis"])
    assert len(accelml.load(out).predict(rows)) == len(rows)

    again = subprocess.run([sys.executable, "-m", "accelml.cli", "fit", "--resume", str(out)],
                           capture_output=True, text=True)
    assert again.returncode != 0 and "already finished" in again.stderr
    assert "Traceback" not in again.stderr


def test_resume_needs_a_run_and_the_same_data(tmp_path: Path) -> None:
    missing = subprocess.run([sys.executable, "-m", "accelml.cli", "fit", "--resume",
                              str(tmp_path / "none")], capture_output=True, text=True)
    assert missing.returncode != 0 and "holds no run to resume" in missing.stderr
    no_data = subprocess.run([sys.executable, "-m", "accelml.cli", "fit"],
                             capture_output=True, text=True)
    assert no_data.returncode == 2 and "missing the training data" in no_data.stderr

    frame = cancer_frame()
    out = tmp_path / "model"
    with pytest.raises(accelml.errors.SearchError):  # no trial in time, strict: nothing kept
        accelml.fit(frame, "diagnosis", time_budget=1e-3, out=out, quiet=True, strict=True)
    assert not out.exists()


@pytest.mark.slow
def test_resuming_with_other_data_is_refused_and_keeps_the_run(tmp_path: Path) -> None:
    frame = cancer_frame()
    out = tmp_path / "model"
    from accelml.core.store import RunStore

    store = RunStore.create(out, {"data": None, "target": "diagnosis", "time_budget": 6.0,
                                  "task": None, "metric": None, "preset": "medium",
                                  "options": {"quiet": True, "learners": ["linear"]}})
    store.meta["data_fingerprint"] = "not-this-data"
    store.save_meta()
    with pytest.raises(ConfigError, match="started from data in memory; pass the same data"):
        accelml.resume(out)
    with pytest.raises(ConfigError, match="the data differs from the data this run started"):
        accelml.resume(out, data=frame)
    assert (out / "run" / "run.json").is_file()  # nothing lost: it can still be resumed
