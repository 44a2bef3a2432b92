"""The factor recommenders (als, bpr), biased matrix factorization and the two-stage hybrid
ranker: they learn the taste groups of the test data, respect deadlines, and save without
pickles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import accelml.recsys.learners  # noqa: F401  (registers the learners)
from accelml.core.budget import Deadline
from accelml.core.data import Features
from accelml.core.learner import Fitted, get_learner
from accelml.core.ranking import rank_users
from accelml.errors import ArtifactError
from accelml.recsys.learners import base
from accelml.recsys.learners.hybrid import merge_scores, split_rows
from accelml.testing.learner_checks import PICKLE_MAGIC
from accelml.testing.recsys_data import GROUPS, ranking_case

TASK, FEATURES, Y = ranking_case()
N_USERS, N_ITEMS = base.shape_of(FEATURES)
BLOCK = N_ITEMS // GROUPS
FIDELITY = {"als": 15, "bpr": 100, "hybrid_ranker": 100, "biased_mf": 10}


def _held_out_split() -> tuple[np.ndarray, np.ndarray]:
    """Train and test rows: three of each user's own-group items held out."""
    users, items = base.codes(FEATURES)
    own = items // BLOCK == users % GROUPS
    rng = np.random.default_rng(0)
    test = np.zeros(len(Y), dtype=bool)
    for user in range(N_USERS):
        test[rng.choice(np.flatnonzero((users == user) & own), 3, replace=False)] = True
    return np.flatnonzero(~test), np.flatnonzero(test)


def _fit(name: str, rows: np.ndarray | None = None, deadline: Deadline | None = None,
         data: tuple[Features, np.ndarray] = (FEATURES, Y), **kwargs: object) -> Fitted:
    features, y = data
    if rows is not None:
        features, y = features.take(rows), y[rows]
    settings = {"task": TASK, "fidelity": FIDELITY[name], "n_jobs": 1, "seed": 0, **kwargs}
    return get_learner(name).fit(features, y, {}, deadline=deadline or Deadline.never(),
                                 **settings)


class _ExpiresAfter:
    """A deadline that passes after its ``calls``-th look, whatever the clock says."""

    def __init__(self, calls: int) -> None:
        self.calls = calls

    def expired(self) -> bool:
        self.calls -= 1
        return self.calls < 0

    def remaining(self) -> float:
        return 1.0 if self.calls > 0 else -1.0


@pytest.mark.parametrize("name", ["als", "bpr", "hybrid_ranker"])
def test_own_group_unseen_items_rank_above_other_groups(name: str) -> None:
    train, _ = _held_out_split()
    fitted = _fit(name, train)
    seen = base.interactions(FEATURES.take(train), Y[train])
    learner = get_learner(name)
    top = rank_users(lambda users: learner.score_users(fitted, users), np.arange(N_USERS),
                     seen, N_ITEMS, N_ITEMS)
    wins = []
    for user, items in zip(top.users, top.items, strict=True):
        ranked = items[items >= 0]
        own = ranked // BLOCK == user % GROUPS
        positions = np.arange(len(ranked))
        wins.append(positions[own].mean() < positions[~own].mean())
    assert np.mean(wins) >= 0.9, f"{name}: own group first for only {np.mean(wins):.0%}"


def test_biased_mf_beats_the_global_mean_within_the_rating_range() -> None:
    order = np.random.default_rng(1).permutation(len(Y))
    cut = int(0.8 * len(order))
    train, test = np.sort(order[:cut]), np.sort(order[cut:])
    fitted = _fit("biased_mf", train, valid=(FEATURES.take(test), Y[test]))
    predicted = get_learner("biased_mf").predict(fitted, FEATURES.take(test))
    rmse = float(np.sqrt(np.mean((predicted - Y[test]) ** 2)))
    baseline = float(np.sqrt(np.mean((Y[train].mean() - Y[test]) ** 2)))
    assert rmse < baseline
    assert fitted.info["valid_rmse"] == pytest.approx(rmse)
    assert fitted.info["predicts_ratings"] is True
    scores = get_learner("biased_mf").score_users(fitted, np.arange(N_USERS))
    low, high = Y[train].min(), Y[train].max()
    assert scores.shape == (N_USERS, N_ITEMS)
    assert scores.min() >= low and scores.max() <= high
    assert predicted.min() >= low and predicted.max() <= high


