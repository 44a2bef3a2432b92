"""Learners that misbehave on purpose, for testing the engine: one that predicts the prior,
one that raises, one that hangs past every deadline, one that kills its own process, one that
sleeps (telling its pid, so a test can kill its worker), one that warm-starts, one that
allocates a given amount of memory, and one that gives up on fidelities out of its reach.

Importing this module registers them; the engine never imports it by itself. They satisfy
only the :class:`~accelml.core.learner.Learner` protocol, declaring the few optional
capabilities they have (``warm_start``, ``stops_out_of_reach``) without inheriting
:class:`~accelml.core.learner.LearnerBase`, as a third-party learner may: the engine tests
then also cover the defaults :func:`~accelml.core.learner.capabilities` gives such learners.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
from optuna.distributions import BaseDistribution, FloatDistribution

from accelml.core.budget import Deadline
from accelml.core.data import DataShape, Features
from accelml.core.learner import Config, Fidelity, FidelityOutOfReach, Fitted, register
from accelml.core.task import Task, TaskKind

ALL_KINDS = frozenset({TaskKind.BINARY, TaskKind.MULTICLASS, TaskKind.REGRESSION})


class _Prior:
    name: ClassVar[str] = "prior"
    task_kinds: ClassVar[frozenset[TaskKind]] = ALL_KINDS
    uses_gpu: ClassVar[bool] = False
    relative_cost: ClassVar[float] = 0.1
    fidelity: ClassVar[Fidelity | None] = None

    def space(self, task: Task, shape: DataShape) -> Mapping[str, BaseDistribution]:
        return {"shrink": FloatDistribution(0.0, 1.0)}

    def portfolio(self, task: Task, shape: DataShape) -> Sequence[Config]:
        return [{"shrink": 0.0}]

    def fit(self, features: Features, y: np.ndarray, config: Config, *, task: Task,
            fidelity: int | None, deadline: Deadline, n_jobs: int, seed: int,
            valid: tuple[Features, np.ndarray] | None = None) -> Fitted:
        self._misbehave()
        if task.kind.is_classification:
            counts = np.bincount(y, minlength=task.n_classes).astype(float) + 1.0
            prior = (1 - config["shrink"]) * counts / counts.sum() + config["shrink"] / len(counts)
            return Fitted(self.name, prior.tolist())
        return Fitted(self.name, [float(np.mean(y))])

    def _misbehave(self) -> None:
        """Subclasses fail here in their own way."""

    def predict(self, fitted: Fitted, features: Features) -> np.ndarray:
        values = np.asarray(fitted.model, dtype=float)
        if len(values) == 1:
            return np.full(len(features), values[0])
        return np.tile(values, (len(features), 1))

    def save(self, fitted: Fitted, directory: Path) -> list[Path]:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "prior.json"
        path.write_text(json.dumps(fitted.model))
        return [path]

    def load(self, directory: Path, task: Task) -> Fitted:
        return Fitted(self.name, json.loads((directory / "prior.json").read_text()))


@register
class PriorLearner(_Prior):
    """Predicts the class prior or the mean: a baseline that always works."""


@register
class CrashingLearner(_Prior):
    """Raises in fit."""

    name = "crashing"

    def _misbehave(self) -> None:
        raise RuntimeError("this learner always crashes")


@register
class HangingLearner(_Prior):
    """Sleeps far past any deadline, ignoring it."""

    name = "hanging"

    def _misbehave(self) -> None:
        time.sleep(3600)


@register
class DyingLearner(_Prior):
    """Kills its own process, as a segfault or the OOM killer would."""

    name = "dying"

    def _misbehave(self) -> None:
        os._exit(9)


@register
class SleepingLearner(_Prior):
    """Writes its process id to ``config["pid_file"]`` (when given), then sleeps
    ``config["sleep_s"]`` seconds ignoring its deadline: a test can kill its worker mid-trial."""

    name = "sleeping"

    def fit(self, features: Features, y: np.ndarray, config: Config, *, task: Task,
            fidelity: int | None, deadline: Deadline, n_jobs: int, seed: int,
            valid: tuple[Features, np.ndarray] | None = None) -> Fitted:
        if "pid_file" in config:
            Path(config["pid_file"]).write_text(str(os.getpid()))
        time.sleep(float(config.get("sleep_s", 3600)))
        return super().fit(features, y, config, task=task, fidelity=fidelity,
                           deadline=deadline, n_jobs=n_jobs, seed=seed, valid=valid)


@register
class WarmLearner(_Prior):
    """A warm-starting prior: given ``init_from`` it predicts the prior saved there, and says so
    in its info (``warm_started``), so a test sees the directory reached the worker."""

    name = "warm"
    warm_start: ClassVar[bool] = True

    def fit(self, features: Features, y: np.ndarray, config: Config, *, task: Task,
            fidelity: int | None, deadline: Deadline, n_jobs: int, seed: int,
            valid: tuple[Features, np.ndarray] | None = None,
            init_from: Path | None = None) -> Fitted:
        if init_from is None:
            fitted = super().fit(features, y, config, task=task, fidelity=fidelity,
                                 deadline=deadline, n_jobs=n_jobs, seed=seed, valid=valid)
            return Fitted(self.name, fitted.model, {"warm_started": 0.0})
        return Fitted(self.name, self.load(init_from, task).model, {"warm_started": 1.0})


@register
class HungryLearner(_Prior):
    """Allocates (and touches) ``config["megabytes"]`` of memory before fitting the prior."""

    name = "hungry"

    def fit(self, features: Features, y: np.ndarray, config: Config, *, task: Task,
            fidelity: int | None, deadline: Deadline, n_jobs: int, seed: int,
            valid: tuple[Features, np.ndarray] | None = None) -> Fitted:
        block = np.ones(int(config.get("megabytes", 64)) * 1024 * 1024 // 8)
        fitted = super().fit(features, y, config, task=task, fidelity=fidelity,
                             deadline=deadline, n_jobs=n_jobs, seed=seed, valid=valid)
        fitted.info["allocated_mb"] = block.nbytes / 1024 / 1024
        return fitted


@register
class ReachingLearner(_Prior):
    """Reaches fidelities up to ``config["reach"]`` (default 2); asked to reach a higher one
    (``reach_fidelity``), it raises FidelityOutOfReach, as a learner timing its steps would."""

    name = "reaching"
    fidelity: ClassVar[Fidelity | None] = Fidelity("steps", 1, 8)
    stops_out_of_reach: ClassVar[bool] = True

    def fit(self, features: Features, y: np.ndarray, config: Config, *, task: Task,
            fidelity: int | None, deadline: Deadline, n_jobs: int, seed: int,
            valid: tuple[Features, np.ndarray] | None = None,
            reach_fidelity: bool = False) -> Fitted:
        reach = int(config.get("reach", 2))
        if reach_fidelity and fidelity is not None and fidelity > reach:
            raise FidelityOutOfReach(f"out of reach: {fidelity} steps asked, {reach} fit")
        return super().fit(features, y, config, task=task, fidelity=fidelity,
                           deadline=deadline, n_jobs=n_jobs, seed=seed, valid=valid)
