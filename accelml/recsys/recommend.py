"""Serving a recommendation model: top-k per user from the blend of its members, similar
items, rating estimates, the reasons behind a recommendation, and evaluation.

The blend is computed as validation chose it: each member's top-N list for the user, its
scores scaled to [0, 1], the lists aligned on their union and summed with the blend's
weights (:func:`accelml.core.ranking.aligned`). Known users' lists are computed once when
the run ends (:func:`precompute`), so answering one of them is a lookup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from accelml.core.budget import Deadline
from accelml.core.learner import get_learner
from accelml.core.ranking import VALIDATION_N, TopN, aligned, rank_users, top_items
from accelml.errors import ConfigError, DataError

if TYPE_CHECKING:
    from accelml.core.predictor import Member, Predictor
    from accelml.recsys.preprocess import RecsysPreprocessor

#: Users scored per pass when precomputing every known user's list.
PRECOMPUTE_CHUNK = 2048


def ranking_members(predictor: Predictor) -> list[Member]:
    """The members that rank (weight above 0 and a ``score_users``)."""
    return [m for m in predictor.members
            if m.weight > 0 and hasattr(get_learner(m.learner), "score_users")]


def blended_top(predictor: Predictor, users: np.ndarray, n: int,
                exclude_seen: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Items (-1 padded) and blended scores of the best ``n`` for known user codes."""
    pre: RecsysPreprocessor = predictor.preprocessor  # type: ignore[assignment]
    members = ranking_members(predictor)
    n_items = len(pre.items)
    seen = pre.history if exclude_seen else None
    if not members:  # the constant fallback: popularity
        scores = np.tile(pre.popularity, (len(users), 1))
        return top_items(scores, None if seen is None else seen[users], n)
    width = max(n, VALIDATION_N)
    tops = [rank_users(lambda block, m=m: get_learner(m.learner).score_users(m.fitted, block),
                       users, seen, width, n_items) for m in members]
    if len(tops) == 1:
        return tops[0].items[:, :n], tops[0].normalized()[:, :n]
    candidates, matrices = aligned(tops)
    total = sum(m.weight for m in members)
    blend = sum(m.weight * matrix for m, matrix in zip(members, matrices, strict=True)) / total
    order = np.argsort(-blend, axis=1, kind="stable")[:, :n]
    items = np.take_along_axis(candidates, order, axis=1)
    scores = np.take_along_axis(blend, order, axis=1)
    items = np.where(np.isfinite(scores), items, -1)
    missing = min(n, n_items) - items.shape[1]  # fewer candidates than asked: pad
    if missing > 0:
        items = np.hstack([items, np.full((len(items), missing), -1, dtype=items.dtype)])
        scores = np.hstack([scores, np.full((len(scores), missing), -np.inf)])
    return items, scores


def precompute(predictor: Predictor, deadline: Deadline, n: int = VALIDATION_N) -> bool:
    """Store every known user's blended top ``n`` in the preprocessor, in chunks, unless
    the deadline passes first (serving then computes them per request)."""
    pre: RecsysPreprocessor = predictor.preprocessor  # type: ignore[assignment]
    n_users = len(pre.users)
    items_parts, score_parts = [], []
    for start in range(0, n_users, PRECOMPUTE_CHUNK):
        if deadline.remaining() <= 0:
            return False
        users = np.arange(start, min(n_users, start + PRECOMPUTE_CHUNK))
        items, scores = blended_top(predictor, users, n)
        items_parts.append(items)
        score_parts.append(scores)
    pre.top_items = np.vstack(items_parts).astype(np.int32)
    pre.top_scores = np.vstack(score_parts).astype(np.float32)
    return True