def test_biased_mf_refuses_implicit_feedback() -> None:
    _, features, y = ranking_case(explicit=False)
    with pytest.raises(ValueError, match="biased_mf needs explicit ratings"):
        _fit("biased_mf", data=(features, y))


@pytest.mark.parametrize("name", ["als", "bpr", "biased_mf"])
def test_a_deadline_ends_training_after_the_epochs_it_allowed(name: str) -> None:
    full = _fit(name)
    cut = _fit(name, deadline=_ExpiresAfter(3))  # type: ignore[arg-type]
    assert full.facts.units_trained == FIDELITY[name]
    assert 1 <= cut.facts.units_trained < FIDELITY[name]
    assert cut.info["deadline_hit"] is True


@pytest.mark.parametrize("name", ["als", "bpr", "biased_mf", "hybrid_ranker"])
def test_a_passed_deadline_fits_nothing_but_still_scores(name: str) -> None:
    fitted = _fit(name, deadline=Deadline.in_seconds(-1.0), fidelity=100_000)
    assert fitted.facts.units_trained == 0
    scores = get_learner(name).score_users(fitted, np.arange(N_USERS))
    assert scores.shape == (N_USERS, N_ITEMS) and np.isfinite(scores).all()


@pytest.mark.parametrize("name", ["als", "bpr", "biased_mf", "hybrid_ranker"])
def test_save_load_round_trip_scores_the_same_without_pickles(name: str,
                                                              tmp_path: Path) -> None:
    learner = get_learner(name)
    fitted = _fit(name)
    files = learner.save(fitted, tmp_path / name)
    assert all(Path(f).read_bytes()[:1] != PICKLE_MAGIC for f in files)
    loaded = get_learner(name).load(tmp_path / name, TASK)
    users = np.arange(N_USERS)
    assert np.array_equal(learner.score_users(loaded, users),
                          learner.score_users(fitted, users))
    assert np.array_equal(learner.predict(loaded, FEATURES), learner.predict(fitted, FEATURES))
    other = "bpr" if name == "als" else "als"
    with pytest.raises(ArtifactError):
        get_learner(other).load(tmp_path / name, TASK)


@pytest.mark.parametrize("name", ["als", "bpr", "biased_mf", "hybrid_ranker"])
def test_predict_is_the_score_users_entry_and_a_row_alone_matches(name: str) -> None:
    learner = get_learner(name)
    fitted = _fit(name)
    users, items = base.codes(FEATURES)
    batch = learner.predict(fitted, FEATURES)
    np.testing.assert_allclose(batch, learner.score_users(fitted, np.arange(N_USERS))[
        users, items], rtol=0, atol=1e-12)
    for row in (0, 7, len(Y) - 1):
        assert learner.predict(fitted, FEATURES.take(np.array([row])))[0] == batch[row]


def test_als_similar_items_come_from_the_same_block() -> None:
    fitted = _fit("als")
    neighbours, similarity = get_learner("als").similar_items(fitted, np.arange(N_ITEMS), 3)
    assert neighbours.shape == similarity.shape == (N_ITEMS, 3)
    assert not (neighbours == np.arange(N_ITEMS)[:, None]).any()
    same = neighbours // BLOCK == (np.arange(N_ITEMS) // BLOCK)[:, None]
    assert same.mean() >= 0.9


def test_the_hybrid_holds_back_each_users_latest_fifth() -> None:
    fit_rows, label_rows = split_rows(FEATURES, seed=0)
    assert len(np.intersect1d(fit_rows, label_rows)) == 0
    assert len(fit_rows) + len(label_rows) == len(Y)
    users, _ = base.codes(FEATURES)
    times = FEATURES.X[:, 2]
    for user in range(N_USERS):
        held = label_rows[users[label_rows] == user]
        kept = fit_rows[users[fit_rows] == user]
        assert len(held) == 2 and times[held].min() > times[kept].max()


def test_hybrid_scores_keep_candidates_above_the_rest_in_generator_order() -> None:
    items = np.array([[2, 0, -1]])
    generator = np.array([[5.0, 1.0, 9.0, 3.0]])
    merged = merge_scores(items, generator, np.array([-4.0, 7.0]))
    assert merged[0, 0] > merged[0, 2] > merged[0, 3] > merged[0, 1]
    assert np.isfinite(merged).all()
