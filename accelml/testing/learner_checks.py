"""The conformance suite every registered learner must pass.

Call :func:`check_learner` from a test with a small dataset of each task kind the learner
supports; each ``check_*`` function can also be run alone. Failures are AssertionErrors whose
message names the learner, the check and what differed::

    def test_my_learner(tmp_path):
        check_learner(MyLearner(), task, features, y, tmp_path=tmp_path)

AccelML's own test suite runs it on every registered learner, with the data registered for
the learner's modality in :mod:`accelml.testing.conformance`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from accelml.core.budget import Deadline
from accelml.core.data import DataShape, Features
from accelml.core.learner import Config, Fidelity, FitFacts, Fitted, Learner
from accelml.core.task import Task, TaskKind
from accelml.testing.timing import Stopwatch

#: A deadline this far away, on a fidelity far too high to finish, must end the fit...
DEADLINE_S = 0.5
#: ...within this much extra time.
DEADLINE_SLACK_S = 2.0
UNREACHABLE_FIDELITY = 100_000
PICKLE_MAGIC = b"\x80"
MEMBERS = ("name", "task_kinds", "uses_gpu", "relative_cost", "fidelity", "space", "portfolio",
           "fit", "predict", "save", "load")


@dataclass(frozen=True)
class LearnerCase:
    """A learner, a task and data to check it on, plus the fit settings every check shares."""

    learner: Learner
    task: Task
    features: Features
    y: np.ndarray
    fidelity: int | None = None
    n_jobs: int = 1
    seed: int = 0
    fixed: Config = field(default_factory=dict)
    #: The rows a fitted model is asked about (the training rows when None): forecasters
    #: answer only the steps after the history they were fitted on.
    query: Features | None = None

    @property
    def asked(self) -> Features:
        """The rows every check predicts."""
        return self.features if self.query is None else self.query

    @property
    def label(self) -> str:
        return f"learner {self.learner.name!r} on a {self.task.kind.value} task"

    def fit(self, rows: np.ndarray | None = None, **overrides: Any) -> Fitted:
        """Fit on ``rows`` (all by default); keyword arguments override the case's settings.
        The ``fixed`` parameters join every config, as a run's do."""
        features = self.features if rows is None else self.features.take(rows)
        y = self.y if rows is None else self.y[rows]
        kwargs: dict[str, Any] = {"task": self.task, "fidelity": self.fidelity,
                                  "deadline": Deadline.never(), "n_jobs": self.n_jobs,
                                  "seed": self.seed, **overrides}
        config = {**kwargs.pop("config", {}), **self.fixed}
        return self.learner.fit(features, y, config, **kwargs)


def check_prediction(case: LearnerCase, prediction: Any, n_rows: int, what: str) -> None:
    """Shape, dtype and values of a prediction follow the convention of the task kind."""
    assert isinstance(prediction, np.ndarray), (
        f"{case.label}: {what} returned {type(prediction).__name__}, not a numpy array")
    expected = (n_rows, case.task.n_classes) if case.task.kind.is_classification else (n_rows,)
    assert prediction.shape == expected, (
        f"{case.label}: {what} has shape {prediction.shape}, expected {expected}")
    assert np.issubdtype(prediction.dtype, np.floating), (
        f"{case.label}: {what} has dtype {prediction.dtype}, expected floats")
    assert np.isfinite(prediction).all(), f"{case.label}: {what} holds NaN or infinite values"
    if case.task.kind.is_classification:
        assert prediction.min() >= 0.0 and prediction.max() <= 1.0, (
            f"{case.label}: {what} has probabilities outside [0, 1] "
            f"(min {prediction.min()}, max {prediction.max()})")
        sums = prediction.sum(axis=1)
        assert np.allclose(sums, 1.0, atol=1e-6), (
            f"{case.label}: {what} has probability rows summing to {sums.min()}..{sums.max()}")


