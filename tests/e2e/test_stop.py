"""Ctrl-C or SIGTERM during `accelml fit`: the first keeps the best model so far (saved,
loadable, marked as stopped), the second quits at once and saves no model (the run store
stays, to be resumed). Also in process."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

import accelml
from tests.conftest import cancer_frame

BUDGET = "120"
#: The signal is sent once the run has recorded a finished trial (imports and worker start-up
#: took over 8 s on a loaded machine), and at most this many seconds after the start.
FIRST_TRIAL_WAIT_S = 60.0


def _wait_for_a_finished_trial(out: Path) -> None:
    """Block until the run store at ``out`` holds a finished trial (or the wait runs out)."""
    database = out / "run" / "trials.db"
    deadline = time.monotonic() + FIRST_TRIAL_WAIT_S
    while time.monotonic() < deadline:
        if database.is_file():
            try:
                with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1) as db:
                    done = db.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'"
                                      ).fetchone()[0]
            except sqlite3.Error:  # the schema is still being created
                done = 0
            if done:
                return
        time.sleep(0.2)


def _start_fit(train: Path, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "accelml.cli", "fit", str(train), "--target", "diagnosis",
         "--out", str(out), "--time-budget", BUDGET, "--learners", "lightgbm,linear",
         "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stop_keeps_the_best_model_so_far(cancer_files: tuple[Path, Path], tmp_path: Path,
                                            sig: signal.Signals) -> None:
    train, test = cancer_files
    out = tmp_path / "model"
    process = _start_fit(train, out)
    _wait_for_a_finished_trial(out)
    signalled = time.monotonic()
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert time.monotonic() - signalled < 30  # it stopped, it did not spend the budget
    assert f"stopped by {sig.name}" in stderr and "model saved to" in stderr
    assert "Traceback" not in stderr
    predictor = accelml.load(out)
    assert predictor.info["stopped_by"] == sig.name
    assert predictor.info["search_ended_by"] == "stopped"
    assert len(predictor.leaderboard()) >= 1
    assert predictor.evaluate(pd.read_parquet(test))["roc_auc"] > 0.9
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["run"]["ensemble"]) == 1  # the best trial alone: no member refits


@pytest.mark.slow
def test_a_second_stop_signal_quits_without_saving_a_model(cancer_files: tuple[Path, Path],
                                                           tmp_path: Path) -> None:
    train, _ = cancer_files
    out = tmp_path / "model"
    process = _start_fit(train, out)
    _wait_for_a_finished_trial(out)
    # Two different signals: the kernel would merge two pending SIGINTs into one.
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted; no model was saved" in stderr and "Traceback" not in stderr
    assert f"accelml fit --resume {out}" in stderr.replace("\n", "")
    assert not (out / "manifest.json").exists()  # no model, but the run can be resumed
    assert (out / "run" / "run.json").is_file()


@pytest.mark.slow
def test_a_stop_in_process_returns_the_best_model_so_far() -> None:
    frame = cancer_frame()
    timer = threading.Timer(4.0, os.kill, (os.getpid(), signal.SIGINT))
    started = time.monotonic()
    timer.start()
    try:
        predictor = accelml.fit(frame, "diagnosis", time_budget=120, quiet=True,
                                learners=("lightgbm", "linear"))
    finally:
        timer.cancel()
    assert time.monotonic() - started < 40
    assert predictor.info["stopped_by"] == "SIGINT"
    assert set(predictor.predict(frame.head(5))) <= {"benign", "malignant"}