def popular(pre: RecsysPreprocessor, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most popular items and their popularity scaled to [0, 1] (what a user the
    model has never seen gets)."""
    (items,), (scores,) = top_items(pre.popularity[None, :], None, k)
    return items, scores / max(1.0, float(pre.popularity.max()))


def check_k(k: int, n_items: int) -> int:
    """``k`` as a positive count, at most the catalogue (more is said, not an error)."""
    if not isinstance(k, int | np.integer) or k < 1:
        raise ConfigError(f"k must be a positive whole number of items, got {k!r}")
    return int(min(k, n_items))


def recommend(predictor: Predictor, users: Sequence[Any], k: int,
              exclude_seen: bool = True) -> pd.DataFrame:
    """The top ``k`` of each user: a long frame with the user and item columns, ``rank``,
    ``score`` and ``fallback`` (True for a user the model has never seen, who gets the most
    popular items). ``k`` above the catalogue size gives the whole catalogue."""
    pre: RecsysPreprocessor = predictor.preprocessor  # type: ignore[assignment]
    if len(users) == 0:
        raise DataError("no users to recommend for")
    codes = pre.user_codes(users)
    items, scores = top_codes(predictor, codes, k, exclude_seen)
    return _frame(pre, users, items, scores, codes < 0)


def top_codes(predictor: Predictor, codes: np.ndarray, k: int,
              exclude_seen: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Item codes (-1 padded) and scores of the top ``k`` for user codes (-1: unknown,
    given the most popular items): the precomputed lists where they reach ``k``, else the
    blend computed now."""
    pre: RecsysPreprocessor = predictor.preprocessor  # type: ignore[assignment]
    k = check_k(k, len(pre.items))
    known = codes >= 0
    lists = pre.top_items is not None and exclude_seen and k <= pre.top_items.shape[1]
    if lists and known.all():  # the common case, a lookup: no copy into padded arrays
        return pre.top_items[codes, :k], pre.top_scores[codes, :k]  # type: ignore
    items = np.full((len(codes), k), -1, dtype=np.int64)
    scores = np.full((len(codes), k), -np.inf)
    if known.any():
        if lists:
            items[known] = pre.top_items[codes[known], :k]  # type: ignore[index]
            scores[known] = pre.top_scores[codes[known], :k]  # type: ignore[index]
        else:
            items[known], scores[known] = blended_top(predictor, codes[known], k,
                                                      exclude_seen)
    if (~known).any():
        best, weight = popular(pre, k)
        items[~known, :len(best)], scores[~known, :len(best)] = best, weight
    return items, scores


def _frame(pre: RecsysPreprocessor, users: Sequence[Any], items: np.ndarray,
           scores: np.ndarray, fallback: np.ndarray) -> pd.DataFrame:
    rows, ranks = np.nonzero(items >= 0)
    labels = np.asarray(pre.items, dtype=object)
    user_labels = np.asarray(list(users), dtype=object)
    return pd.DataFrame({
        pre.columns.user: user_labels[rows],
        pre.columns.item: labels[items[rows, ranks]],
        "rank": ranks + 1,
        "score": scores[rows, ranks].astype(np.float64),
        "fallback": fallback[rows],
    })


def similar_items(predictor: Predictor, items: Sequence[Any], k: int) -> pd.DataFrame:
    """The ``k`` items most like each item, from the first member that knows item
    similarity (neighbourhoods, EASE, factors): one row per (item, similar item) with
    ``rank`` and ``score``. An unknown item is an error naming it."""
    pre: RecsysPreprocessor = predictor.preprocessor  # type: ignore[assignment]
    k = check_k(k, len(pre.items) - 1)
    codes = pre.item_codes(items)
    if (codes < 0).any():
        unknown = [item for item, code in zip(items, codes, strict=True) if code < 0]
        raise DataError(f"unknown item(s) {unknown[:5]}: the model has no interaction with "
                        "them, so it cannot tell which items they resemble")
    member = next((m for m in predictor.members
                   if hasattr(get_learner(m.learner), "similar_items")), None)
    if member is None:
        raise ConfigError("none of this model's members knows item similarity (popularity "
                          "only); train with item_knn, ease or als among the learners")
    found, scores = get_learner(member.learner).similar_items(member.fitted, codes, k)
    labels = np.asarray(pre.items, dtype=object)
    rows, ranks = np.nonzero(np.asarray(found) >= 0)
    return pd.DataFrame({"item": np.asarray(list(items), dtype=object)[rows],
                         "similar_item": labels[np.asarray(found)[rows, ranks]],
                         "rank": ranks + 1,
                         "score": np.asarray(scores, dtype=np.float64)[rows, ranks],
                         "learner": member.learner})


def reasons(predictor: Predictor, user: Any, items: Sequence[Any], top: int = 3
            ) -> list[list[dict[str, Any]]]:
    """For each item recommended to ``user``, the user's own items that led to it most,
    from the first member that can tell (neighbourhoods, EASE); empty lists otherwise."""
    pre: RecsysPreprocessor = predictor.preprocessor  # type: ignore[assignment]
    (code,) = pre.user_codes([user])
    member = next((m for m in predictor.members if m.weight > 0
                   and hasattr(get_learner(m.learner), "reasons")), None)
    if code < 0 or member is None:
        return [[] for _ in items]
    found = get_learner(member.learner).reasons(member.fitted, int(code),
                                                pre.item_codes(items), top)
    labels = pre.items
    return [[{"item": labels[int(i)], "weight": round(float(w), 6)} for i, w in pairs]
            for pairs in found]


def predict_ratings(predictor: Predictor, data: pd.DataFrame) -> np.ndarray:
    """Rating estimates of (user, item) rows from the members that predict ratings (the
    blend's, else the rating model kept beside it); a row with an unknown user or item
    gets the training ratings' mean."""
    pre: RecsysPreprocessor = predictor.preprocessor  # type: ignore[assignment]
    members = [m for m in predictor.members if m.fitted.info.get("predicts_ratings")]
    if not pre.explicit or not members:
        raise ConfigError("this model was trained on implicit feedback (no ratings), so it "
                          "ranks items but does not predict ratings: use recommend")
    features = pre.transform(data)
    X = np.array(features.X)
    known = (X[:, 0] >= 0) & (X[:, 1] >= 0)
    low, high = pre.rating_range or (-np.inf, np.inf)
    out = np.full(len(X), np.nan)
    weights = np.array([m.weight if m.weight > 0 else 1.0 for m in members])
    if known.any():
        part = features.take(np.nonzero(known)[0])
        values = [get_learner(m.learner).predict(m.fitted, part) for m in members]
        out[known] = np.average(np.vstack(values), axis=0, weights=weights)
    out[~known] = pre.mean_rating
    return np.clip(out, low, high)


def evaluate(predictor: Predictor, data: pd.DataFrame, k: int = 10,
             relevant_min: float | None = None) -> dict[str, Any]:
    """Full-ranking metrics at ``k`` on held-out interactions (every item a user has not
    seen in training is ranked; relevant = the user's held-out items, or those rated at
    least ``relevant_min``), RMSE and MAE of the ratings for explicit models, and how many
    users and items the model had never seen (cold users get the popularity fallback; cold
    items count as relevant and can never be found)."""
    from accelml.core.ranking import ranking_report

    pre: RecsysPreprocessor = predictor.preprocessor  # type: ignore[assignment]
    user_col, item_col, rating_col = pre.columns.user, pre.columns.item, pre.columns.rating
    for name in (user_col, item_col):
        if name not in data.columns:
            raise DataError(f"the held-out interactions lack the column {name!r}; they need "
                            f"{user_col!r} and {item_col!r}")
    data = data[data[user_col].notna() & data[item_col].notna()]
    relevant = data
    if relevant_min is not None:
        if rating_col is None or rating_col not in data.columns:
            raise DataError("a relevance floor needs the rating column in the held-out data")
        relevant = data[data[rating_col] >= relevant_min]
    if relevant.empty:
        raise DataError("no held-out interaction counts as relevant; nothing to evaluate")
    users, row_of_relevant = np.unique(relevant[user_col].map(pre._key).to_numpy(),
                                       return_inverse=True)
    user_codes = pre.user_codes(users)
    items, scores = top_codes(predictor, user_codes, max(k, 1))
    codes = _pseudo_codes(user_codes)
    item_codes = pre.item_codes(relevant[item_col])
    report: dict[str, Any] = ranking_report(
        TopN(codes, items, scores), codes[row_of_relevant],
        _pseudo_codes(item_codes, len(pre.items)), k, len(pre.items))
    report["users"] = len(users)
    report["cold_users"] = int((user_codes < 0).sum())
    report["cold_item_rows"] = int((item_codes < 0).sum())
    if pre.explicit and rating_col in data.columns and _rates(predictor):
        truth = data[rating_col].to_numpy(np.float64)
        report["rmse"], report["mae"] = rating_errors(predict_ratings(predictor, data), truth)
    return report


def rating_errors(estimate: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """RMSE and MAE of rating estimates."""
    error = np.asarray(estimate, np.float64) - np.asarray(truth, np.float64)
    return float(np.sqrt(np.mean(error ** 2))), float(np.mean(np.abs(error)))


def _rates(predictor: Predictor) -> bool:
    return any(m.fitted.info.get("predicts_ratings") for m in predictor.members)


def _pseudo_codes(codes: np.ndarray, start: int | None = None) -> np.ndarray:
    """Codes with each unknown (-1) replaced by a fresh code past the known ones (users:
    past the largest known code), so they count in the metrics without matching anything."""
    codes = codes.copy()
    unknown = codes < 0
    base = (int(codes.max(initial=-1)) + 1 if start is None else start) + 1_000_000_000
    codes[unknown] = base + np.arange(int(unknown.sum()))
    return codes
