"""The memory-based recommenders (popularity, item and user kNN, EASE): their formulas on
hand-worked matrices, the taste structure of the synthetic ranking data, similar items and
reasons, and the refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from accelml.core.budget import Deadline
from accelml.core.data import DataShape, Features
from accelml.core.learner import Fitted, get_learner
from accelml.core.ranking import rank_users, user_item_matrix
from accelml.core.task import Task, TaskKind
from accelml.errors import ArtifactError
from accelml.recsys.learners import popularity  # noqa: F401  (registers it)
from accelml.recsys.learners.ease import MAX_ITEMS
from accelml.recsys.learners.neighbours import bm25_weight
from accelml.testing.recsys_data import GROUPS, ranking_case

TASK = Task(TaskKind.RANKING, "interaction", "ndcg@10")
BLOCK = 10  # ranking_case: 40 items, 4 groups


def tiny(pairs: list[tuple[int, int]], shape: tuple[int, int],
         times: list[float] | None = None) -> Features:
    """Interaction rows of (user, item) pairs with ``shape`` (users, items)."""
    X = np.column_stack([np.array(pairs, dtype=np.float64),
                         np.full(len(pairs), np.nan) if times is None else times])
    info = {"interactions": {"n_users": shape[0], "n_items": shape[1], "explicit": False,
                             "relevant_min": None}}
    return Features(X, names=("user", "item", "time"), block_info=info)


def fit(name: str, features: Features, y: np.ndarray | None = None, **config: object
        ) -> Fitted:
    values = np.ones(len(features)) if y is None else y
    return get_learner(name).fit(features, values, dict(config), task=TASK, fidelity=None,
                                 deadline=Deadline.never(), n_jobs=1, seed=0)


def test_ease_matches_the_closed_form_worked_by_hand() -> None:
    # X = [[1,1,0],[0,1,1],[1,1,1]], l2 = 1: X^T X + I = [[3,2,1],[2,4,2],[1,2,3]], whose
    # inverse is [[8,-4,0],[-4,8,-4],[0,-4,8]] / 16; B = -P / diag(P) off the diagonal.
    features = tiny([(0, 0), (0, 1), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2)], (3, 3))
    learner = get_learner("ease")
    fitted = fit("ease", features, l2=1.0, weighting="binary")
    expected = np.array([[0.0, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.0]])
    assert np.allclose(fitted.model["weights"], expected, atol=1e-6)
    assert np.all(np.diag(fitted.model["weights"]) == 0)
    scores = learner.score_users(fitted, np.array([0, 1]))
    assert np.allclose(scores, [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]], atol=1e-6)


def test_item_knn_shrunk_cosine_worked_by_hand_and_pruned_to_k() -> None:
    # item 0: users {0,1,2}, item 1: {0,1,3}, item 2: {2}. shrink 1:
    # sim(0,1) = 2 / (sqrt3 * sqrt3 + 1) = 0.5, sim(0,2) = 1 / (sqrt3 + 1), sim(1,2) = 0.
    features = tiny([(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 2), (3, 1)], (4, 3))
    learner = get_learner("item_knn")
    both = fit("item_knn", features, neighbours=2, shrink=1.0, weighting="binary").model
    similarity = both["similarity"].toarray()
    assert similarity[1, 0] == pytest.approx(0.5)
    assert similarity[2, 0] == pytest.approx(1 / (np.sqrt(3) + 1), rel=1e-6)
    assert similarity[1, 2] == 0 and np.all(np.diag(similarity) == 0)
    one = fit("item_knn", features, neighbours=1, shrink=1.0, weighting="binary")
    kept = one.model["similarity"].toarray()
    assert np.count_nonzero(kept, axis=0).tolist() == [1, 1, 1]
    assert kept[1, 0] == pytest.approx(0.5) and kept[2, 0] == 0  # item 0 keeps item 1
    assert np.allclose(learner.score_users(one, np.array([3])), [[0.5, 0.0, 0.0]])


def test_neighbours_pruning_keeps_at_most_k_per_item_and_user() -> None:
    _, features, y = ranking_case()
    items = fit("item_knn", features, y, neighbours=5, shrink=0.0, weighting="bm25")
    assert np.diff(items.model["similarity"].tocsc().indptr).max() <= 5
    users = fit("user_knn", features, y, neighbours=4, shrink=0.0, weighting="binary")
    assert np.diff(users.model["similarity"].indptr).max() <= 4


def test_bm25_damps_heavy_users_and_keeps_the_pattern() -> None:
    matrix = user_item_matrix(np.array([[0, 0], [1, 0], [1, 1], [1, 2]], float), None, (2, 4))
    weighted = bm25_weight(matrix)
    assert weighted.nnz == matrix.nnz and np.all(weighted.data > 0)
    assert weighted[0, 0] > weighted[1, 0]  # user 1's three items say less each


def test_popularity_counts_users_once_and_weights_recency() -> None:
    day = 86_400.0
    features = tiny([(0, 0), (0, 0), (1, 0), (2, 1)], (3, 2), times=[0, 0, 0, 100 * day])
    plain = fit("popularity", features)
    assert plain.model["scores"].tolist() == [2.0, 1.0]
    recent = fit("popularity", features, half_life_days=10.0)
    assert recent.model["scores"][0] == pytest.approx(2 * 0.5 ** 10)
    assert recent.model["scores"][1] == 1.0
    ranked = get_learner("popularity").score_users(recent, np.array([0, 2]))
    assert ranked.shape == (2, 2) and np.all(ranked.argmax(axis=1) == 1)


def _held_out() -> tuple[Features, np.ndarray, np.ndarray]:
    """ranking_case with three liked items of each user held out (each user saw their whole
    block, so only held-out items of it are left to rank)."""
    _, features, y = ranking_case()
    users = features.X[:, 0].astype(int)
    rng = np.random.default_rng(0)
    held = np.concatenate([rng.choice(np.flatnonzero((users == u) & (y >= 4)), 3,
                                      replace=False) for u in np.unique(users)])
    train = np.setdiff1d(np.arange(len(y)), held)
    return features.take(train), y[train], held


@pytest.mark.parametrize(("name", "config"), [
    ("item_knn", {}), ("user_knn", {}), ("ease", {"l2": 100.0}),
    ("item_knn", {"weighting": "value", "normalize": True}),
])
def test_learners_rank_the_users_own_group_first(name: str, config: dict[str, object]
                                                 ) -> None:
    train, y, _ = _held_out()
    learner = get_learner(name)
    fitted = fit(name, train, y, **config)
    shape = (60, 40)
    users = np.arange(shape[0])
    seen = user_item_matrix(train.X, None, shape)
    top = rank_users(lambda block: learner.score_users(fitted, block), users, seen, 3,
                     shape[1])
    own = (top.items // BLOCK) == (users % GROUPS)[:, None]
    # the two off-block items each user rated low count as interactions too: some noise
    assert own[:, 0].mean() >= 0.95 and own.mean() >= 0.85, f"{name}: {own.mean(axis=0)}"
    rows = train.take(np.arange(5))
    single = [learner.predict(fitted, rows.take(np.array([i])))[0] for i in range(5)]
    batch = learner.predict(fitted, rows)
    by_user = learner.score_users(fitted, rows.X[:, 0].astype(int))
    assert np.array_equal(single, batch)
    assert np.array_equal(batch, by_user[np.arange(5), rows.X[:, 1].astype(int)])


@pytest.mark.parametrize("name", ["item_knn", "ease"])
def test_similar_items_are_of_the_same_block_never_the_item(name: str) -> None:
    _, features, y = ranking_case()
    learner = get_learner(name)
    fitted = fit(name, features, y, **({"l2": 10.0} if name == "ease" else {}))
    items = np.array([3, 15, 27, 39])
    similar, scores = learner.similar_items(fitted, items, 5)
    assert similar.shape == scores.shape == (4, 5)
    assert not np.any(similar == items[:, None])
    assert np.all(similar // BLOCK == (items // BLOCK)[:, None])
    assert np.all(np.diff(scores, axis=1) <= 0)


@pytest.mark.parametrize("name", ["item_knn", "ease"])
def test_reasons_are_the_users_history_items_best_first(name: str) -> None:
    train, y, held = _held_out()
    learner = get_learner(name)
    fitted = fit(name, train, y, **({"l2": 10.0} if name == "ease" else {}))
    _, features, _ = ranking_case()
    user = 5
    history = set(train.X[train.X[:, 0] == user, 1].astype(int).tolist())
    recommended = features.X[held][features.X[held, 0] == user, 1].astype(int)
    reasons = learner.reasons(fitted, user, recommended, top=3)
    assert len(reasons) == len(recommended)
    for pairs in reasons:
        assert 1 <= len(pairs) <= 3
        assert {item for item, _ in pairs} <= history
        contributions = [value for _, value in pairs]
        assert contributions == sorted(contributions, reverse=True) and contributions[-1] > 0
    assert learner.reasons(fitted, user, np.array([-1]), top=3) == [[]]  # unknown item
    assert not hasattr(get_learner("user_knn"), "reasons")


def test_ease_refuses_a_catalogue_above_its_limit() -> None:
    features = tiny([(0, 0), (1, MAX_ITEMS)], (2, MAX_ITEMS + 1))
    with pytest.raises(ValueError, match="limit of 20,000"):
        fit("ease", features)


def test_load_refuses_another_learners_model(tmp_path: Path) -> None:
    _, features, y = ranking_case()
    saved = get_learner("item_knn").save(fit("item_knn", features, y), tmp_path / "knn")
    assert all(file.read_bytes()[:1] != b"\x80" for file in saved)
    with pytest.raises(ArtifactError, match="item_knn"):
        get_learner("ease").load(tmp_path / "knn", TASK)


def test_spaces_handle_unknown_and_tiny_shapes() -> None:
    for name in ("popularity", "item_knn", "user_knn", "ease"):
        learner = get_learner(name)
        for shape in (DataShape(0, 0), DataShape(10, 3, entities=(3, 2))):
            space = learner.space(TASK, shape)
            for config in learner.portfolio(TASK, shape):
                assert set(config) <= set(space)
                if "neighbours" in config:
                    assert space["neighbours"].low <= config["neighbours"] \
                        <= space["neighbours"].high
