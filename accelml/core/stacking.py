"""A stacking level over the blend's members (stacked generalization, Wolpert 1992; the
super learner of van der Laan et al.): a regularized linear model learned on the members'
out-of-fold predictions, served over the members' final fits.

Where the greedy blend can only average, the stacker can sharpen or soften probabilities
(a logistic model over log-probabilities) and correct a regressor's scale and offset. It is
served only when it validates better than the blend, both judged the same way: each fold of
the members' out-of-fold rows is predicted by a stacker, and by greedy blend weights, chosen
on the other folds.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold

from accelml.core.budget import Deadline
from accelml.core.ensemble import blend_loss, covered_rows, greedy_weights
from accelml.core.task import Task

#: Folds of the stacker's own cross-validation.
FOLDS = 5
#: Rows x inputs the stacker is learned from at most (a seeded sample of rows): plenty for
#: its few dozen coefficients, and a second or two on the largest datasets.
MAX_CELLS = 1_000_000
#: Inverse regularization strength of the logistic stacker (strong: its inputs are few and
#: collinear, and the rows are the search's validation rows, already used to pick members).
C = 0.1
#: Solver iterations at most: an early-stopped fit (from zero weights) is regularized too,
#: and a fit takes under a second on the largest inputs the row cap allows.
MAX_ITER = 100
#: Probabilities are clipped here before the logarithm, so one overconfident member cannot
#: dominate.
EPSILON = 1e-3


@dataclass(frozen=True)
class Stacker:
    """A linear model over the members' predictions: ``logistic`` (probabilities out of a
    softmax over ``log p @ coef + intercept``) or ``linear`` (values, non-negative weights).
    ``groups`` are the trial ids of the members whose predictions it reads, in its order."""

    kind: str
    groups: tuple[int, ...]
    coef: np.ndarray
    intercept: np.ndarray

    def combine(self, predictions: Sequence[np.ndarray]) -> np.ndarray:
        """The stacked prediction from each group's prediction (in ``groups`` order)."""
        inputs = stack_inputs(predictions, self.kind)
        return _outputs(inputs @ self.coef + self.intercept, self.kind)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state (saved in the model's manifest)."""
        return {"kind": self.kind, "groups": list(self.groups), "coef": self.coef.tolist(),
                "intercept": self.intercept.tolist()}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Stacker:
        """The stacker :meth:`to_dict` wrote."""
        return cls(state["kind"], tuple(int(g) for g in state["groups"]),
                   np.asarray(state["coef"], dtype=np.float64),
                   np.asarray(state["intercept"], dtype=np.float64))


def stack_inputs(predictions: Sequence[np.ndarray], kind: str) -> np.ndarray:
    """The stacker's input matrix: log-probabilities side by side, or values as columns."""
    if kind == "linear":
        return np.column_stack([np.asarray(p, dtype=np.float64).reshape(-1)
                                for p in predictions])
    return np.hstack([np.log(np.clip(p, EPSILON, 1.0)) for p in predictions])


def _fit(inputs: np.ndarray, y: np.ndarray, task: Task) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (n_inputs, n_outputs) and intercepts of the level-two model."""
    if not task.kind.is_classification:
        model = LinearRegression(positive=True).fit(inputs, y)
        return model.coef_.reshape(-1, 1), np.atleast_1d(model.intercept_)
    present = np.unique(y)
    with warnings.catch_warnings():  # an unconverged fit still ranks fine; CV judges it
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LogisticRegression(C=C, max_iter=MAX_ITER).fit(inputs, y)
    coef = np.zeros((inputs.shape[1], task.n_classes))
    intercept = np.full(task.n_classes, -1e3)  # a class the rows never show stays unlikely
    if len(present) == 2 and model.coef_.shape[0] == 1:  # sklearn's binary form: one row
        coef[:, present[1]], intercept[present[1]] = model.coef_[0], model.intercept_[0]
        coef[:, present[0]], intercept[present[0]] = 0.0, 0.0
    else:
        coef[:, present], intercept[present] = model.coef_.T, model.intercept_
    return coef, intercept


def _folds(y: np.ndarray, task: Task, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds when every class has a row per fold, else plain shuffled folds."""
    if task.kind.is_classification:
        counts = np.bincount(y.astype(np.int64))
        if counts[counts > 0].min() >= FOLDS:
            return list(StratifiedKFold(FOLDS, shuffle=True, random_state=seed).split(y, y))
    return list(KFold(FOLDS, shuffle=True, random_state=seed).split(y))


class OutOfTime(Exception):
    """The stacker's next step would end past its deadline."""


def _cross_validated(inputs: np.ndarray, y: np.ndarray, task: Task, kind: str,
                     folds: list[tuple[np.ndarray, np.ndarray]], deadline: Deadline) -> np.ndarray:
    """Out-of-fold stacked predictions for every row (each from a stacker not fit on it).
    Raises OutOfTime when the fits so far say the next one would end past ``deadline``."""
    out = np.zeros((len(y), task.n_classes) if task.kind.is_classification else len(y))
    slowest = 0.0
    for train, held in folds:
        if task.kind.is_classification and len(np.unique(y[train])) < 2:
            raise ValueError("a stacker fold holds a single class")
        if deadline.remaining() < 2 * slowest:  # this fold and the final fit
            raise OutOfTime
        started = time.monotonic()
        coef, intercept = _fit(inputs[train], y[train], task)
        slowest = max(slowest, time.monotonic() - started)
        out[held] = _outputs(inputs[held] @ coef + intercept, kind)
    if deadline.remaining() < 1.5 * slowest:
        raise OutOfTime
    return out


def _blend_cross_validated(predictions: Sequence[np.ndarray], y: np.ndarray, task: Task,
                           folds: list[tuple[np.ndarray, np.ndarray]], deadline: Deadline
                           ) -> np.ndarray:
    """Out-of-fold blend predictions: greedy weights (the first member always in) chosen on
    the other folds."""
    out = np.zeros_like(predictions[0], dtype=np.float64)
    for train, held in folds:
        if deadline.expired():
            raise OutOfTime
        weights = greedy_weights([p[train] for p in predictions], y[train], task, first=0)
        out[held] = sum(w * p[held] for w, p in zip(weights, predictions, strict=True))
    return out


def _outputs(scores: np.ndarray, kind: str) -> np.ndarray:
    """Values, or a softmax over the class scores."""
    if kind == "linear":
        return np.asarray(scores.reshape(-1), dtype=np.float64)
    scores = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(scores)
    return np.asarray(exp / exp.sum(axis=1, keepdims=True), dtype=np.float64)


@dataclass(frozen=True)
class StackChoice:
    """The stacker learned on all rows and the two cross-validated losses it was judged by."""

    stacker: Stacker
    stacked_loss: float
    blend_loss: float

    @property
    def wins(self) -> bool:
        """Whether the stacker validated better than the blend."""
        return self.stacked_loss < self.blend_loss - 1e-9


def fit_stacker(groups: Sequence[int], predictions: Sequence[np.ndarray], y: np.ndarray,
                task: Task, seed: int = 0, deadline: Deadline | None = None
                ) -> StackChoice | None:
    """Learn a stacker over the members' out-of-fold ``predictions`` (rows of ``y``; rows
    some member lacks are left out; the first member is the search's chosen one) and judge
    it against a greedy blend of the same members. None when too few rows are covered.

    Raises:
        OutOfTime: the fits so far say it cannot finish before ``deadline``.
    """
    deadline = deadline or Deadline.never()
    kind = "logistic" if task.kind.is_classification else "linear"
    arrays = [np.asarray(p, dtype=np.float64) for p in predictions]
    rows = np.flatnonzero(covered_rows(arrays))
    if len(rows) < 10 * FOLDS:
        return None
    width = sum(1 if p.ndim == 1 else p.shape[1] for p in arrays)
    most = max(MAX_CELLS // width, 20 * FOLDS)
    if len(rows) > most:
        rows = np.sort(np.random.default_rng(seed).choice(rows, most, replace=False))
    members = [p[rows] for p in arrays]
    inputs, target = stack_inputs(members, kind), y[rows]
    folds = _folds(target, task, seed)
    try:
        stacked = _cross_validated(inputs, target, task, kind, folds, deadline)
    except ValueError:
        return None
    blended = _blend_cross_validated(members, target, task, folds, deadline)
    coef, intercept = _fit(inputs, target, task)
    return StackChoice(Stacker(kind, tuple(int(g) for g in groups), coef, intercept),
                       blend_loss(stacked, target, task), blend_loss(blended, target, task))