def check_metadata(learner: Learner) -> None:
    """Class attributes the registry and the search read are present and typed."""
    missing = [m for m in MEMBERS if not hasattr(learner, m)]
    assert not missing, f"learner {learner!r} lacks the Learner members {missing}"
    name = getattr(learner, "name", None)
    assert isinstance(name, str) and name, f"learner {learner!r} needs a non-empty str name"
    kinds = learner.task_kinds
    well_typed = isinstance(kinds, frozenset) and all(isinstance(k, TaskKind) for k in kinds)
    assert well_typed and kinds, (
        f"learner {name!r}: task_kinds must be a non-empty frozenset of TaskKind, got {kinds!r}")
    assert isinstance(learner.uses_gpu, bool), f"learner {name!r}: uses_gpu must be a bool"
    cost = learner.relative_cost
    assert isinstance(cost, int | float) and cost > 0, (
        f"learner {name!r}: relative_cost must be a positive number, got {cost!r}")
    fidelity = learner.fidelity
    assert fidelity is None or (isinstance(fidelity, Fidelity) and 1 <= fidelity.low
                                <= fidelity.high), (
        f"learner {name!r}: fidelity must be None or Fidelity(name, 1 <= low <= high), "
        f"got {fidelity!r}")


def _inside(distribution: BaseDistribution, value: Any) -> bool:
    if isinstance(distribution, CategoricalDistribution):
        return any(value == c and type(value) is type(c) for c in distribution.choices)
    if isinstance(distribution, IntDistribution | FloatDistribution):
        number = (int, np.integer) if isinstance(distribution, IntDistribution) else (int, float)
        return isinstance(value, number) and bool(distribution.low <= value <= distribution.high)
    return bool(distribution._contains(distribution.to_internal_repr(value)))


def check_space_and_portfolio(case: LearnerCase) -> Mapping[str, BaseDistribution]:
    """The space is Optuna distributions without the fidelity knob; the portfolio fits in it."""
    shape = DataShape.of(case.features)
    space = case.learner.space(case.task, shape)
    assert isinstance(space, Mapping), f"{case.label}: space() must return a mapping"
    for key, distribution in space.items():
        assert isinstance(key, str) and isinstance(distribution, BaseDistribution), (
            f"{case.label}: space entry {key!r} is not a str -> optuna distribution")
    fidelity = case.learner.fidelity
    assert fidelity is None or fidelity.name not in space, (
        f"{case.label}: the fidelity knob {fidelity.name!r} must not be in space(); "
        "the engine sets it through the fidelity argument")
    portfolio = list(case.learner.portfolio(case.task, shape))
    assert portfolio, f"{case.label}: portfolio() is empty; give at least one strong config"
    for i, config in enumerate(portfolio):
        unknown = sorted(set(config) - set(space))
        assert not unknown, f"{case.label}: portfolio[{i}] has keys {unknown} not in space()"
        outside = {k: v for k, v in config.items() if not _inside(space[k], v)}
        assert not outside, (
            f"{case.label}: portfolio[{i}] values {outside} lie outside their distributions")
    return space


def check_fit_predict(case: LearnerCase) -> np.ndarray:
    """A fit predicts well-formed values, honours the fidelity, and leaves the inputs alone."""
    return fit_and_check(case)[1]


def fit_and_check(case: LearnerCase) -> tuple[Fitted, np.ndarray]:
    """:func:`check_fit_predict`, also returning the fitted model: the checks that only read
    a model fitted with the case's settings use it rather than fit their own."""
    X_before, y_before = case.features.X.copy(), case.y.copy()
    fitted = case.fit()
    assert isinstance(fitted, Fitted), f"{case.label}: fit returned {type(fitted).__name__}"
    prediction = case.learner.predict(fitted, case.asked)
    check_prediction(case, prediction, len(case.asked), "predict")
    assert np.array_equal(case.features.X, X_before, equal_nan=True) and np.array_equal(
        case.y, y_before), f"{case.label}: fit or predict modified the input arrays"
    facts = check_facts(case, fitted)
    if case.learner.fidelity is not None and case.fidelity is not None:
        assert facts.units_trained == case.fidelity, (
            f"{case.label}: fit with fidelity {case.fidelity} and no deadline reported "
            f"FitFacts.units_trained = {facts.units_trained!r}; the engine counts and refits "
            "from it, so it must be exact")
    return fitted, prediction


