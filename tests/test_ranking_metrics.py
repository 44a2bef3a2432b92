"""Full-ranking metrics and top-N blending (accelml.core.ranking), each against numbers
worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import sparse

from accelml.core.metrics import get_metric
from accelml.core.ranking import (
    TopN,
    aligned,
    average_precision,
    coverage,
    hit_rate,
    ndcg,
    precision,
    rank_users,
    ranking_report,
    recall,
    top_items,
    truth_matrix,
)
from accelml.errors import ConfigError

# User 0 is shown items 5, 3, 9 (best first) and finds 3 and 7 relevant (7 never shown);
# user 1 is shown 2, 4, 8 and finds 8 relevant; user 2 (no relevant item) is left out.
LIST = TopN(np.array([0, 1, 2]), np.array([[5, 3, 9], [2, 4, 8], [1, 2, 3]]),
            np.array([[3.0, 2.0, 1.0], [9.0, 8.0, 7.0], [1.0, 0.5, 0.2]]))
TRUTH_USERS = np.array([0, 0, 1])
TRUTH_ITEMS = np.array([3, 7, 8])


def _matrices(k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    candidates, (scores,) = aligned([LIST])
    return truth_matrix(LIST.users, candidates, TRUTH_USERS, TRUTH_ITEMS), scores


def test_ndcg_at_3_against_a_hand_computed_example() -> None:
    truth, scores = _matrices()
    user0 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))  # hit at rank 2 of 2 relevant
    user1 = (1 / math.log2(4)) / 1.0  # hit at rank 3 of 1 relevant
    assert ndcg(truth, scores, 3) == pytest.approx((user0 + user1) / 2)


def test_recall_precision_map_and_hit_rate_at_3_by_hand() -> None:
    truth, scores = _matrices()
    assert recall(truth, scores, 3) == pytest.approx((1 / 2 + 1 / 1) / 2)
    assert precision(truth, scores, 3) == pytest.approx((1 / 3 + 1 / 3) / 2)
    # AP@3: user 0 precision 1/2 at its hit, over min(3, 2); user 1 1/3 over min(3, 1).
    assert average_precision(truth, scores, 3) == pytest.approx(((1 / 2) / 2 + (1 / 3)) / 2)
    assert hit_rate(truth, scores, 3) == pytest.approx(1.0)
    assert hit_rate(truth, scores, 1) == pytest.approx(0.0)


def test_cut_off_one_and_coverage_by_hand() -> None:
    truth, scores = _matrices()
    assert ndcg(truth, scores, 1) == 0.0  # neither top item is relevant
    assert coverage(LIST.items, 2, n_items=10) == pytest.approx(5 / 10)  # 5, 3, 2, 4, 1
    assert coverage(LIST.items, 1, n_items=10) == pytest.approx(3 / 10)


def test_coverage_counts_distinct_items_only() -> None:
    assert coverage(np.array([[1, 2], [2, 1], [-1, -1]]), 2, n_items=4) == pytest.approx(0.5)


def test_registered_metrics_read_the_cut_off_from_their_name() -> None:
    truth, scores = _matrices()
    metric = get_metric("ndcg@1")
    assert metric.greater_is_better
    assert metric.fn(truth, scores, None) == 0.0  # type: ignore[arg-type]
    assert get_metric("recall@10").fn(truth, scores, None) == pytest.approx(0.75)  # type: ignore
    with pytest.raises(ConfigError, match="unknown metric 'ndcg@x'"):
        get_metric("ndcg@x")


def test_report_names_every_metric_at_k() -> None:
    report = ranking_report(LIST, TRUTH_USERS, TRUTH_ITEMS, 3, n_items=10)
    assert set(report) == {"ndcg@3", "recall@3", "precision@3", "map@3", "hit_rate@3",
                           "coverage@3"}


def test_top_items_masks_seen_items_and_pads_when_too_few_are_left() -> None:
    scores = np.array([[0.1, 0.9, 0.5], [0.3, 0.2, 0.1]])
    seen = sparse.csr_matrix(np.array([[0, 1, 0], [1, 1, 1]]))
    items, best = top_items(scores, seen, 2)
    assert items.tolist() == [[2, 0], [-1, -1]]
    assert best[0].tolist() == [0.5, 0.1] and np.isneginf(best[1]).all()


def test_rank_users_scores_in_chunks_with_the_same_result(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    table = np.arange(12, dtype=float).reshape(4, 3) % 5

    def score(users: np.ndarray) -> np.ndarray:
        return table[users]

    whole = rank_users(score, np.arange(4), None, 2, 3)
    monkeypatch.setattr("accelml.core.ranking.CHUNK_CELLS", 3)  # one user per pass
    chunked = rank_users(score, np.arange(4), None, 2, 3)
    assert np.array_equal(whole.items, chunked.items)


def test_aligned_lists_scale_scores_and_score_left_out_items_zero() -> None:
    a = TopN(np.array([0]), np.array([[3, 1]]), np.array([[4.0, 2.0]]))
    b = TopN(np.array([0]), np.array([[1, 7]]), np.array([[1.0, 0.0]]))
    candidates, (sa, sb) = aligned([a, b])
    assert candidates.tolist() == [[1, 3, 7]]
    assert sa.tolist() == [[0.0, 1.0, 0.0]]  # 3 best, 1 last kept, 7 left out
    assert sb.tolist() == [[1.0, 0.0, 0.0]]
    blend = (sa + sb) / 2
    assert candidates[0, np.argmax(blend)] in (1, 3)


def test_aligned_refuses_lists_of_other_users() -> None:
    a = TopN(np.array([0]), np.array([[1]]), np.array([[1.0]]))
    b = TopN(np.array([1]), np.array([[1]]), np.array([[1.0]]))
    with pytest.raises(ValueError, match="different users"):
        aligned([a, b])


def test_truth_matrix_counts_relevant_items_no_list_reached() -> None:
    candidates = np.array([[4, 5, -1]])
    truth = truth_matrix(np.array([7]), candidates, np.array([7, 7, 8]), np.array([5, 9, 4]))
    assert truth.tolist() == [[0.0, 1.0, 0.0, 2.0]]  # 5 found; 9 relevant, never listed
