"""Learners that validate well (binary: the first feature's sign, which is the tests' target)
but fail their final fit on all rows (a fit with no validation split): one raises, one hangs
past every deadline, one allocates ``config["megabytes"]``. Imported by the fallback tests
and their trial workers."""

from __future__ import annotations

import time

import numpy as np

from accelml.core.budget import Deadline
from accelml.core.data import Features
from accelml.core.learner import Config, Fitted, register
from accelml.core.task import Task
from accelml.testing.fake_learners import PriorLearner


class _RefitFault(PriorLearner):
    def fit(self, features: Features, y: np.ndarray, config: Config, *, task: Task,
            fidelity: int | None, deadline: Deadline, n_jobs: int, seed: int,
            valid: tuple[Features, np.ndarray] | None = None) -> Fitted:
        if valid is None:  # the final fit: search trials always validate
            self._fail_refit(config)
        return super().fit(features, y, config, task=task, fidelity=fidelity,
                           deadline=deadline, n_jobs=n_jobs, seed=seed, valid=valid)

    def _fail_refit(self, config: Config) -> None:
        raise RuntimeError("this refit always crashes")

    def predict(self, fitted: Fitted, features: Features) -> np.ndarray:
        positive = 1.0 / (1.0 + np.exp(-3.0 * features.X[:, 0]))
        return np.column_stack([1.0 - positive, positive])


@register
class RefitCrashing(_RefitFault):
    name = "refit_crashing"


@register
class RefitHanging(_RefitFault):
    name = "refit_hanging"

    def _fail_refit(self, config: Config) -> None:
        time.sleep(3600)


@register
class RefitHungry(_RefitFault):
    name = "refit_hungry"

    def _fail_refit(self, config: Config) -> None:
        block = np.ones(int(config.get("megabytes", 512)) * 1024 * 1024 // 8)
        block.sum()