def check_facts(case: LearnerCase, fitted: Fitted) -> FitFacts:
    """``fitted.facts`` is a FitFacts; a learner with a fidelity reports the units it
    trained (the engine counts work and sizes refits from them)."""
    facts = fitted.facts
    assert isinstance(facts, FitFacts), (
        f"{case.label}: Fitted.facts is {type(facts).__name__}, not a FitFacts")
    if case.learner.fidelity is not None:
        assert facts.units_trained is not None, (
            f"{case.label}: a learner with a fidelity must report the units it trained in "
            "Fitted.facts (FitFacts(units_trained=...))")
    return facts


def check_seed_repeatable(case: LearnerCase, reference: np.ndarray) -> None:
    """The same seed gives the same predictions."""
    again = case.learner.predict(case.fit(), case.asked)
    difference = float(np.max(np.abs(again - reference)))
    assert np.array_equal(again, reference), (
        f"{case.label}: two fits with seed {case.seed} differ by up to {difference:.3g}; "
        "set the library's seed and its deterministic mode")


def check_single_row(case: LearnerCase, reference: np.ndarray,
                     fitted: Fitted | None = None) -> None:
    """Predicting one row gives that row of the batch prediction (to 1e-6); ``fitted``: the
    model ``reference`` came from (fitted here when None)."""
    fitted = case.fit() if fitted is None else fitted
    rows = {0, 1, len(case.asked) - 1}
    missing = np.flatnonzero(np.isnan(case.asked.X).any(axis=1))
    rows.update(missing[:1].tolist())
    for row in sorted(rows):
        single = case.learner.predict(fitted, case.asked.take(np.array([row])))
        check_prediction(case, single, 1, f"predict on row {row} alone")
        assert np.allclose(single[0], reference[row], rtol=0, atol=1e-6), (
            f"{case.label}: row {row} alone predicts {single[0]}, in the batch {reference[row]}")


def check_save_load(case: LearnerCase, tmp_path: Path, reference: np.ndarray,
                    fitted: Fitted | None = None) -> None:
    """Saving writes only inside the directory, in no pickle format; loading predicts the same.
    ``fitted``: the model ``reference`` came from (fitted here when None)."""
    tmp_path = Path(tmp_path)
    directory = tmp_path / f"{case.learner.name}-{case.task.kind.value}-saved"
    fitted = case.fit() if fitted is None else fitted
    before = set(tmp_path.iterdir())
    files = case.learner.save(fitted, directory)
    added = set(tmp_path.iterdir()) - before
    assert added <= {directory}, f"{case.label}: save wrote outside its directory: {added}"
    assert files, f"{case.label}: save returned no files"
    for file in map(Path, files):
        assert file.is_file(), f"{case.label}: save returned {file}, which is not a file"
        assert file.resolve().is_relative_to(directory.resolve()), (
            f"{case.label}: save returned {file}, outside {directory}")
        assert file.read_bytes()[:1] != PICKLE_MAGIC, (
            f"{case.label}: {file.name} looks like a pickle; use the library's native format")
    loaded = type(case.learner)().load(directory, case.task)
    again = type(case.learner)().predict(loaded, case.asked)
    assert np.allclose(again, reference, rtol=0, atol=1e-12), (
        f"{case.label}: predictions after save/load differ by up to "
        f"{float(np.max(np.abs(again - reference))):.3g}")


def check_deadline(case: LearnerCase) -> None:
    """A fit far too long for its deadline stops near it and still gives a usable model.

    Learners without a fidelity (a single solver call) are only checked to be fast enough.
    """
    fidelity = UNREACHABLE_FIDELITY if case.learner.fidelity is not None else None
    with Stopwatch() as watch:  # the busy time: another job on the cores does not count
        fitted = case.fit(fidelity=fidelity, deadline=Deadline.in_seconds(DEADLINE_S))
    elapsed = watch.seconds
    assert elapsed <= DEADLINE_S + DEADLINE_SLACK_S, (
        f"{case.label}: fit with a deadline {DEADLINE_S} s away took {elapsed:.2f} s "
        f"(fidelity {fidelity}); check the deadline between rounds or trees")
    check_prediction(case, case.learner.predict(fitted, case.asked), len(case.asked),
                     "predict after a deadline-cut fit")
    if case.learner.fidelity is not None:
        built = check_facts(case, fitted).units_trained
        assert built is not None and 0 <= built < UNREACHABLE_FIDELITY, (
            f"{case.label}: a deadline-cut fit reported FitFacts.units_trained = {built!r}; "
            "report the units it trained before the deadline")


