"""The Learner contract and the registry that finds learners by name and task kind.

A learner is a stateless class with its metadata as class attributes. Modalities register their
learners with :func:`register`; third-party packages add theirs through the ``accelml.learners``
entry point group, loaded by :func:`discover`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, Protocol, TypeVar, runtime_checkable

import numpy as np
from optuna.distributions import BaseDistribution

from accelml.core.budget import Deadline
from accelml.core.data import Features
from accelml.core.task import Task, TaskKind
from accelml.errors import ConfigError, MissingDependencyError

Config = dict[str, Any]
ENTRY_POINT_GROUP = "accelml.learners"


class Fidelity(NamedTuple):
    """The knob that makes a trial cheaper (boosting rounds, trees, epochs, rows)."""

    name: str
    low: int
    high: int


class FidelityOutOfReach(Exception):
    """Raised by a learner asked to reach its fidelity (``reach_fidelity=True``, a fresh
    successive-halving trial) when its measured pace shows the deadline would cut it well
    short: a score at a fraction of the rung compares with nothing, so the trial ends after
    its first steps (as PRUNED) instead of spending its whole time limit on it."""


@dataclass
class Fitted:
    """A fitted model as a learner returns it.

    ``info`` keeps facts the engine reuses, e.g. ``{"n_estimators": 412}`` chosen by early
    stopping, so the final refit trains the same number of rounds on all rows.
    """

    learner: str
    model: Any
    info: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Learner(Protocol):
    """What every model family implements (one file per family in ``<modality>/learners/``).

    Optional: a learner with ``warm_start = True`` takes ``init_from`` in :meth:`fit`, a
    directory its :meth:`save` wrote for the same config, and continues training from it (the
    final fit of a network then builds on the weights its search trial already trained).
    A learner with ``unit_cost`` says how much one unit of its fidelity costs per row and
    feature, against a boosting round, for counted work (:mod:`accelml.core.work`), where
    that is far from its ``relative_cost`` (a search priority as much as a cost).
    A learner with ``superseded_by = "other"`` is left out of searches that ``other`` is in,
    unless named in ``include`` (scikit-learn's MLP where the torch network is installed).
    A learner with ``load_modules`` names the libraries its :meth:`load` imports lazily; the
    driver imports them in the background while its workers start (:mod:`accelml.core.preload`).
    """

    name: ClassVar[str]
    task_kinds: ClassVar[frozenset[TaskKind]]
    uses_gpu: ClassVar[bool]
    relative_cost: ClassVar[float]
    fidelity: ClassVar[Fidelity | None]

    def space(self, task: Task, n_rows: int, n_features: int) -> Mapping[str, BaseDistribution]:
        """Hyperparameters the search may tune, as Optuna distributions."""
        ...

    def portfolio(self, task: Task) -> Sequence[Config]:
        """Strong configurations to try before any sampling, best first."""
        ...

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
        """Fit on ``features``/``y``; stop cleanly (keeping what was built) at ``deadline``.

        ``valid`` is a validation split a learner may use for early stopping.
        """
        ...

    def predict(self, fitted: Fitted, features: Features) -> np.ndarray:
        """Class probabilities (rows x classes) for classifiers, values for regressors."""
        ...

    def save(self, fitted: Fitted, directory: Path) -> list[Path]:
        """Write the model in a native or data-only format; return the files written."""
        ...

    def load(self, directory: Path, task: Task) -> Fitted:
        """Read back what :meth:`save` wrote."""
        ...


L = TypeVar("L", bound=type[Any])
_REGISTRY: dict[str, type[Any]] = {}
_UNAVAILABLE: dict[str, str] = {}  # name -> what to install


def register(cls: L) -> L:
    """Class decorator that adds a learner to the registry under ``cls.name``."""
    for attribute in ("name", "task_kinds", "uses_gpu", "relative_cost", "fidelity"):
        if not hasattr(cls, attribute):
            raise TypeError(f"learner {cls.__name__} lacks the class attribute {attribute!r}")
    _REGISTRY[cls.name] = cls
    return cls


def register_unavailable(name: str, install: str) -> None:
    """Name a learner whose optional library is missing, so asking for it by name says what
    to install instead of calling it unknown; searches without it go on as before."""
    if name not in _REGISTRY:
        _UNAVAILABLE[name] = install


def discover(modules: Iterable[str] = ()) -> None:
    """Import learner modules by name, then every ``accelml.learners`` entry point."""
    for module in modules:
        importlib.import_module(module)
    for point in entry_points(group=ENTRY_POINT_GROUP):
        point.load()


def registered() -> dict[str, type[Any]]:
    """Name -> learner class, for every registered learner."""
    return dict(_REGISTRY)


def get_learner(name: str) -> Learner:
    """An instance of the learner registered as ``name``."""
    try:
        cls = _REGISTRY[name]
    except KeyError:
        from accelml.core.validation import close_matches

        if name in _UNAVAILABLE:
            raise MissingDependencyError(
                f"learner {name!r} needs a library that is not installed: {_UNAVAILABLE[name]}"
            ) from None

        raise ConfigError(
            f"unknown learner {name!r}{close_matches(name, _REGISTRY)}; registered learners: "
            f"{', '.join(sorted(_REGISTRY))}"
        ) from None
    learner: Learner = cls()
    return learner


def modality_of(cls: type[Any]) -> str:
    """The kind of data a learner eats: its ``modality`` attribute, "tabular" by default."""
    return str(getattr(cls, "modality", "tabular"))


def learners_for(
    kind: TaskKind, include: Sequence[str] | None = None, exclude: Sequence[str] = (),
    modality: str = "tabular",
) -> list[Learner]:
    """Learners of a modality for a task kind, cheapest first, filtered by include/exclude."""
    for name in [*(include or ()), *exclude]:
        get_learner(name)  # raises on unknown names
        if name in (include or ()) and modality_of(_REGISTRY[name]) != modality:
            raise ConfigError(
                f"learner {name!r} is for {modality_of(_REGISTRY[name])} data, but this data "
                f"is {modality}; leave it out of --learners"
            )
    chosen = [
        get_learner(name)
        for name, cls in _REGISTRY.items()
        if kind in cls.task_kinds
        and modality_of(cls) == modality
        and (name in include if include is not None
             else getattr(cls, "superseded_by", None) not in set(_REGISTRY) - set(exclude))
        and name not in exclude
    ]
    if not chosen:
        raise ConfigError(
            f"no {modality} learner left for a {kind.value} task after "
            f"include={list(include or [])} exclude={list(exclude)}; "
            f"registered: {', '.join(sorted(_REGISTRY))}"
        )
    return sorted(chosen, key=lambda learner: learner.relative_cost)
