"""What every tabular learner shares: class bookkeeping, config merging, threads, seeds, files.

:class:`TabularLearner` implements the public ``fit``/``predict``/``save``/``load`` once; each
family only fills in the ``_fit``/``_predict_raw``/``_save_model``/``_load_model`` hooks. So
class remapping (a training subset may lack classes), the JSON info file and artifact checks
behave the same for every family.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from optuna.distributions import BaseDistribution

from accelml.core.budget import Deadline
from accelml.core.data import NO_DATA, DataShape, Features
from accelml.core.learner import Config, Fidelity, FitFacts, Fitted, LearnerBase, NoFastPath
from accelml.core.task import Task, TaskKind
from accelml.errors import ArtifactError, ConfigError, DataError

ALL_KINDS = frozenset({TaskKind.BINARY, TaskKind.MULTICLASS, TaskKind.REGRESSION})
#: Rounds without improvement on ``valid`` before boosting stops.
EARLY_STOPPING_ROUNDS = 50
INFO_FILE = "info.json"


@dataclass(frozen=True)
class FitContext:
    """The keyword arguments of ``fit`` plus facts derived once (classes seen in training)."""

    task: Task
    fidelity: int | None
    deadline: Deadline
    n_jobs: int
    seed: int
    valid: tuple[Features, np.ndarray] | None
    n_classes: int  # classes present in training (0 for regression)


def threads(n_jobs: int) -> int:
    """Thread count for a library: ``n_jobs`` < 1 means every core."""
    return n_jobs if n_jobs >= 1 else os.cpu_count() or 1


#: Below this many rows, prediction runs on one thread: waking more costs more than it saves.
SMALL_BATCH_ROWS = 2_000


def predict_threads(info: Mapping[str, Any], n_rows: int) -> int:
    """Threads for predicting ``n_rows`` rows with a model fitted with ``info["n_jobs"]``."""
    return 1 if n_rows < SMALL_BATCH_ROWS else int(info["n_jobs"])


def lib_seed(seed: int) -> int:
    """A seed every library accepts (non-negative, fits in int32)."""
    return int(seed) % (2**31 - 1)


def merge_config(defaults: Mapping[str, Any], config: Config, learner: str) -> Config:
    """Defaults overlaid with ``config``; an unknown key is an error, never silently dropped."""
    unknown = sorted(set(config) - set(defaults))
    if unknown:
        raise ConfigError(
            f"learner {learner!r} got unknown hyperparameters {unknown}; "
            f"known ones are {sorted(defaults)}"
        )
    return {**defaults, **config}


def n_rounds(fidelity: Fidelity | None, requested: int | None, learner: str) -> int:
    """Rounds or trees to build: the requested fidelity, else the learner's default high."""
    rounds = requested if requested is not None else (fidelity.high if fidelity else 100)
    if rounds < 1:
        raise ConfigError(f"learner {learner!r} got fidelity {rounds}; it needs at least 1")
    return int(rounds)


def as_proba_matrix(raw: np.ndarray) -> np.ndarray:
    """Binary probability vectors become two columns; matrices pass through."""
    raw = np.asarray(raw, dtype=np.float64)
    return np.column_stack([1.0 - raw, raw]) if raw.ndim == 1 else raw