def _split(case: LearnerCase) -> tuple[np.ndarray, np.ndarray]:
    if case.query is not None:  # the later rows of each series cannot be left out at random
        return np.arange(len(case.features)), np.zeros(0, dtype=np.int64)
    order = np.random.default_rng(case.seed).permutation(len(case.features))
    cut = int(len(order) * 0.75)
    return np.sort(order[:cut]), np.sort(order[cut:])


def check_valid(case: LearnerCase) -> None:
    """Fitting with a validation split works and records the rounds kept for the refit."""
    train, valid = _split(case)
    valid_data = (case.features.take(valid), case.y[valid])
    fitted = case.fit(train, valid=valid_data)
    asked = valid_data[0] if case.query is None else case.query
    prediction = case.learner.predict(fitted, asked)
    check_prediction(case, prediction, len(asked), "predict after a fit with valid")
    fidelity = case.learner.fidelity
    if fidelity is None:
        return
    requested = case.fidelity if case.fidelity is not None else fidelity.high
    facts = check_facts(case, fitted)
    kept = facts.refit_units if facts.refit_units is not None else facts.units_trained
    assert kept is not None and 1 <= kept <= requested, (
        f"{case.label}: a fit with valid reported {facts!r}; the units kept for the refit "
        f"(refit_units, else units_trained) must be between 1 and {requested}")


def check_missing_class(case: LearnerCase) -> None:
    """A training set without the last class still predicts every class, that one as 0."""
    if not case.task.kind.is_classification:
        return
    absent = case.task.n_classes - 1
    rows = np.flatnonzero(case.y != absent)
    fitted = case.fit(rows)
    prediction = case.learner.predict(fitted, case.features)
    check_prediction(case, prediction, len(case.features), f"predict without class {absent}")
    assert np.all(prediction[:, absent] == 0.0), (
        f"{case.label}: class {absent} was absent from training but gets probability up to "
        f"{prediction[:, absent].max():.3g}")


def _corner(space: Mapping[str, BaseDistribution], end: int) -> dict[str, Any]:
    """Every knob at its low (end=0) or high (end=-1) bound; categoricals first or last."""
    config: dict[str, Any] = {}
    for key, d in space.items():
        if isinstance(d, CategoricalDistribution):
            config[key] = d.choices[end]
        elif isinstance(d, IntDistribution | FloatDistribution):
            config[key] = (d.low, d.high)[end]
    return config


def check_space_corners(case: LearnerCase, space: Mapping[str, BaseDistribution]) -> None:
    """Both corners of the space fit and predict, so every bound is one the library accepts."""
    for config in (_corner(space, 0), _corner(space, -1)):
        fitted = case.fit(config=config)
        check_prediction(case, case.learner.predict(fitted, case.asked), len(case.asked),
                         f"predict after fitting config {config}")


def check_learner(
    learner: Learner,
    task: Task,
    features: Features,
    y: np.ndarray,
    *,
    tmp_path: Path,
    fidelity: int | None = None,
    n_jobs: int = 1,
    fixed: Config | None = None,
    query: Features | None = None,
) -> None:
    """Run every check; ``fidelity`` defaults to the learner's low end to keep it quick;
    ``fixed`` parameters join every config (what a run fixes for the learner, e.g. a
    pretrained checkpoint); ``query`` the rows to predict when they are not the training
    rows (a forecaster's steps ahead)."""
    check_metadata(learner)
    assert task.kind in learner.task_kinds, (
        f"learner {learner.name!r} does not declare {task.kind.value} in its task_kinds")
    if fidelity is None and learner.fidelity is not None:
        fidelity = learner.fidelity.low
    case = LearnerCase(learner, task, features, y, fidelity=fidelity, n_jobs=n_jobs,
                       fixed=dict(fixed or {}), query=query)
    space = check_space_and_portfolio(case)
    fitted, reference = fit_and_check(case)
    check_seed_repeatable(case, reference)  # a second fit with the seed predicts the same,
    check_single_row(case, reference, fitted)  # so these two read the first
    check_save_load(case, tmp_path, reference, fitted)
    check_deadline(case)
    check_valid(case)
    check_missing_class(case)
    check_space_corners(case, space)
