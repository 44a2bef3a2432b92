"""The modality seam: what one kind of data (tables, images, text, ...) brings to a run.

The engine is the same for every kind of data; a modality supplies what differs: whether some
data is its kind (``detect``), its defaults and its own options, how raw data becomes
:class:`~accelml.core.data.Features` and encoded targets (``prepare``), how rows are split for
validation (``splitter``), its learner modules, how a saved preprocessor is rebuilt, how
``predict`` / ``evaluate`` read their inputs, its ONNX export and its serving input. Built-in
modalities register on import (``accelml.tabular.modality``, ``accelml.vision.modality``);
third-party ones through the ``accelml.modalities`` entry point group. A new modality is one
folder: a :class:`Modality` subclass decorated with :func:`register_modality`, a
preprocessor, and learners whose ``modality`` attribute names it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

from accelml.config import RunConfig
from accelml.core.budget import Deadline
from accelml.core.data import Features
from accelml.core.splits import SplitStrategy
from accelml.core.task import Task
from accelml.errors import ConfigError

if TYPE_CHECKING:
    from accelml.core.latency import LatencyGoal
    from accelml.core.predictor import Predictor, Preprocessor

ENTRY_POINT_GROUP = "accelml.modalities"
#: Called after each chunk a file prediction writes with (inputs done, inputs in all or None).
OnProgress = Callable[[int, int | None], None]


@dataclass
class Prepared:
    """A modality's training data, ready for the engine.

    Attributes:
        features: what the learners eat.
        y: the encoded targets (class codes, or values for regression).
        task: the inferred (or given) task.
        preprocessor: fitted; turns new raw inputs into the same kind of features.
        config: the run's settings after the modality's choices (e.g. its default learners).
        notes: what preprocessing decided that a user should know (shown and saved).
        fixed: per learner, parameters merged into every config (e.g. a checkpoint path).
        sampler_options: per learner, context for its sampler (e.g. a zero-cost screen).
        lead: (learner, config) pairs to run before the learners' own portfolios.
        split_info: what the modality's :meth:`Modality.splitter` reads besides the targets
            (e.g. groups of near-duplicate texts that must stay on one side of a split).
        audit: the data audit's findings (JSON-ready dicts: check, severity, column,
            message, action), saved in the run record and shown after the fit.
        profile: a JSON-ready summary of the training columns, saved in the run record, so
            that data given later (evaluate, report) can be checked for drift.
        latency: the one-row prediction time the served model must keep to, with a raw row
            to time it on (None: no limit).
    """

    features: Features
    y: np.ndarray
    task: Task
    preprocessor: Preprocessor
    config: RunConfig
    notes: list[str] = field(default_factory=list)
    fixed: dict[str, dict[str, Any]] = field(default_factory=dict)
    sampler_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    lead: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    split_info: dict[str, Any] = field(default_factory=dict)
    audit: list[dict[str, Any]] = field(default_factory=list)
    profile: dict[str, Any] | None = None
    latency: LatencyGoal | None = None


@dataclass(frozen=True)
class ServeInput:
    """How the server takes this modality's inputs: ``POST /v1/predict`` receives
    ``{field: [item, ...]}``; ``decode`` turns the list (validated as ``item_type``, a type
    pydantic understands) into what :meth:`Predictor.predict` takes, raising an
    :class:`~accelml.errors.AccelMLError` (answered as 422) for an item it cannot read;
    ``schema`` is what ``GET /v1/schema`` answers besides the target, task and row limit,
    ``example`` one valid item, and ``warm`` an input predicted once at start-up (None:
    none, for a model that predicts no rows)."""

    field: str
    item_type: Any
    decode: Callable[[list[Any]], Any]
    schema: dict[str, Any]
    example: Any
    warm: Any


@dataclass
class ReportSection:
    """A modality's own part of the HTML report (``accelml report``): a title, paragraphs of
    plain text, tables and matplotlib figures, which the report renders; nothing here is
    HTML, so a modality needs no knowledge of the page."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Any] = field(default_factory=list)  #: pandas DataFrames
    figures: list[Any] = field(default_factory=list)  #: matplotlib Figures


