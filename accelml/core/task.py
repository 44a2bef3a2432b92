"""What is asked: the kind of task, the target, the metric, the classes.

Inference looks only at the target column; every inferred value can be overridden.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from accelml.errors import ConfigError, TargetError

#: Integer targets with at most this many distinct values are read as classes.
MAX_INTEGER_CLASSES = 10

POSITIVE_NAMES = ("1", "true", "yes", "y", "positive", "pos", "t", "good", ">50k", "spam")


class TaskKind(StrEnum):
    """The kinds of supervised task the engine knows."""

    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"
    RANKING = "ranking"
    FORECAST = "forecast"

    @property
    def is_classification(self) -> bool:
        """True for binary and multiclass."""
        return self in (TaskKind.BINARY, TaskKind.MULTICLASS)


DEFAULT_METRICS = {
    TaskKind.BINARY: "roc_auc",
    TaskKind.MULTICLASS: "log_loss",
    TaskKind.REGRESSION: "rmse",
    TaskKind.RANKING: "ndcg@10",
    TaskKind.FORECAST: "mase",
}


@dataclass(frozen=True)
class Task:
    """A task as the engine sees it.

    ``classes`` holds the original labels in encoded order: label ``classes[i]`` is encoded as
    ``i``. ``positive_index`` is the encoded positive class of a binary task.
    """

    kind: TaskKind
    target: str
    metric: str
    classes: tuple[Any, ...] = field(default=())
    positive_index: int | None = None

    @property
    def n_classes(self) -> int:
        """Number of classes (0 for regression)."""
        return len(self.classes)

    @property
    def positive_class(self) -> Any:
        """The label whose probability binary metrics score, or None."""
        return None if self.positive_index is None else self.classes[self.positive_index]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the manifest."""
        return {
            "kind": self.kind.value,
            "target": self.target,
            "metric": self.metric,
            "classes": [_to_json_scalar(c) for c in self.classes],
            "positive_index": self.positive_index,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Task:
        """Inverse of :meth:`to_dict`."""
        return cls(
            kind=TaskKind(data["kind"]),
            target=data["target"],
            metric=data["metric"],
            classes=tuple(data["classes"]),
            positive_index=data["positive_index"],
        )


def _to_json_scalar(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def infer_kind(y: pd.Series) -> TaskKind:
    """Guess the task kind from the target's dtype and distinct values."""
    values = y.dropna()
    n_unique = values.nunique()
    if pd.api.types.is_bool_dtype(values) or n_unique == 2:
        return TaskKind.BINARY
    if not pd.api.types.is_numeric_dtype(values):
        return TaskKind.MULTICLASS
    as_float = values.astype(float)
    is_integral = bool(np.all(np.isclose(as_float, np.round(as_float))))
    if is_integral and n_unique <= MAX_INTEGER_CLASSES:
        return TaskKind.MULTICLASS
    return TaskKind.REGRESSION


def _choose_positive(classes: list[Any], y: pd.Series, requested: Any) -> int:
    if requested is not None:
        names = [str(c) for c in classes]
        if str(requested) not in names:
            raise ConfigError(
                f"positive class {requested!r} is not a class of the target; "
                f"classes are {classes}"
            )
        return names.index(str(requested))
    for index, label in enumerate(classes):
        if str(label).strip().lower() in POSITIVE_NAMES:
            return index
    counts = y.value_counts()
    minority = counts.idxmin() if counts.iloc[0] != counts.iloc[-1] else classes[-1]
    return classes.index(minority)


def infer_task(
    y: pd.Series,
    target: str,
    kind: str | TaskKind | None = None,
    metric: str | None = None,
    positive_class: Any = None,
) -> Task:
    """Build the Task for target values ``y`` (missing values already dropped).

    Raises:
        TargetError: a classification target with one class, or a regression target that is
            not numeric.
    """
    task_kind = TaskKind(kind) if kind is not None else infer_kind(y)
    if task_kind.is_classification:
        classes = sorted(y.unique().tolist(), key=_sort_key)
        if len(classes) < 2:
            raise TargetError(
                f"target {target!r} has a single class ({classes[0]!r}); classification needs "
                "at least two classes: check the target column or the rows you passed"
            )
        if task_kind is TaskKind.BINARY and len(classes) > 2:
            raise ConfigError(
                f"task 'binary' was asked for but target {target!r} has {len(classes)} classes; "
                "use --task multiclass"
            )
        if task_kind is TaskKind.MULTICLASS and len(classes) == 2:
            task_kind = TaskKind.BINARY
        positive = _choose_positive(classes, y, positive_class)
        positive_index = positive if task_kind is TaskKind.BINARY else None
    else:
        if not pd.api.types.is_numeric_dtype(y):
            raise TargetError(
                f"regression needs a numeric target but {target!r} holds {y.dtype} values "
                f"such as {y.iloc[0]!r}; use --task binary or multiclass"
            )
        classes, positive_index = [], None
    metric_name = metric or DEFAULT_METRICS[task_kind]
    from accelml.core.metrics import get_metric  # late: metrics imports this module

    get_metric(metric_name).check_task(task_kind)
    return Task(task_kind, target, metric_name, tuple(classes), positive_index)


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool | np.bool_):
        return (0, int(value))
    if isinstance(value, int | float | np.number):
        return (0, float(value))
    return (1, str(value))


def encode_target(y: pd.Series, task: Task) -> np.ndarray:
    """Targets as the learners eat them: class indices, or floats for regression."""
    if not task.kind.is_classification:
        return y.to_numpy(dtype=np.float64)
    lookup = {_to_json_scalar(c): i for i, c in enumerate(task.classes)}
    codes = y.map(lambda v: lookup.get(_to_json_scalar(v), -1)).to_numpy(dtype=np.int64)
    if (codes < 0).any():
        unknown = y[codes < 0].iloc[0]
        raise TargetError(
            f"target value {unknown!r} is not one of the classes {list(task.classes)}"
        )
    return codes


def decode_target(codes: np.ndarray, task: Task) -> np.ndarray:
    """Class indices back to the labels as they were in the training target."""
    labels: np.ndarray = np.asarray(list(task.classes))[codes]
    return labels
