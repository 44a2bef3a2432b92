"""A toy modality, written as a third party would write one, with no edit anywhere else:
sequences of integers, labelled "even" or "odd" by the parity of their sum.

It brings its input type, its preprocessor, its one learner, its file format for
``accelml predict`` (one sequence per line, numbers separated by spaces) and its serving
input (``{"sequences": [[1, 2], ...]}``). Importing this module registers the modality and
the learner (the workers import it as the modality's learner module).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
from optuna.distributions import BaseDistribution, FloatDistribution

from accelml.config import RunConfig
from accelml.core.budget import Deadline
from accelml.core.data import DataShape, Features
from accelml.core.learner import Config, Fidelity, Fitted, LearnerBase, register
from accelml.core.modality import Modality, OnProgress, Prepared, ServeInput, register_modality
from accelml.core.task import Task, TaskKind, encode_target, infer_task
from accelml.errors import DataError
from accelml.io import write_table
from accelml.testing.conformance import Case, ConformanceData, register_conformance_data

if TYPE_CHECKING:
    from accelml.core.predictor import Predictor

NAME = "sequences"


@dataclass(frozen=True)
class Sequences:
    """Integer sequences of any length, with their labels when known."""

    items: list[list[int]]
    labels: list[str] | None = None


def read_sequences(path: Path) -> Sequences:
    """One sequence per line; a line may start with its label and a colon ("even: 1 3")."""
    items, labels = [], []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        label, _, numbers = line.rpartition(":")
        try:
            items.append([int(token) for token in numbers.split()])
        except ValueError:
            raise DataError(f"{path}, line {number}: {numbers!r} is not integers separated "
                            "by spaces") from None
        labels.append(label.strip())
    return Sequences(items, labels if all(labels) else None)


class SequencePreprocessor:
    """Pads (with NaN) or cuts each sequence to the longest training length."""

    kind = NAME

    def __init__(self, length: int = 0) -> None:
        self.length = length

    def fit(self, data: Sequences) -> SequencePreprocessor:
        self.length = max(len(item) for item in data.items)
        return self

    def transform(self, data: Any) -> Features:
        items = data.items if isinstance(data, Sequences) else data
        X = np.full((len(items), self.length), np.nan)
        for row, item in enumerate(items):
            if not all(isinstance(value, int | np.integer) for value in item):
                raise DataError(f"sequence {row} holds a value that is not an integer")
            values = list(item)[: self.length]
            X[row, : len(values)] = values
        return Features(X)

    def labelled(self, data: Sequences) -> tuple[Features, list[str]]:
        if data.labels is None:
            raise DataError("evaluate needs labelled sequences")
        return self.transform(data), data.labels

    def to_dict(self) -> dict[str, Any]:
        return {"length": self.length}

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> SequencePreprocessor:
        return cls(int(state["length"]))


@register
class ParityCounts(LearnerBase):
    """Class frequencies per parity of the sequence's sum, smoothed."""

    name: ClassVar[str] = "parity_counts"
    modality: ClassVar[str] = NAME
    task_kinds: ClassVar[frozenset[TaskKind]] = frozenset({TaskKind.BINARY,
                                                           TaskKind.MULTICLASS})
    uses_gpu: ClassVar[bool] = False
    relative_cost: ClassVar[float] = 1.0
    fidelity: ClassVar[Fidelity | None] = None

    def space(self, task: Task, shape: DataShape) -> Mapping[str, BaseDistribution]:
        return {"smoothing": FloatDistribution(0.1, 5.0)}

    def portfolio(self, task: Task, shape: DataShape) -> Sequence[Config]:
        return [{"smoothing": 1.0}]

    def fit(self, features: Features, y: np.ndarray, config: Config, *, task: Task,
            fidelity: int | None, deadline: Deadline, n_jobs: int, seed: int,
            valid: tuple[Features, np.ndarray] | None = None) -> Fitted:
        counts = np.full((2, task.n_classes), float(config.get("smoothing", 1.0)))
        counts[:, np.bincount(y, minlength=task.n_classes) == 0] = 0.0  # unseen: never
        np.add.at(counts, (_parity(features), y), 1.0)
        return Fitted(self.name, (counts / counts.sum(axis=1, keepdims=True)).tolist())

    def predict(self, fitted: Fitted, features: Features) -> np.ndarray:
        return np.asarray(fitted.model)[_parity(features)]

    def save(self, fitted: Fitted, directory: Path) -> list[Path]:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "counts.json"
        path.write_text(json.dumps(fitted.model))
        return [path]

    def load(self, directory: Path, task: Task) -> Fitted:
        return Fitted(self.name, json.loads((directory / "counts.json").read_text()))


def _parity(features: Features) -> np.ndarray:
    return (np.nansum(features.X, axis=1).astype(np.int64) % 2).astype(np.int64)


def labelled_sequences(n: int, seed: int) -> Sequences:
    """``n`` random sequences of 1 to 5 digits, labelled."""
    rng = np.random.default_rng(seed)
    items = [rng.integers(0, 10, rng.integers(1, 6)).tolist() for _ in range(n)]
    return Sequences(items, ["even" if sum(item) % 2 == 0 else "odd" for item in items])


def _conformance_case() -> Case:
    data = labelled_sequences(80, seed=5)
    labels = pd.Series(data.labels)
    task = infer_task(labels, "parity")
    return task, SequencePreprocessor().fit(data).transform(data), encode_target(labels, task)


register_conformance_data(NAME, ConformanceData({TaskKind.BINARY: _conformance_case}))


@register_modality
class SequenceModality(Modality):
    """Integer sequences labelled by a class."""

    name = NAME
    learner_modules = (__name__,)
    learner_names = ("parity_counts",)
    priority = 5

    def detect(self, data: Any, task: str | None) -> bool:
        return isinstance(data, Sequences)

    def prepare(self, data: Any, target: str | None, config: RunConfig,
                options: Any = None) -> Prepared:
        if not isinstance(data, Sequences) or data.labels is None:
            raise DataError("sequence data needs its labels: Sequences(items, labels)")
        labels = pd.Series(data.labels)
        task = infer_task(labels, target or "parity", config.task, config.metric)
        preprocessor = SequencePreprocessor().fit(data)
        return Prepared(preprocessor.transform(data), encode_target(labels, task), task,
                        preprocessor, config, [f"padded to {preprocessor.length} numbers"])

    def preprocessor_from_dict(self, state: dict[str, Any]) -> SequencePreprocessor:
        return SequencePreprocessor.from_dict(state)

    def read_labelled(self, source: Path) -> Any:
        return read_sequences(source)

    def predict_file(self, predictor: Predictor, source: Path, output: Path, *, proba: bool,
                     batch_rows: int, on_progress: OnProgress | None = None) -> int:
        items = read_sequences(source).items
        write_table(pd.DataFrame({"prediction": predictor.predict(items)}), output)
        return len(items)

    def serve_input(self, predictor: Predictor, max_rows: int) -> ServeInput:
        return ServeInput(field="sequences", item_type=list[int],
                          decode=lambda items: [list(item) for item in items],
                          schema={"input": "sequences: lists of integers"},
                          example=[1, 2, 3], warm=[[1, 2]])