class Modality:
    """One kind of data. Subclasses set the class attributes and override what differs;
    the defaults suit a modality whose inputs are table files.

    Attributes:
        name: the modality's name, also its preprocessor's ``kind`` and its learners'
            ``modality``; ``fit(task=name)`` or ``fit(modality=name)`` picks it.
        learner_modules: modules whose import registers its learners (workers import them).
        learner_names: its learners' names, known without importing them (a learner of
            another modality asked for by name is then a clear error, not an unknown name).
        option_type: a frozen dataclass of this modality's own options (each with its
            default and checks); ``fit`` passes the caller's values for its fields to
            :meth:`prepare`, and giving one to a run of another modality is an error.
        input_hint: how to pass data of this kind, said when its options or learners are
            given for other data.
        defaults: :class:`~accelml.config.RunConfig` settings of this modality's runs: over
            the preset's, under the caller's explicit values.
        priority: detection order: lower is asked first (tables, the broadest, last).
        picked_by: options whose presence picks this modality over detection (naming the
            text columns makes a run a text run).
        yields_to_learners: data this modality detects is read by another modality that
            detects it too when the learners named are all that one's (a table with a
            free-text column stays a table for tabular learners).
        aliases: other task names that pick this modality (``--task recommend``).
    """

    name: ClassVar[str] = ""
    learner_modules: ClassVar[tuple[str, ...]] = ()
    learner_names: ClassVar[tuple[str, ...]] = ()
    option_type: ClassVar[type[Any] | None] = None
    input_hint: ClassVar[str] = ""
    defaults: ClassVar[Mapping[str, Any]] = {}
    priority: ClassVar[int] = 50
    picked_by: ClassVar[tuple[str, ...]] = ()
    yields_to_learners: ClassVar[bool] = False
    aliases: ClassVar[tuple[str, ...]] = ()

    def detect(self, data: Any, task: str | None) -> bool:
        """Whether ``data`` is this modality's kind (``task`` as the caller gave it)."""
        return False

    def prepare(self, data: Any, target: str | None, config: RunConfig,
                options: Any = None) -> Prepared:
        """Read and check the data, infer the task, fit the preprocessor; ``options`` is an
        ``option_type`` instance (None for a modality without options)."""
        raise NotImplementedError

    def splitter(self, config: RunConfig, prepared: Prepared) -> SplitStrategy | None:
        """The validation splits this data needs; None for the run's k-fold / holdout."""
        return None

    def preprocessor_from_dict(self, state: dict[str, Any]) -> Preprocessor:
        """Rebuild a saved preprocessor from its JSON state."""
        raise NotImplementedError

    def read_labelled(self, source: Path) -> Any:
        """What ``evaluate`` scores: the labelled data at ``source``."""
        from accelml.io import read_table

        return read_table(source)

    def predict_file(self, predictor: Predictor, source: Path, output: Path, *, proba: bool,
                     batch_rows: int, on_progress: OnProgress | None = None) -> int:
        """Write a prediction for every input of ``source`` into ``output``; return how many.
        The output appears only complete."""
        raise ConfigError(f"{self.name} models do not predict files; use the Python API")

    def export_onnx(self, predictor: Predictor, output: Path, check_data: Any) -> float:
        """Write the model as ONNX; return the largest difference from the native models."""
        raise ConfigError(f"ONNX export of {self.name} models is not available")

    def finish(self, predictor: Predictor, prepared: Prepared, deadline: Deadline) -> None:
        """Complete a fitted predictor before it is saved (e.g. precompute what serving
        looks up), within ``deadline``; nothing by default."""

    def predict(self, predictor: Predictor, data: Any) -> Any:
        """Predictions of ``data`` where this modality's predictors answer otherwise than
        a blend of members' predictions; NotImplemented for the common path."""
        return NotImplemented

    def evaluate(self, predictor: Predictor, data: Any) -> Any:
        """Metrics of ``data`` where this modality scores otherwise than the task's
        metrics over predictions; NotImplemented for the common path."""
        return NotImplemented

    def recommend(self, predictor: Predictor, users: Sequence[Any], k: int,
                  exclude_seen: bool = True) -> Any:
        """The top ``k`` items of each user, as a DataFrame (recommendation models)."""
        raise ConfigError(f"{self.name} models do not recommend; train on interactions "
                          "with --task recommend")

    def similar_items(self, predictor: Predictor, items: Sequence[Any], k: int) -> Any:
        """The ``k`` items most like each of ``items`` (recommendation models)."""
        raise ConfigError(f"{self.name} models have no similar items; train on "
                          "interactions with --task recommend")

    def forecast(self, predictor: Predictor, horizon: int | None, history: Any = None,
                 future: Any = None, ids: Any = None) -> Any:
        """The next ``horizon`` steps of each series, as a DataFrame (forecasting models)."""
        raise ConfigError(f"{self.name} models do not forecast; train on series with "
                          "--task forecast --horizon STEPS")

    def add_routes(self, app: Any, predictor: Predictor, dependencies: list[Any]) -> None:
        """Endpoints this modality serves besides ``/v1/predict`` on the FastAPI ``app``,
        each behind ``dependencies`` (the key check); none by default."""

    def explain(self, predictor: Predictor, data: Any, *, top: int, max_rows: int) -> Any:
        """Each answer beside its top reasons (a DataFrame: ``prediction``, then
        ``reason_1`` ...), no more than ``max_rows`` rows."""
        raise ConfigError(f"{self.name} models give no per-row reasons")

    def report_sections(self, predictor: Predictor, data: Any) -> list[ReportSection]:
        """This modality's sections of the report (``data``: what the user passed with
        ``--data``, or None); none by default."""
        return []

    def serve_input(self, predictor: Predictor, max_rows: int) -> ServeInput:
        """How ``accelml serve`` takes this modality's inputs."""
        raise ConfigError(f"accelml serve has no endpoint for {self.name} models; use "
                          "`accelml predict` for them")


