"""The global network forecaster: it learns a seasonal shape the naive forecast misses,
saves and loads to the same forecasts, refuses steps past its horizon, forecasts from a new
history with its weights, and stops at its deadline with a usable model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="the [nn] extra is not installed")
pytest.importorskip("safetensors", reason="the [nn] extra is not installed")

from accelml.core.budget import Deadline  # noqa: E402
from accelml.core.data import Features  # noqa: E402
from accelml.core.learner import Fitted, registered  # noqa: E402
from accelml.core.task import Task, TaskKind  # noqa: E402
from accelml.errors import ArtifactError, ConfigError, DataError  # noqa: E402
from accelml.testing.learner_checks import (  # noqa: E402
    LearnerCase,
    check_metadata,
    check_space_and_portfolio,
)
from accelml.timeseries.learners.network import MODEL_FILE, MLPForecaster  # noqa: E402
from accelml.timeseries.learners.statistical import SeasonalNaive  # noqa: E402

N_SERIES, LENGTH, HORIZON, SEASON = 6, 60, 6, 12
TASK = Task(TaskKind.FORECAST, "y", "mase")
#: Small enough to train in well under a second.
SMALL = {"width": 128, "layers": 2, "input_multiple": 2, "learning_rate": 3e-3, "epochs": 60,
         "batch_size": 256, "dropout": 0.0, "baseline": "naive"}


def _data(seed: int = 0, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Rows (series, position, time) and values ``10 + 3 sin(2 pi t / 12)`` plus noise, each
    series at its own level and phase."""
    rng = np.random.default_rng(seed)
    t = np.arange(LENGTH)
    X = np.vstack([np.c_[np.full(LENGTH, s), t, t.astype(float)] for s in range(N_SERIES)])
    y = np.concatenate([10 + s + shift + 3 * np.sin(2 * np.pi * (t + 2 * s) / SEASON)
                        + rng.normal(0, 0.3, LENGTH) for s in range(N_SERIES)])
    return X.astype(np.float64), y


def _features(X: np.ndarray) -> Features:
    info = {"series": {"season_length": SEASON, "horizon": HORIZON, "n_series": N_SERIES,
                       "seasons": [SEASON], "frequency": None}}
    return Features(X, names=("series", "position", "time"), block_info=info)


