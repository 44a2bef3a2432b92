"""The Learner contract and the registry that finds learners by name and task kind.

A learner is a stateless class with its metadata as class attributes. Modalities register their
learners with :func:`register`; third-party packages add theirs through the ``accelml.learners``
entry point group, loaded by :func:`discover`. Every learner takes the same arguments whatever
its modality (:class:`~accelml.core.data.DataShape` for its space and portfolio) and reports
what the engine reuses from a fit as typed :class:`FitFacts`; its optional capabilities are
declared once, with their defaults, on :class:`LearnerBase`, and the engine reads them through
:func:`capabilities`, so a learner that only satisfies the protocol gets the defaults.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, Protocol, TypeVar, runtime_checkable

import numpy as np
from optuna.distributions import BaseDistribution

from accelml.core.budget import Deadline
from accelml.core.data import DataShape, Features
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


class OnnxUnavailable(Exception):
    """Raised by :meth:`LearnerBase.to_onnx` of a learner whose models have no ONNX graph;
    the message says why (export names the member and how to leave it out)."""


class NoFastPath(Exception):
    """Raised by :meth:`LearnerBase.contributions` of a learner with no exact, fast way to
    attribute its output to its features; explanations then fall back to a
    model-agnostic estimate and say so."""


@dataclass(frozen=True)
class FitFacts:
    """What a fit did that the engine reuses, in units of the learner's fidelity (rounds,
    trees, epochs), so the engine reads no learner-specific key. None: the learner does not
    say (a learner without a fidelity, a one-class fit).

    A trial's facts are the mean over its folds (:meth:`mean`), hence floats.

    Attributes:
        units_trained: the units the model holds (boosting: the rounds kept; a network: the
            epochs its weights have seen, a warm start's included). Counted work charges
            them (:mod:`accelml.core.work`), and a trial run at the learner's default
            fidelity is refit with as many.
        refit_units: the units a refit on all rows should train, when the fit chose them (the
            rounds or epochs early stopping kept); None lets the engine choose.
        warm_start_units: the units the model already had when this fit continued it
            (``init_from``); the fit itself trained the rest, which is what its time paid for.
    """

    units_trained: float | None = None
    refit_units: float | None = None
    warm_start_units: float = 0

    def to_dict(self) -> dict[str, float | None]:
        """JSON-ready (the run store keeps a trial's facts with its record)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FitFacts:
        """Inverse of :meth:`to_dict`; missing facts are unknown, unknown keys ignored."""

        def number(key: str) -> float | None:
            value = data.get(key)
            return None if value is None else float(value)

        return cls(number("units_trained"), number("refit_units"),
                   number("warm_start_units") or 0)

    @classmethod
    def mean(cls, facts: Sequence[FitFacts]) -> FitFacts:
        """The facts of a trial from those of its folds: each fact's mean where every fold
        has it (a fold without it, e.g. one-class, leaves it unknown)."""

        def average(values: list[float | None]) -> float | None:
            if not values or any(v is None for v in values):
                return None
            return math.fsum(v for v in values if v is not None) / len(values)

        return cls(average([f.units_trained for f in facts]),
                   average([f.refit_units for f in facts]),
                   average([f.warm_start_units for f in facts]) or 0)


@dataclass
class Fitted:
    """A fitted model as a learner returns it.

    ``info`` is the learner's own: what its predict and load need, saved with the model.
    ``facts`` is what the engine reuses (e.g. the rounds early stopping kept, so the final
    refit trains as many on all rows); it is not saved with the model.
    """

    learner: str
    model: Any
    info: dict[str, Any] = field(default_factory=dict)
    facts: FitFacts = field(default_factory=FitFacts)


@runtime_checkable
class Learner(Protocol):
    """What every model family implements (one file per family in ``<modality>/learners/``).

    Optional capabilities (warm starts, counted-work cost, ONNX export, ...) are declared, with
    their defaults and meaning, on :class:`LearnerBase`; a learner may inherit it or declare
    only those it has.
    """

    name: ClassVar[str]
    task_kinds: ClassVar[frozenset[TaskKind]]
    uses_gpu: ClassVar[bool]
    relative_cost: ClassVar[float]
    fidelity: ClassVar[Fidelity | None]

    def space(self, task: Task, shape: DataShape) -> Mapping[str, BaseDistribution]:
        """Hyperparameters the search may tune for data of ``shape``, as Optuna
        distributions."""
        ...

    def portfolio(self, task: Task, shape: DataShape) -> Sequence[Config]:
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


class LearnerBase:
    """Every optional learner capability, with its default; the built-in learners inherit it.

    A learner states only what differs from these defaults. The engine reads capabilities
    through :func:`capabilities`, which gives these defaults for a third-party learner that
    only satisfies :class:`Learner`.
    """

    #: The kind of data the learner eats; the engine searches only learners of the data's
    #: modality ("fallback": never searched, like the constant model).
    modality: ClassVar[str] = "tabular"
    #: True: :meth:`Learner.fit` also takes ``init_from``, a directory its ``save`` wrote for
    #: the same config, and continues training from it. Search trials validated on one
    #: holdout split then keep their model, and promotions and the final fit continue it.
    warm_start: ClassVar[bool] = False
    #: True: :meth:`Learner.fit` also takes ``reach_fidelity`` and may raise
    #: :class:`FidelityOutOfReach` when its pace shows the fidelity cannot be reached.
    stops_out_of_reach: ClassVar[bool] = False
    #: Counted work of one fidelity unit per row and feature, against a boosting round
    #: (:mod:`accelml.core.work`), where that is far from ``relative_cost`` (a search
    #: priority as much as a cost); None: ``relative_cost``.
    unit_cost: ClassVar[float | None] = None
    #: Another learner's name: this one is left out of searches that one is in, unless named
    #: (scikit-learn's MLP where the torch network is installed).
    superseded_by: ClassVar[str | None] = None
    #: Libraries :meth:`Learner.load` imports lazily; the driver imports them in the
    #: background while its workers start (:mod:`accelml.core.preload`).
    load_modules: ClassVar[tuple[str, ...]] = ()

    def min_fidelity(self, n_rows: int) -> int | None:
        """The fewest fidelity units worth a look on ``n_rows`` training rows (successive
        halving's first rung); None: the fidelity's ``low``."""
        return None

    def simplicity(self, config: Config) -> float | None:
        """How simple (strongly regularized) a config is, higher simpler, to compare configs
        of this learner whose validation scores differ by no more than noise; None (the
        default): no order, the better score stands."""
        return None

    def to_onnx(self, fitted: Fitted, n_features: int) -> Any:
        """``fitted`` as an ONNX ``ModelProto``: one float input named ``features`` with
        ``n_features`` columns; a classifier's output named with "prob" holds the
        probabilities of the classes it was trained on (``fitted.info["classes"]``), a
        regressor's first output the values. Export joins members' graphs into one.

        Raises:
            OnnxUnavailable: the learner has no converter (the default), with the reason.
        """
        raise OnnxUnavailable("no converter")

    def contributions(self, fitted: Fitted, features: Features) -> np.ndarray:
        """Exact additive contributions (SHAP values) of each feature column to the model's
        raw output, by the library's own fast path: shape (rows, columns + 1, outputs), the
        last column slot holding the base value, so a row's slots add up to its raw output.
        Outputs: one for regression (the value) and binary tasks (log-odds of the second
        class), one per task class for multiclass (raw scores before the softmax; classes
        the model never saw get zeros).

        Raises:
            NoFastPath: the learner has none (the default), with the reason.
        """
        raise NoFastPath("no exact fast path")


#: The capabilities :class:`LearnerBase` declares.
CAPABILITIES = ("modality", "warm_start", "stops_out_of_reach", "unit_cost", "superseded_by",
                "load_modules", "min_fidelity", "simplicity", "to_onnx", "contributions")


class _Declared(LearnerBase):
    """A protocol-only learner's capabilities: those it declares, the base's for the rest."""

    def __init__(self, learner: object) -> None:
        for name in CAPABILITIES:
            if hasattr(learner, name):
                setattr(self, name, getattr(learner, name))  # shadows the class default


def capabilities(learner: object) -> LearnerBase:
    """The optional capabilities of ``learner`` (an instance): itself when it inherits
    :class:`LearnerBase`, else a view with the base's defaults for what it leaves out (an
    entry-point learner may only satisfy :class:`Learner`)."""
    return learner if isinstance(learner, LearnerBase) else _Declared(learner)


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
    """The kind of data a learner class eats (:attr:`LearnerBase.modality`)."""
    return capabilities(cls()).modality


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
    searchable = set(_REGISTRY) - set(exclude)
    chosen = []
    for name, cls in _REGISTRY.items():
        if kind not in cls.task_kinds or name in exclude:
            continue
        learner = get_learner(name)
        declared = capabilities(learner)
        wanted = (name in include if include is not None
                  else declared.superseded_by not in searchable)
        if declared.modality == modality and wanted:
            chosen.append(learner)
    if not chosen:
        raise ConfigError(
            f"no {modality} learner left for a {kind.value} task after "
            f"include={list(include or [])} exclude={list(exclude)}; "
            f"registered: {', '.join(sorted(_REGISTRY))}"
        )
    return sorted(chosen, key=lambda learner: learner.relative_cost)
