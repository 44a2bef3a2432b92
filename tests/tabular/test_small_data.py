"""Small data: a simpler config served when the best one validates better only by noise, and
rows missing values the training rows had answered closer to the class shares."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import accelml
from accelml.core.learner import discover
from accelml.core.metrics import get_metric
from accelml.core.noise import paired_gap, prefer_simpler
from accelml.core.task import Task, TaskKind
from accelml.core.trial import TrialResult, TrialSpec, TrialStatus
from accelml.core.unseen import UnseenGuard
from tests.conftest import cancer_frame, split

discover(("accelml.tabular.learners",))
TASK = Task(TaskKind.BINARY, "y", "log_loss", ("a", "b"), "b")
RNG = np.random.default_rng(0)
Y = RNG.integers(0, 2, 400)


def _loss(y: np.ndarray, p: np.ndarray) -> float:
    return get_metric("log_loss").loss(y, p, TASK)


def _proba(sureness: float, noise: float, seed: int) -> np.ndarray:
    """Right on most rows with the given sureness, jittered."""
    rng = np.random.default_rng(seed)
    p = np.where(Y == 1, sureness, 1 - sureness) + rng.normal(0, noise, len(Y))
    p = np.clip(p, 0.01, 0.99)
    return np.column_stack([1 - p, p])


def _trial(tmp_path: Path, trial_id: int, learner: str, config: dict,
           proba: np.ndarray) -> TrialResult:
    oof = tmp_path / f"{trial_id}.npy"
    np.save(oof, proba)
    return TrialResult(TrialSpec(trial_id, learner, config, None, 10.0, 0, 1), TrialStatus.OK,
                       score=_loss(Y, proba), oof_path=oof)


def test_the_gap_between_two_trials_has_a_standard_error() -> None:
    best, worse = _proba(0.8, 0.1, 1), _proba(0.7, 0.1, 2)
    gap, error = paired_gap(_loss, Y, best, worse)
    assert gap > 0 and 0 < error < gap
    same_gap, same_error = paired_gap(_loss, Y, best, best)
    assert same_gap == 0 and same_error == 0


@pytest.mark.parametrize("metric", ["log_loss", "rmse", "mae"])
def test_metrics_that_are_means_over_rows_resample_at_once_to_the_same_answer(
        metric: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from accelml.core import noise

    monkeypatch.setattr(noise, "SLOW_BOOTSTRAPS", noise.BOOTSTRAPS)  # the same resamples
    rng = np.random.default_rng(1)
    if metric == "log_loss":
        task, y = TASK, Y
        best, other = _proba(0.8, 0.1, 1), _proba(0.75, 0.1, 2)
    else:
        task = Task(TaskKind.REGRESSION, "y", metric, (), None)
        y = rng.normal(size=300)
        best, other = y + rng.normal(0, 0.5, 300), y + rng.normal(0, 0.6, 300)

    def loss(truth: np.ndarray, prediction: np.ndarray) -> float:
        return get_metric(metric).loss(truth, prediction, task)

    fast = paired_gap(loss, y, best, other, metric=metric)
    assert fast == pytest.approx(paired_gap(loss, y, best, other), rel=1e-9)


def test_a_more_regularized_config_within_noise_is_served(tmp_path: Path) -> None:
    best = _trial(tmp_path, 0, "linear", {"C": 1000.0}, _proba(0.8, 0.1, 1))
    other = _trial(tmp_path, 1, "lightgbm", {}, _proba(0.8, 0.1, 5))
    nearly = _trial(tmp_path, 2, "linear", {"C": 1.0}, _proba(0.8, 0.1, 3))
    ranked, record = prefer_simpler([best, other, nearly], Y, _loss, TASK)
    assert ranked[0] is nearly and [r.spec.trial_id for r in ranked] == [2, 0, 1]
    assert record is not None and record["best_trial"] == 0 and record["served_trial"] == 2
    assert record["loss_gap"] <= record["standard_error"] and record["passed_over"] == [0]


def test_a_clearly_worse_or_an_unordered_config_leaves_the_best_first(tmp_path: Path) -> None:
    best = _trial(tmp_path, 0, "linear", {"C": 1000.0}, _proba(0.8, 0.1, 1))
    worse = _trial(tmp_path, 1, "linear", {"C": 0.01}, _proba(0.6, 0.1, 3))
    assert prefer_simpler([best, worse], Y, _loss, TASK) == ([best, worse], None)
    forest = _trial(tmp_path, 2, "random_forest", {"max_features": 0.5}, _proba(0.8, 0.1, 1))
    twin = _trial(tmp_path, 3, "random_forest", {"max_features": 0.2}, _proba(0.8, 0.1, 3))
    assert prefer_simpler([forest, twin], Y, _loss, TASK) == ([forest, twin], None)


def test_the_guard_mixes_in_the_class_shares_only_for_rows_missing_expected_values() -> None:
    X = RNG.normal(size=(200, 4))
    X[:50, 3] = np.nan  # column 3 is often missing: expected; columns 0-2 never are
    guard = UnseenGuard.fit(X, np.array([0] * 150 + [1] * 50), 2)
    assert guard.rare.tolist() == [True, True, True, False]
    rows = np.array([[1.0, 2.0, 3.0, np.nan], [np.nan, np.nan, 3.0, 1.0]])
    proba = np.array([[0.01, 0.99], [0.01, 0.99]])
    shrunk = guard.shrink(rows, proba)
    assert shrunk[0].tolist() == [0.01, 0.99]  # its missing value is an expected one
    assert shrunk[1] == pytest.approx(0.5 * proba[1] + 0.5 * np.array([0.75, 0.25]))
    assert UnseenGuard.from_dict(guard.to_dict()).to_dict() == guard.to_dict()


def test_a_served_classifier_answers_a_row_missing_every_measurement_less_surely(
        tmp_path: Path) -> None:
    train, test = split(cancer_frame())
    predictor = accelml.fit(train, "diagnosis", time_budget=30, max_trials=3, quiet=True,
                            learners=("linear",), out=tmp_path / "model")
    row = test.iloc[[0]].copy()
    measured = [c for c in row.columns if c != "diagnosis" and
                pd.api.types.is_numeric_dtype(row[c])]
    blank = row.copy()
    blank[measured] = np.nan
    sure = predictor.predict_proba(row).to_numpy()
    unsure = predictor.predict_proba(blank).to_numpy()
    prior = train["diagnosis"].value_counts(normalize=True)[predictor.classes].to_numpy()
    assert np.abs(unsure - prior).max() < np.abs(sure - prior).max()
    assert predictor.guard is not None and predictor.guard.weights(
        predictor.preprocessor.transform(blank.drop(columns=["diagnosis"])).X)[0] > 0.5
    loaded = accelml.load(tmp_path / "model")
    np.testing.assert_allclose(loaded.predict_proba(blank).to_numpy(), unsure)
    regressor = accelml.fit(train.assign(diagnosis=train["mean_area"] * 1.0).drop(
        columns=["mean_area"]), "diagnosis", time_budget=30, max_trials=1, quiet=True,
        learners=("linear",))
    assert regressor.guard is None