M = TypeVar("M", bound=type[Modality])
_MODALITIES: dict[str, Modality] = {}
_DISCOVERED: list[bool] = []


def register_modality(cls: M) -> M:
    """Class decorator that registers a modality under ``cls.name``."""
    if not cls.name:
        raise TypeError(f"modality {cls.__name__} lacks a name")
    _MODALITIES[cls.name] = cls()
    return cls


def discover_modalities() -> None:
    """Load the ``accelml.modalities`` entry points (once)."""
    if _DISCOVERED:
        return
    _DISCOVERED.append(True)
    for point in entry_points(group=ENTRY_POINT_GROUP):
        point.load()


def registered_modalities() -> dict[str, Modality]:
    """Name -> modality, for every registered one (entry points included)."""
    discover_modalities()
    return dict(_MODALITIES)


def get_modality(name: str) -> Modality:
    """The modality registered as ``name``."""
    known = registered_modalities()
    if name not in known:
        from accelml.core.validation import close_matches

        raise ConfigError(f"unknown modality {name!r}{close_matches(name, known)}; "
                          f"registered: {', '.join(sorted(known))}")
    return known[name]


def pick_modality(data: Any, task: str | None, modality: str | None,
                  options: Mapping[str, Any] | None = None) -> Modality:
    """The modality a run's data is: ``modality`` when given (or a ``task`` naming one, or
    an option in a modality's ``picked_by``), else the first, by priority, whose ``detect``
    says yes (unless it ``yields_to_learners`` of another that detects the data too)."""
    if modality is not None:
        return get_modality(modality)
    known = registered_modalities()
    if task is not None and task in known:
        return known[task]
    for candidate in known.values():
        if task is not None and task in candidate.aliases:
            return candidate
    options = options or {}
    for candidate in known.values():
        if any(options.get(name) is not None for name in candidate.picked_by):
            return candidate
    detected = [m for m in sorted(known.values(), key=lambda m: m.priority)
                if m.detect(data, task)]
    if detected:
        named = set(options.get("learners") or ())
        owners = [m for m in detected[1:] if named and named <= set(m.learner_names)]
        if detected[0].yields_to_learners and owners:
            return owners[0]  # e.g. tabular learners keep a table with a text column a table
        return detected[0]
    raise ConfigError(f"cannot tell what kind of data a {type(data).__name__} is; pass a "
                      f"DataFrame or a file path, or name the modality "
                      f"({', '.join(sorted(known))}) with modality=")


def option_names(modality: Modality) -> tuple[str, ...]:
    """The names of a modality's own options."""
    if modality.option_type is None:
        return ()
    return tuple(f.name for f in fields(modality.option_type))


def split_options(modality: Modality, options: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    """The caller's options as (run settings, ``modality``'s own options object); an option
    that belongs to another modality is refused, before any work."""
    own = set(option_names(modality))
    for other in registered_modalities().values():
        foreign = [name for name in option_names(other) if name in options and name not in own]
        if foreign and other.name != modality.name:
            flags = ", ".join("--" + name.replace("_", "-") for name in foreign)
            hint = f". For {other.name} models {other.input_hint}" if other.input_hint else ""
            raise ConfigError(f"{flags} apply to {other.name} models; this data is "
                              f"{modality.name}{hint}")
    settings = {k: v for k, v in options.items() if k not in own}
    values = {k: v for k, v in options.items() if k in own}
    return settings, (modality.option_type(**values) if modality.option_type else None)


def check_learners(modality: Modality, learners: Sequence[str]) -> None:
    """Refuse learners of another modality by name (known without importing them)."""
    for other in registered_modalities().values():
        foreign = sorted(set(learners) & set(other.learner_names))
        if foreign and other.name != modality.name:
            raise ConfigError(f"learner {foreign[0]!r} is for {other.name} data, but this data "
                              f"is {modality.name}; leave it out of --learners")
