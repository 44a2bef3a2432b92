"""The constant model: the class prior (classification) or the mean (regression).

It is what a run serves when no trial gives a model in time (see the fallback rule in
:meth:`accelml.core.runner.SearchLoop.serve_constant`), so a run always ends with a model
that can be saved, loaded and served. It reads no feature, so it serves tables and images
alike. Its modality is "fallback": no search ever proposes it, and naming it in --learners is
refused. ONNX export refuses it by name (it is marked ``constant``, like a one-class model).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from optuna.distributions import BaseDistribution

from accelml.core.budget import Deadline
from accelml.core.data import DataShape, Features
from accelml.core.learner import Config, Fidelity, Fitted, LearnerBase, register
from accelml.core.task import Task, TaskKind
from accelml.errors import ArtifactError

#: The learner's registered name.
CONSTANT = "constant"
MODEL_FILE = "constant.json"


@register
class ConstantLearner(LearnerBase):
    """Predicts the training rows' class shares, or their mean; never searched."""

    name: ClassVar[str] = CONSTANT
    #: (a forecast has no constant to fall back on: its steps differ per series)
    task_kinds: ClassVar[frozenset[TaskKind]] = frozenset(TaskKind) - {TaskKind.FORECAST}
    uses_gpu: ClassVar[bool] = False
    relative_cost: ClassVar[float] = 0.01
    fidelity: ClassVar[Fidelity | None] = None
    modality: ClassVar[str] = "fallback"

    def space(self, task: Task, shape: DataShape) -> Mapping[str, BaseDistribution]:
        """Nothing to tune."""
        return {}

    def portfolio(self, task: Task, shape: DataShape) -> Sequence[Config]:
        """The one config."""
        return [{}]

    def fit(self, features: Features, y: np.ndarray, config: Config, *, task: Task,
            fidelity: int | None, deadline: Deadline, n_jobs: int, seed: int,
            valid: tuple[Features, np.ndarray] | None = None) -> Fitted:
        """The class shares of ``y`` (a class absent from it gets 0), or its mean."""
        info: dict[str, Any] = {"kind": task.kind.value, "constant": True}
        if task.kind.is_classification:
            counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=task.n_classes)
            values = (counts / max(1, counts.sum())).tolist()
        else:
            values = [float(np.mean(y))] if len(y) else [0.0]
        return Fitted(self.name, values, info)

    def predict(self, fitted: Fitted, features: Features) -> np.ndarray:
        """The same row for every input row."""
        values = np.asarray(fitted.model, dtype=np.float64)
        if not TaskKind(fitted.info["kind"]).is_classification:
            return np.full(len(features), values[0])
        return np.tile(values, (len(features), 1))

    def save(self, fitted: Fitted, directory: Path) -> list[Path]:
        """One JSON file: the values and the task kind."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / MODEL_FILE
        path.write_text(json.dumps({"values": fitted.model, "kind": fitted.info["kind"]}))
        return [path]

    def load(self, directory: Path, task: Task) -> Fitted:
        """Read what :meth:`save` wrote; another task's or a malformed file is refused."""
        path = Path(directory) / MODEL_FILE
        try:
            state = json.loads(path.read_text())
            values = [float(v) for v in state["values"]]
            kind = state["kind"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ArtifactError(f"{path} is not a constant model ({error})") from None
        expected = task.n_classes if task.kind.is_classification else 1
        if kind != task.kind.value or len(values) != expected:
            raise ArtifactError(f"{path} holds a constant model for a {kind} task with "
                                f"{len(values)} values, not for this {task.kind.value} task")
        return Fitted(self.name, values, {"kind": kind, "constant": True})