class TabularLearner(LearnerBase):
    """Base of the tabular families: the public contract around four small hooks.

    Class labels are remapped to the classes present in training (0..m-1) before the hooks
    see them, and mapped back to ``task.n_classes`` columns after prediction. Optional
    capabilities keep :class:`~accelml.core.learner.LearnerBase`'s defaults unless a family
    states its own.
    """

    name: ClassVar[str]
    task_kinds: ClassVar[frozenset[TaskKind]] = ALL_KINDS
    uses_gpu: ClassVar[bool] = False
    relative_cost: ClassVar[float]
    fidelity: ClassVar[Fidelity | None]

    def fit(
        self,
        features: Features,
        y: np.ndarray,
        config: Config,
        *,
        task: Task,
        fidelity: int | None,
        deadline: Deadline,
        n_jobs: int,
        seed: int,
        valid: tuple[Features, np.ndarray] | None = None,
    ) -> Fitted:
        """Fit with classes remapped; a training set with one class gives a constant model."""
        info: dict[str, Any] = {"learner": self.name, "kind": task.kind.value,
                                "n_classes": task.n_classes, "n_jobs": threads(n_jobs)}
        if not task.kind.is_classification:
            ctx = FitContext(task, fidelity, deadline, threads(n_jobs), seed, valid, 0)
            model, extra, facts = self._fit(features, np.asarray(y, dtype=np.float64), config,
                                            ctx)
            return Fitted(self.name, model, {**info, **extra}, facts)
        present = np.unique(y)
        if len(present) and (present[0] < 0 or present[-1] >= task.n_classes):
            raise DataError(
                f"learner {self.name!r} got class codes {present[0]}..{present[-1]} for a task "
                f"with {task.n_classes} classes; encode targets with encode_target first"
            )
        info["classes"] = [int(c) for c in present]
        if len(present) < 2:
            return Fitted(self.name, None, {**info, "constant": True})
        ctx = FitContext(task, fidelity, deadline, threads(n_jobs), seed,
                         _remap_valid(valid, present), len(present))
        model, extra, facts = self._fit(features, np.searchsorted(present, y), config, ctx)
        return Fitted(self.name, model, {**info, **extra}, facts)

    def predict(self, fitted: Fitted, features: Features) -> np.ndarray:
        """Probabilities over all of the task's classes, or regression values."""
        info = fitted.info
        if info["kind"] == TaskKind.REGRESSION.value:
            raw = self._predict_raw(fitted.model, info, features)
            return np.asarray(raw, dtype=np.float64).reshape(-1)
        out = np.zeros((len(features), info["n_classes"]), dtype=np.float64)
        if info.get("constant"):
            out[:, info["classes"]] = 1.0
            return out
        proba = as_proba_matrix(self._predict_raw(fitted.model, info, features))
        out[:, info["classes"]] = np.clip(proba, 0.0, 1.0)
        out /= out.sum(axis=1, keepdims=True)
        return out

    def contributions(self, fitted: Fitted, features: Features) -> np.ndarray:
        """The family's exact SHAP values (:meth:`LearnerBase.contributions`), laid out
        over the task's classes."""
        info = fitted.info
        if fitted.model is None:
            raise NoFastPath("a model trained on one class has nothing to attribute")
        if info["kind"] == TaskKind.MULTICLASS.value and len(info["classes"]) < 3:
            raise NoFastPath("a multiclass model trained on two classes")
        raw = np.asarray(self._contributions(fitted.model, info, features), dtype=np.float64)
        if info["kind"] != TaskKind.MULTICLASS.value:
            return raw.reshape(len(features), -1, 1)
        out = np.zeros((*raw.shape[:2], info["n_classes"]), dtype=np.float64)
        out[:, :, info["classes"]] = raw
        return out

    def save(self, fitted: Fitted, directory: Path) -> list[Path]:
        """Write ``info.json`` plus the model in the family's native format."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        info_path = directory / INFO_FILE
        info_path.write_text(json.dumps(fitted.info, indent=1, sort_keys=True))
        if fitted.model is None:
            return [info_path]
        return [info_path, *self._save_model(fitted.model, directory)]

    def load(self, directory: Path, task: Task) -> Fitted:
        """Read what :meth:`save` wrote; a directory of another learner or task is refused."""
        info_path = Path(directory) / INFO_FILE
        if not info_path.is_file():
            raise ArtifactError(f"{info_path} is missing: {directory} is not a saved "
                                f"{self.name!r} model; save one with Learner.save")
        try:
            info = json.loads(info_path.read_text())
        except (OSError, ValueError) as error:
            raise ArtifactError(f"{info_path} is not readable JSON ({error})") from error
        if info.get("learner") != self.name or info.get("kind") != task.kind.value:
            raise ArtifactError(
                f"{directory} holds a {info.get('learner')!r} model for a {info.get('kind')} "
                f"task, not a {self.name!r} model for a {task.kind.value} task"
            )
        model = None if info.get("constant") else self._read_model(Path(directory))
        return Fitted(self.name, model, info)

    def _read_model(self, directory: Path) -> Any:
        """The family's loader, with any library error turned into an ArtifactError."""
        try:
            return self._load_model(directory)
        except ArtifactError:
            raise
        except Exception as error:  # each library raises its own error type
            raise ArtifactError(
                f"the {self.name!r} model in {directory} could not be read ({error}); "
                "it is damaged or was written by an incompatible library version"
            ) from error

    def defaults(self, task: Task) -> Config:
        """The family's default config: its portfolio's first, for any data (a table
        family's portfolio depends on the task only)."""
        return self.portfolio(task, NO_DATA)[0]

    # What each family implements: its search metadata...
    def space(self, task: Task, shape: DataShape) -> Mapping[str, BaseDistribution]:
        """Hyperparameters the search may tune."""
        raise NotImplementedError

    def portfolio(self, task: Task, shape: DataShape) -> list[Config]:
        """Strong configs, best first; the first holds every key of the space (the defaults)."""
        raise NotImplementedError

    # ...and four hooks around the library. ``_fit`` returns the model, what to add to its
    # info (saved with it) and the facts the engine reuses.
    def _fit(self, features: Features, y: np.ndarray, config: Config,
             ctx: FitContext) -> tuple[Any, dict[str, Any], FitFacts]:
        raise NotImplementedError

    def _predict_raw(self, model: Any, info: dict[str, Any], features: Features) -> np.ndarray:
        raise NotImplementedError

    def _save_model(self, model: Any, directory: Path) -> list[Path]:
        raise NotImplementedError

    def _contributions(self, model: Any, info: dict[str, Any],
                       features: Features) -> np.ndarray:
        """(rows, columns + 1, outputs) SHAP values in raw units, outputs over the classes
        the model saw (one for regression and binary); families without a fast path keep
        this default."""
        raise NoFastPath(f"{self.name} has no exact fast path")

    def _load_model(self, directory: Path) -> Any:
        raise NotImplementedError


def _remap_valid(
    valid: tuple[Features, np.ndarray] | None, present: np.ndarray
) -> tuple[Features, np.ndarray] | None:
    """Validation rows in training's class indices; rows of classes unseen in training go."""
    if valid is None:
        return None
    features, y = valid
    keep = np.isin(y, present)
    if not keep.any():
        return None
    return features.take(np.flatnonzero(keep)), np.searchsorted(present, y[keep])


def by_kind(task: Task, n_classes: int, names: tuple[str, str, str]) -> str:
    """A library's name (objective, metric) for binary, multiclass or regression training.

    ``n_classes`` is the count present in training: two present classes train binary.
    """
    if not task.kind.is_classification:
        return names[2]
    return names[0] if n_classes == 2 else names[1]


def check_model_file(path: Path) -> Path:
    """``path`` if it exists, else an ArtifactError naming it."""
    if not path.is_file():
        raise ArtifactError(f"model file {path} is missing; the model directory is incomplete")
    return path
