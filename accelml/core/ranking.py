"""Ranking tasks: top-N lists, their blending, and full-ranking metrics.

A ranking task's rows are interactions: column 0 of ``Features.X`` holds the user code,
column 1 the item code (``block_info["interactions"]`` gives the counts), and ``y`` the
interaction's value (a rating, or how often it happened). Its learners score every item for
a user (``score_users``); a validation split ranks, for each user it holds, every item the
user has no training interaction with, and keeps the best ``n`` (:class:`TopN`): those lists
are the trial's out-of-fold predictions.

Metrics see a ranking as two aligned matrices: per user, a row of candidate scores and a row
of the candidates' relevance plus, in the last column, how many relevant items the user has
in all (items no list reached count there too). Blending several lists aligns them on the
union of their candidates, each list's scores scaled to [0, 1] (an item a list left out
scores 0), so greedy ensemble selection adds matrices as it adds probabilities.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

#: Candidates each user's validation list keeps (the blend re-ranks their union).
VALIDATION_N = 100
#: Cells (users x items) one scoring pass holds at most; users are scored in chunks of it.
CHUNK_CELLS = 1 << 22
USER, ITEM = 0, 1

ScoreUsers = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class TopN:
    """The best ``n`` items of each user, best first.

    Attributes:
        users: user codes, one per row.
        items: item codes, users x n; -1 where a user has fewer than n items to rank.
        scores: the scores of those items; -inf where ``items`` is -1.
    """

    users: np.ndarray
    items: np.ndarray
    scores: np.ndarray

    def save(self, path: Path) -> None:
        """Write the three arrays as one .npz file."""
        with path.open("wb") as handle:
            np.savez(handle, users=self.users, items=self.items, scores=self.scores)

    @classmethod
    def load(cls, path: Path) -> TopN:
        """Read what :meth:`save` wrote."""
        with np.load(path) as data:
            return cls(data["users"], data["items"], data["scores"])

    def normalized(self) -> np.ndarray:
        """Each row's scores scaled to [0, 1] (best 1, last kept 0); padding stays -inf."""
        valid = self.items >= 0
        low = np.where(valid, self.scores, np.inf).min(axis=1, keepdims=True)
        high = np.where(valid, self.scores, -np.inf).max(axis=1, keepdims=True)
        span = np.where(high > low, high - low, 1.0)
        scaled = np.where(valid, np.where(high > low, (self.scores - low) / span, 1.0),
                          -np.inf)
        return np.where(np.isfinite(low), scaled, -np.inf)


def interaction_counts(features_info: dict[str, Any]) -> tuple[int, int]:
    """(users, items) of a ranking task's features (``block_info["interactions"]``)."""
    facts = features_info["interactions"]
    return int(facts["n_users"]), int(facts["n_items"])


def user_item_matrix(X: np.ndarray, values: np.ndarray | None, shape: tuple[int, int]
                     ) -> sparse.csr_matrix:
    """The users x items CSR matrix of interaction rows (duplicates summed); ones when
    ``values`` is None."""
    users = np.asarray(X[:, USER], dtype=np.int64)
    items = np.asarray(X[:, ITEM], dtype=np.int64)
    data = np.ones(len(users)) if values is None else np.asarray(values, dtype=np.float64)
    matrix = sparse.csr_matrix((data, (users, items)), shape=shape)
    matrix.sum_duplicates()
    return matrix


def top_items(scores: np.ndarray, seen: sparse.csr_matrix | None, n: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """The best ``n`` columns of each row of ``scores`` (users x items), the items in
    ``seen``'s rows masked; padded with -1 / -inf where fewer are left."""
    scores = np.array(scores, dtype=np.float64, copy=True)
    if seen is not None and seen.nnz:
        rows, cols = seen.nonzero()
        scores[rows, cols] = -np.inf
    n = min(n, scores.shape[1])
    if n == 0:
        empty = np.zeros((len(scores), 0))
        return empty.astype(np.int64), empty
    part = np.argpartition(-scores, n - 1, axis=1)[:, :n]
    picked = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-picked, axis=1, kind="stable")
    items = np.take_along_axis(part, order, axis=1)
    best = np.take_along_axis(picked, order, axis=1)
    items = np.where(np.isfinite(best), items, -1)
    return items.astype(np.int64), np.where(items >= 0, best, -np.inf)


