"""Which data each modality's learners are checked on, and which learners there are to check.

The conformance suite (:mod:`accelml.testing.learner_checks`) needs a small dataset of every
task kind a learner supports, in the form its modality's learners eat. Each modality
registers one with :func:`register_conformance_data`; the built-in modalities' are registered
here (tables: breast cancer, wine and diabetes with missing values and a categorical column;
images: scikit-learn's 8x8 digits; texts: short made-up reviews
(:mod:`accelml.testing.text_corpus`) with a numeric side column; the constant fallback model
reads no feature and is checked on the tables). :func:`learners_to_check` finds every learner
the registered modalities, core and the ``accelml.learners`` entry points provide, so
AccelML's test suite checks each the moment it exists; a learner whose modality has no data
registered fails its check with a message saying to register some.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache, partial
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import numpy as np

from accelml.core.data import Features
from accelml.core.learner import ENTRY_POINT_GROUP, Config, capabilities, discover, registered
from accelml.core.task import Task, TaskKind
from accelml.testing.learner_checks import check_learner

#: A task, its features and encoded targets.
Case = tuple[Task, Features, np.ndarray]
#: Modules whose import registers the learners core brings itself (the fallback model).
CORE_LEARNER_MODULES = ("accelml.core.constant",)


@dataclass(frozen=True)
class ConformanceData:
    """What a modality's learners are checked on.

    Attributes:
        cases: per task kind, a function building (task, features, targets); small, so the
            whole suite stays fast.
        n_jobs: threads each checked fit may use.
        fidelity: the fidelity to check at (None: each learner's ``fidelity.low``).
        fixed: per learner name, a function of a scratch directory giving the parameters a
            run of this modality fixes for that learner (e.g. a pretrained checkpoint to
            fine-tune); they join every config the learner is checked with.
    """

    cases: Mapping[TaskKind, Callable[[], Case]]
    n_jobs: int = 1
    fidelity: int | None = None
    fixed: Mapping[str, Callable[[Path], Config]] = field(default_factory=dict)
    #: The rows a model fitted on a case's features is asked about, when they are not
    #: those features (a forecaster answers the steps after its history).
    query: Callable[[Features], Features] | None = None
    #: Per learner name, cases replacing ``cases`` for that learner (fewer rows for a
    #: learner whose every fit costs far more than the others').
    learner_cases: Mapping[str, Mapping[TaskKind, Callable[[], Case]]] = field(
        default_factory=dict)


_DATA: dict[str, ConformanceData] = {}


def register_conformance_data(modality: str, data: ConformanceData) -> None:
    """Check the learners of ``modality`` on ``data`` (a later registration replaces it)."""
    _DATA[modality] = data


def conformance_data(modality: str) -> ConformanceData:
    """The data registered for ``modality``.

    Raises:
        LookupError: none is, with what to do about it.
    """
    if modality not in _DATA:
        raise LookupError(
            f"no conformance data is registered for the {modality!r} modality, so its "
            "learners cannot be checked: register a small dataset of each task kind with "
            "accelml.testing.conformance.register_conformance_data"
            f"({modality!r}, ConformanceData(...)); registered: {', '.join(sorted(_DATA))}")
    return _DATA[modality]


def learner_modules() -> tuple[list[str], dict[str, str]]:
    """The learner modules of every registered modality and of core, and the modalities
    whose learners cannot be imported here (name -> why: an optional extra is missing)."""
    import accelml.api  # noqa: F401  (registers the built-in modalities)
    from accelml.core.modality import registered_modalities

    modules, missing = list(CORE_LEARNER_MODULES), {}
    for modality in registered_modalities().values():
        try:
            discover(modality.learner_modules)
        except ImportError as error:
            missing[modality.name] = f"{error}"
            continue
        modules.extend(modality.learner_modules)
    discover()  # the entry points
    modules.extend(point.module for point in entry_points(group=ENTRY_POINT_GROUP))
    return modules, missing


def learners_to_check() -> tuple[dict[str, type[Any]], dict[str, str]]:
    """Every registered learner that the modalities' learner modules, core or an entry point
    define (name -> class; test doubles registered by tests are left out), and the modalities
    whose learners cannot be imported (name -> why)."""
    modules, missing = learner_modules()
    for module in CORE_LEARNER_MODULES:
        __import__(module)

    def provided(cls: type[Any]) -> bool:
        return any(cls.__module__ == m or cls.__module__.startswith(m + ".") for m in modules)

    return {name: cls for name, cls in registered().items() if provided(cls)}, missing


def check_registered(cls: type[Any], kind: TaskKind, tmp_path: Path) -> None:
    """Run the whole conformance suite on the learner ``cls`` for a ``kind`` task, with the
    data registered for its modality."""
    learner = cls()
    modality = capabilities(learner).modality
    data = conformance_data(modality)
    cases = {**data.cases, **data.learner_cases.get(learner.name, {})}
    if kind not in cases:
        raise LookupError(
            f"the conformance data of the {modality!r} modality has no {kind.value} task, "
            f"which learner {learner.name!r} declares: register one for it")
    task, features, y = cases[kind]()
    make_fixed = data.fixed.get(learner.name)
    fixed = make_fixed(tmp_path / "fixed") if make_fixed is not None else {}
    check_learner(learner, task, features, y, tmp_path=tmp_path, fidelity=data.fidelity,
                  n_jobs=data.n_jobs, fixed=fixed,
                  query=data.query(features) if data.query is not None else None)


# --- tables -------------------------------------------------------------------------------

N_CODES = 5


def table_features(X: np.ndarray, seed: int) -> Features:
    """The numbers with some NaN, plus a categorical column of codes (some missing)."""
    rng = np.random.default_rng(seed)
    X = X.astype(np.float64).copy()
    X[rng.random(len(X)) < 0.05, 1] = np.nan
    ranks = np.argsort(np.argsort(X[:, 0]))
    codes = (ranks * N_CODES // len(X)).astype(np.float64)  # quantile bins: informative
    codes[rng.random(len(X)) < 0.1] = np.nan
    names = tuple(f"x{i}" for i in range(X.shape[1])) + ("group",)
    return Features(np.column_stack([X, codes]), (X.shape[1],), (N_CODES,), names)


@cache
def binary_table() -> Case:
    """Breast cancer (569 rows, 31 columns)."""
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    return (Task(TaskKind.BINARY, "y", "roc_auc", (0, 1), 1), table_features(X, 0),
            y.astype(np.int64))


@cache
def multiclass_table() -> Case:
    """Wine (178 rows, 3 classes)."""
    from sklearn.datasets import load_wine

    X, y = load_wine(return_X_y=True)
    return (Task(TaskKind.MULTICLASS, "y", "log_loss", (0, 1, 2)), table_features(X, 1),
            y.astype(np.int64))


@cache
def regression_table() -> Case:
    """Diabetes progression (442 rows)."""
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    return Task(TaskKind.REGRESSION, "y", "rmse"), table_features(X, 2), y.astype(np.float64)


TABLES = ConformanceData({TaskKind.BINARY: binary_table, TaskKind.MULTICLASS: multiclass_table,
                          TaskKind.REGRESSION: regression_table})


# --- images -------------------------------------------------------------------------------

#: scikit-learn's digits: 8x8 grey images, the image checks' tiny dataset.
DIGIT_SHAPE = (8, 8, 1)
#: Images per check: few, so each of the suite's fits takes a moment.
IMAGE_ROWS = 300


@cache
def digits() -> tuple[np.ndarray, np.ndarray]:
    """All 1797 digits as uint8 pixels 0..255 (N, 64), and their labels."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return np.rint(X * 255 / 16).astype(np.uint8), y.astype(np.int64)


def digit_features(rows: slice | np.ndarray) -> Features:
    """Image features of the chosen digits."""
    return Features(digits()[0][rows], item_shape=DIGIT_SHAPE)


def multiclass_images() -> Case:
    """The first 300 digits, ten classes."""
    rows = slice(0, IMAGE_ROWS)
    task = Task(TaskKind.MULTICLASS, "digit", "log_loss", tuple(range(10)))
    return task, digit_features(rows), digits()[1][rows]


def binary_images() -> Case:
    """The first 300 digits: odd or even."""
    rows = slice(0, IMAGE_ROWS)
    return (Task(TaskKind.BINARY, "odd", "roc_auc", (0, 1), 1), digit_features(rows),
            digits()[1][rows] % 2)


_BACKBONES: list[Path] = []  # built once per process


def image_backbone(scratch: Path) -> Config:
    """A checkpoint to fine-tune: an AccelML image model directory holding one cnn trained
    for an epoch on other digits than those checked on (built once, in ``scratch``)."""
    if not _BACKBONES:
        from accelml.core.budget import Deadline
        from accelml.vision.learners.cnn import CNN
        from accelml.vision.space import seed_architectures

        rows = slice(IMAGE_ROWS, 2 * IMAGE_ROWS)
        fitted = CNN().fit(digit_features(rows), digits()[1][rows],
                           seed_architectures(DIGIT_SHAPE)[0], task=multiclass_images()[0],
                           fidelity=1, deadline=Deadline.never(), n_jobs=1, seed=0)
        CNN().save(fitted, scratch / "members" / "0")
        manifest = {"format_version": 1, "modality": "image",
                    "members": [{"learner": "cnn", "weight": 1.0, "dir": "members/0"}]}
        (scratch / "manifest.json").write_text(json.dumps(manifest))
        _BACKBONES.append(scratch)
    return {"backbone": str(_BACKBONES[0])}


IMAGES = ConformanceData({TaskKind.MULTICLASS: multiclass_images,
                          TaskKind.BINARY: binary_images},
                         fixed={"transfer": image_backbone})


TEXT_ROWS = 90
#: The fine-tuned transformer's checks take fewer texts: each of its training steps reads a
#: batch of up to 32 of them through the encoder and back, each prediction every row. 12
#: rows hold every (topic, sentiment) pair of the corpus twice.
TRANSFORMER_TEXT_ROWS = 12


@cache
def _text_case(target: str, rows: int = TEXT_ROWS) -> Case:
    from accelml.core.task import encode_target, infer_task
    from accelml.testing.text_corpus import reviews
    from accelml.text.preprocess import TextPreprocessor

    frame = reviews(rows)
    y = frame[target]
    task = infer_task(y, target, "regression" if target == "stars" else None,
                      "log_loss" if target == "topic" else None)
    inputs = frame[["text", "length"]]
    features = TextPreprocessor().fit(inputs, ["text"]).training_features(inputs)
    return task, features, encode_target(y, task)


TEXT_TARGETS = {TaskKind.BINARY: "sentiment", TaskKind.MULTICLASS: "topic",
                TaskKind.REGRESSION: "stars"}
TEXTS = ConformanceData(
    {kind: partial(_text_case, target) for kind, target in TEXT_TARGETS.items()},
    learner_cases={"text_transformer": {
        kind: partial(_text_case, target, TRANSFORMER_TEXT_ROWS)
        for kind, target in TEXT_TARGETS.items()}})


def _ranking_case() -> Case:
    from accelml.testing.recsys_data import ranking_case

    return ranking_case()


RANKINGS = ConformanceData({TaskKind.RANKING: _ranking_case})


def _forecast_case() -> Case:
    from accelml.testing.forecast_data import forecast_case

    return forecast_case()


def _forecast_query(features: Features) -> Features:
    from accelml.testing.forecast_data import steps_after

    return steps_after(features)


FORECASTS = ConformanceData({TaskKind.FORECAST: _forecast_case}, query=_forecast_query)


register_conformance_data("tabular", TABLES)
register_conformance_data("recsys", RANKINGS)
register_conformance_data("text", TEXTS)
register_conformance_data("timeseries", FORECASTS)
#: The constant model reads no feature: tables, and interactions for ranking.
register_conformance_data("fallback", ConformanceData({**TABLES.cases, **RANKINGS.cases}))
register_conformance_data("image", IMAGES)