def _split(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    train = X[:, 1] < LENGTH - HORIZON
    return train, ~train


def _fit(X: np.ndarray, y: np.ndarray, rows: np.ndarray, config: dict[str, object] = SMALL,
         deadline: Deadline | None = None, **kwargs: object) -> Fitted:
    return MLPForecaster().fit(_features(X[rows]), y[rows], dict(config), task=TASK,
                               fidelity=None, deadline=deadline or Deadline.never(),
                               n_jobs=1, seed=0, **kwargs)


@pytest.fixture(scope="module")
def fitted() -> Fitted:
    X, y = _data()
    return _fit(X, y, _split(X)[0])


def _naive(X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Each test row's series' last training value."""
    last = {int(s): v for s, v in zip(X[train, 0], y[train], strict=True)}
    return np.array([last[int(s)] for s in X[test, 0]])


def test_registered_with_valid_space_and_portfolio() -> None:
    learner = registered()["mlp_forecaster"]()
    check_metadata(learner)
    X, y = _data()
    check_space_and_portfolio(LearnerCase(learner, TASK, _features(X), y))
    assert MLPForecaster.uses_gpu is False and MLPForecaster.relative_cost == 1.3


def test_learns_the_season(fitted: Fitted) -> None:
    """Untrained, the network forecasts the last value ("naive" baseline); trained, it
    forecasts the seasonal shape far better than that or the series' mean."""
    X, y = _data()
    train, test = _split(X)
    prediction = MLPForecaster().predict(fitted, _features(X[test]))
    assert prediction.shape == (int(test.sum()),) and prediction.dtype == np.float64
    assert np.isfinite(prediction).all()
    error = np.abs(prediction - y[test]).mean()
    means = np.array([y[train][X[train, 0] == s].mean() for s in X[test, 0]])
    assert error < 0.5 * np.abs(means - y[test]).mean()
    assert error < 0.5 * np.abs(_naive(X, y, train, test) - y[test]).mean()
    assert error < 0.8  # the noise alone costs about 0.24
    assert fitted.facts.units_trained == SMALL["epochs"]
    assert fitted.facts.refit_units is None  # no validation rows: no early stopping
    assert fitted.info["deadline_hit"] is False


def test_rows_in_any_order_and_subsets(fitted: Fitted) -> None:
    X, _ = _data()
    test = np.flatnonzero(_split(X)[1])
    learner = MLPForecaster()
    batch = learner.predict(fitted, _features(X[test]))
    order = np.random.default_rng(1).permutation(len(test))
    shuffled = learner.predict(fitted, _features(X[test[order]]))
    np.testing.assert_allclose(shuffled, batch[order], rtol=0, atol=1e-9)
    single = learner.predict(fitted, _features(X[test[-1:]]))
    np.testing.assert_allclose(single, batch[-1:], rtol=0, atol=1e-9)
    assert learner.predict(fitted, _features(X[:0])).shape == (0,)


def test_same_seed_same_forecasts(fitted: Fitted) -> None:
    X, y = _data()
    train, test = _split(X)
    again = _fit(X, y, train)
    learner = MLPForecaster()
    assert np.array_equal(learner.predict(again, _features(X[test])),
                          learner.predict(fitted, _features(X[test])))


def test_save_load_round_trip(fitted: Fitted, tmp_path: Path) -> None:
    X, _ = _data()
    test = _split(X)[1]
    learner = MLPForecaster()
    files = learner.save(fitted, tmp_path / "model")
    assert (tmp_path / "model" / MODEL_FILE) in files
    assert all(Path(f).read_bytes()[:1] != b"\x80" for f in files)  # no pickle
    loaded = MLPForecaster().load(tmp_path / "model", TASK)
    assert np.array_equal(MLPForecaster().predict(loaded, _features(X[test])),
                          learner.predict(fitted, _features(X[test])))
    assert loaded.facts == fitted.facts


def test_load_refuses_another_learner(tmp_path: Path) -> None:
    X, y = _data()
    train = _split(X)[0]
    other = SeasonalNaive()
    naive = other.fit(_features(X[train]), y[train], {}, task=TASK, fidelity=None,
                      deadline=Deadline.never(), n_jobs=1, seed=0)
    other.save(naive, tmp_path / "naive")
    with pytest.raises(ArtifactError, match="seasonal_naive"):
        MLPForecaster().load(tmp_path / "naive", TASK)


def test_steps_past_the_horizon_or_the_history_are_refused(fitted: Fitted) -> None:
    X, _ = _data()
    learner = MLPForecaster()
    beyond = X[X[:, 1] == LENGTH - 1].copy()
    beyond[:, 1] += 1  # 7 steps after the last training row, horizon 6
    with pytest.raises(DataError, match="steps ahead"):
        learner.predict(fitted, _features(beyond))
    with pytest.raises(DataError, match="at or before"):
        learner.predict(fitted, _features(X[X[:, 1] == 10]))
    unknown = X[X[:, 1] == LENGTH - 1].copy()
    unknown[:, 0] = N_SERIES + 3
    with pytest.raises(DataError, match="no training history"):
        learner.predict(fitted, _features(unknown))


def test_with_history_forecasts_from_the_new_history(fitted: Fitted) -> None:
    """The weights stay; the forecasts follow the new history (here 5 higher, and one
    season further on)."""
    X, y = _data(seed=1, shift=5.0)
    learner = MLPForecaster()
    moved = learner.with_history(fitted, _features(X), y, SMALL, Deadline.never())
    assert moved.model["net"] is fitted.model["net"]
    future = X[X[:, 1] >= LENGTH - HORIZON].copy()
    future[:, 1] += HORIZON
    future[:, 2] += HORIZON
    prediction = learner.predict(moved, _features(future))
    t, s = future[:, 1], future[:, 0]
    expected = 15 + s + 3 * np.sin(2 * np.pi * (t + 2 * s) / SEASON)
    assert np.abs(prediction - expected).mean() < 0.8
    with pytest.raises(DataError, match="at or before"):  # the old steps now lie in the past
        learner.predict(moved, _features(X[X[:, 1] >= LENGTH - HORIZON]))


def test_expired_deadline_gives_the_baseline() -> None:
    """No time at all: no epoch, and the untrained network forecasts its baseline (the
    seasonal naive forecast), which is usable."""
    X, y = _data()
    train, test = _split(X)
    cut = _fit(X, y, train, {**SMALL, "baseline": "seasonal_naive"},
               deadline=Deadline.in_seconds(-1.0))
    assert cut.facts.units_trained == 0 and cut.info["deadline_hit"] is True
    prediction = MLPForecaster().predict(cut, _features(X[test]))
    season_ago = (X[:, 1] >= LENGTH - HORIZON - SEASON) & (X[:, 1] < LENGTH - SEASON)
    np.testing.assert_allclose(prediction, y[season_ago], rtol=1e-9, atol=1e-9)


def test_deadline_stops_a_long_fit() -> None:
    X, y = _data()
    train = _split(X)[0]
    long = {**SMALL, "width": 512, "layers": 4, "epochs": 100_000}
    cut = _fit(X, y, train, long, deadline=Deadline.in_seconds(0.3))
    assert cut.info["deadline_hit"] is True
    assert 0 <= cut.facts.units_trained < 100_000


def test_validation_keeps_the_best_epoch() -> None:
    X, y = _data()
    train, test = _split(X)
    fitted = _fit(X, y, train, {**SMALL, "epochs": 30},
                  valid=(_features(X[test]), y[test]))
    assert fitted.facts.units_trained is not None and fitted.facts.refit_units is not None
    assert 1 <= fitted.facts.refit_units <= fitted.facts.units_trained <= 30
    assert np.isfinite(MLPForecaster().predict(fitted, _features(X[test]))).all()


def test_unknown_hyperparameter_and_too_short_series() -> None:
    X, y = _data()
    with pytest.raises(ConfigError, match="unknown"):
        _fit(X, y, _split(X)[0], {**SMALL, "depth": 3})
    first = X[:, 1] == 0
    with pytest.raises(DataError, match="fewer than two"):
        _fit(X, y, first)