def rank_users(score_users: ScoreUsers, users: np.ndarray, seen: sparse.csr_matrix | None,
               n: int, n_items: int) -> TopN:
    """Top-``n`` lists for ``users`` from a model's ``score_users``, in chunks that keep
    every pass under :data:`CHUNK_CELLS` cells, each user's ``seen`` items masked."""
    users = np.asarray(users, dtype=np.int64)
    chunk = max(1, CHUNK_CELLS // max(1, n_items))
    items_parts, score_parts = [], []
    for start in range(0, len(users), chunk):
        block = users[start:start + chunk]
        scores = np.asarray(score_users(block), dtype=np.float64)
        if scores.shape != (len(block), n_items):
            raise ValueError(f"score_users gave shape {scores.shape}, expected "
                             f"{(len(block), n_items)}")
        if not np.all(np.isfinite(scores) | np.isneginf(scores)):
            raise ValueError("the learner scored items NaN or +inf")
        items, best = top_items(scores, None if seen is None else seen[block], n)
        items_parts.append(items)
        score_parts.append(best)
    width = min(n, n_items)
    if not items_parts:
        return TopN(users, np.zeros((0, width), np.int64), np.zeros((0, width)))
    return TopN(users, np.vstack(items_parts), np.vstack(score_parts))


def aligned(tops: Sequence[TopN]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The union of the lists' candidates per user (users x C, -1 padded) and each list's
    scores over it, scaled by :meth:`TopN.normalized` (0 where a list left a candidate out,
    -inf on padding). Every list must hold the same users in the same order."""
    users = tops[0].users
    for top in tops[1:]:
        if not np.array_equal(top.users, users):
            raise ValueError("top-N lists to align hold different users")
    stacked = np.concatenate([top.items for top in tops], axis=1)
    if stacked.shape[1] == 0:
        return stacked, [np.zeros(stacked.shape) for _ in tops]
    ordered = np.sort(stacked, axis=1)
    fresh = np.ones(ordered.shape, dtype=bool)
    fresh[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    fresh &= ordered >= 0
    width = int(fresh.sum(axis=1).max()) if len(ordered) else 0
    candidates = np.full((len(users), width), -1, dtype=np.int64)
    rank = np.cumsum(fresh, axis=1) - 1
    rows = np.nonzero(fresh)[0]
    candidates[rows, rank[fresh]] = ordered[fresh]
    scale = int(max(stacked.max(initial=0), 0)) + 2
    base = np.arange(len(users), dtype=np.int64)[:, None] * scale
    padded = np.where(candidates >= 0, candidates, scale - 1)  # padding sorts last
    keys = (padded + base).ravel()  # sorted: rows in order, each row's items sorted
    matrices = []
    for top in tops:
        matrix = np.where(candidates >= 0, 0.0, -np.inf)
        valid = top.items >= 0
        where = np.searchsorted(keys, (top.items + base)[valid])
        flat = matrix.ravel()
        flat[where] = top.normalized()[valid]
        matrices.append(flat.reshape(matrix.shape))
    return candidates, matrices


def truth_matrix(users: np.ndarray, candidates: np.ndarray, truth_users: np.ndarray,
                 truth_items: np.ndarray) -> np.ndarray:
    """Relevance of each candidate (1 when (user, item) is among the relevant pairs), with a
    last column holding each user's count of distinct relevant items, reached or not."""
    users = np.asarray(users, dtype=np.int64)
    scale = int(max(candidates.max(initial=0), np.max(truth_items, initial=0), 0)) + 2
    pairs = np.unique(np.asarray(truth_users, np.int64) * scale
                      + np.asarray(truth_items, np.int64))
    keys = users[:, None] * scale + candidates
    matrix = np.zeros((len(users), candidates.shape[1] + 1))
    matrix[:, :-1] = (candidates >= 0) & np.isin(keys, pairs)
    order = np.argsort(users, kind="stable")
    owners = pairs // scale
    at = np.searchsorted(users[order], owners)
    known = at < len(users)
    known[known] = users[order][at[known]] == owners[known]
    matrix[:, -1] = np.bincount(order[at[known]], minlength=len(users))
    return matrix


def _ranked_gains(truth: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray,
                                                                         np.ndarray]:
    """Per user with relevant items: the relevance of the top ``k`` by score (users x k)
    and the user's count of relevant items."""
    keep = truth[:, -1] > 0
    relevance, scores, counts = truth[keep, :-1], scores[keep], truth[keep, -1]
    k_eff = min(k, scores.shape[1])
    if k_eff == 0:
        return np.zeros((len(counts), k)), counts
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k_eff]
    gains = np.take_along_axis(relevance, order, axis=1)
    gains = np.where(np.isfinite(np.take_along_axis(scores, order, axis=1)), gains, 0.0)
    if k_eff < k:
        gains = np.hstack([gains, np.zeros((len(gains), k - k_eff))])
    return gains, counts


def ndcg(truth: np.ndarray, scores: np.ndarray, k: int) -> float:
    """Mean NDCG@k (binary relevance) over the users with a relevant item."""
    gains, counts = _ranked_gains(truth, scores, k)
    if len(counts) == 0:
        return 0.0
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = gains @ discounts
    ideal = np.cumsum(discounts)[np.minimum(counts, k).astype(int) - 1]
    return float(np.mean(dcg / ideal))


def recall(truth: np.ndarray, scores: np.ndarray, k: int) -> float:
    """Mean share of each user's relevant items found in the top k."""
    gains, counts = _ranked_gains(truth, scores, k)
    return float(np.mean(gains.sum(axis=1) / counts)) if len(counts) else 0.0


def precision(truth: np.ndarray, scores: np.ndarray, k: int) -> float:
    """Mean share of the top k that is relevant."""
    gains, counts = _ranked_gains(truth, scores, k)
    return float(np.mean(gains.sum(axis=1) / k)) if len(counts) else 0.0


def average_precision(truth: np.ndarray, scores: np.ndarray, k: int) -> float:
    """Mean MAP@k: precision at each relevant position of the top k, summed, over
    min(k, relevant items)."""
    gains, counts = _ranked_gains(truth, scores, k)
    if len(counts) == 0:
        return 0.0
    at = np.cumsum(gains, axis=1) / np.arange(1, k + 1)
    return float(np.mean((at * gains).sum(axis=1) / np.minimum(counts, k)))


def hit_rate(truth: np.ndarray, scores: np.ndarray, k: int) -> float:
    """Share of users with at least one relevant item in the top k."""
    gains, counts = _ranked_gains(truth, scores, k)
    return float(np.mean(gains.sum(axis=1) > 0)) if len(counts) else 0.0


def coverage(items: np.ndarray, k: int, n_items: int) -> float:
    """Share of the catalogue that appears in some user's top k."""
    top = items[:, :k]
    return float(len(np.unique(top[top >= 0])) / max(1, n_items))


RANKING_METRICS: dict[str, Callable[[np.ndarray, np.ndarray, int], float]] = {
    "ndcg": ndcg, "recall": recall, "precision": precision, "map": average_precision,
    "hit_rate": hit_rate,
}


def score_lists(tops: Sequence[TopN], truth_users: np.ndarray, truth_items: np.ndarray
                ) -> tuple[np.ndarray, list[np.ndarray]]:
    """The truth matrix and each list's aligned score matrix, ready for the metrics."""
    candidates, matrices = aligned(tops)
    return truth_matrix(tops[0].users, candidates, truth_users, truth_items), matrices


def ranking_report(top: TopN, truth_users: np.ndarray, truth_items: np.ndarray, k: int,
                   n_items: int) -> dict[str, float]:
    """Every ranking metric at ``k`` of one list, plus catalogue coverage."""
    truth, (scores,) = score_lists([top], truth_users, truth_items)
    out = {f"{name}@{k}": fn(truth, scores, k) for name, fn in RANKING_METRICS.items()}
    out[f"coverage@{k}"] = coverage(top.items, k, n_items)
    return out
