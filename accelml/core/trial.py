"""Trial records: what to run and what came of it. Plain data, no behaviour.

A failed trial is a TrialResult with a status and a reason, never an exception in the loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from accelml.core.learner import FitFacts


class TrialStatus(StrEnum):
    """How a trial ended."""

    OK = "ok"
    FAILED = "failed"
    TIMEOUT = "timeout"
    OUT_OF_MEMORY = "out_of_memory"
    PRUNED = "pruned"


class TrialKind(StrEnum):
    """Search trials are validated; refit trials fit on all rows and save the model."""

    SEARCH = "search"
    REFIT = "refit"


@dataclass(frozen=True)
class TrialSpec:
    """One unit of work for an executor.

    Attributes:
        trial_id: unique within a run.
        learner: registered learner name.
        config: hyperparameters for the learner.
        fidelity: value of the learner's fidelity knob, or None for its default.
        time_limit_s: seconds the trial may run before it is killed.
        seed: seed for the learner.
        n_jobs: threads the trial may use.
        kind: search (validate) or refit (fit on all rows, save).
        output_dir: where the trial writes out-of-fold predictions or the fitted model.
        init_from: a model of the same config (saved by a search trial) that a warm-starting
            learner continues from instead of starting afresh.
        keep_folds_at_loss: with k-fold validation, save the k fold models (a bag that can be
            served without a refit) when the trial's loss is at most this; None never saves.
        timed: the learner gets ``time_limit_s`` as its deadline; False gives it none, so it
            trains exactly its fidelity (deterministic runs: the limit is only the kill cap).
        max_memory_mb: megabytes the trial may allocate beyond what its worker holds; past
            it the trial ends as OUT_OF_MEMORY (None: no cap).
        reach_fidelity: the learner may end the trial early, as PRUNED, when its measured
            pace shows it cannot come near ``fidelity`` before its deadline (learners with
            ``stops_out_of_reach``; see :class:`accelml.core.learner.FidelityOutOfReach`).
        time_one_row: record the one-row prediction time of the trial's model (its median
            over a few calls, ``info["one_row_ms"]``), for a run with a latency goal.
    """

    trial_id: int
    learner: str
    config: dict[str, Any]
    fidelity: int | None
    time_limit_s: float
    seed: int
    n_jobs: int
    kind: TrialKind = TrialKind.SEARCH
    output_dir: Path | None = None
    init_from: Path | None = None
    keep_folds_at_loss: float | None = None
    timed: bool = True
    max_memory_mb: float | None = None
    reach_fidelity: bool = False
    time_one_row: bool = False


@dataclass(frozen=True)
class TrialResult:
    """The outcome of a trial.

    Attributes:
        score: validation score in the metric's natural direction (None unless OK).
        cost_s: wall seconds the trial took.
        oof_path: out-of-fold predictions (.npy) for ensembling.
        artifact_dir: fitted model directory (refit trials, and search trials of warm-starting
            learners validated on one holdout split).
        bag_dir: the trial's k fold models, ``bag_dir/<fold>`` (when it kept them).
        error: why it failed, one line.
        info: the numbers the learner's fits reported (their mean over folds) and the device
            they ran on, for the leaderboard and the record.
        facts: what the engine reuses from the fits (:class:`~accelml.core.learner.FitFacts`,
            the mean over folds), e.g. the rounds early stopping kept.
    """

    spec: TrialSpec
    status: TrialStatus
    score: float | None = None
    cost_s: float = 0.0
    oof_path: Path | None = None
    artifact_dir: Path | None = None
    bag_dir: Path | None = None
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    facts: FitFacts = field(default_factory=FitFacts)
